/**
 * A build's step totals, apart from the step cache so that builds without steps need not load it.
 * @module
 */
import type { StepReport } from './steps.ts';

/** Step totals of a build. */
export interface StepTotals {
  /** Layer steps taken from a cache. */
  stepsCached: number;
  /** Layer steps run (misses and uncacheable ones). */
  stepsRun: number;
  /** Hits from the registry cache repo. */
  stepsFromRegistry: number;
}

/** Sums reports into totals. */
export function stepTotals(reports: readonly StepReport[]): StepTotals {
  return {
    stepsCached: reports.filter((r) => r.status === 'hit').length,
    stepsRun: reports.filter((r) => r.status !== 'hit').length,
    stepsFromRegistry: reports.filter((r) => r.source === 'registry').length,
  };
}
