/**
 * What every renderer knows about build steps: BuildKit-style `#N` numbers, each RUN step's
 * output kept (up to a cap) so a failure can show all of it, and the end-of-build summary.
 * @module
 */
import type { BuildEvent } from '../index.ts';

/** BuildKit's default cap of one step's kept log (`BUILDKIT_STEP_LOG_MAX_SIZE`): 2 MiB. */
export const DEFAULT_STEP_LOG_MAX = 2 * 1024 * 1024;

/** The per-step log cap: `OCIBUILD_STEP_LOG_MAX_SIZE` bytes (`-1` no cap), else 2 MiB. */
export function stepLogMaxFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.OCIBUILD_STEP_LOG_MAX_SIZE;
  if (text === undefined || text === '') return DEFAULT_STEP_LOG_MAX;
  if (text === '-1') return Number.POSITIVE_INFINITY;
  return /^\d+$/.test(text) ? Number(text) : DEFAULT_STEP_LOG_MAX;
}

/** One step as the renderers see it. */
export interface StepView {
  /** `#N` as printed. */
  number: number;
  /** `[2/5] RUN npm ci`. */
  name: string;
  /** When it started (ms since epoch). */
  started: number;
  /** Kept output (both streams, in arrival order), at most the cap. */
  output: string;
  /** Bytes dropped past the cap. */
  dropped: number;
  /** Unfinished last line per stream, for line-oriented renderers. */
  partial: { stdout: string; stderr: string };
  /** Set at the end. */
  durationMs?: number;
  /** Set at the end: failed (non-zero exit or sandbox error). */
  failed?: boolean;
  /** Why it failed, with the command. */
  failure?: string;
}

/** A row of the summary. */
interface SummaryRow {
  name: string;
  status: 'ran' | 'cached' | 'built' | 'failed';
  /** The step's own text (for matching `layer-built` events to it). */
  text?: string;
  durationMs?: number;
}

/** Tracks steps from events; shared by the plain, tty and quiet renderers. */
export class StepsView {
  readonly steps = new Map<string, StepView>();
  readonly rows: SummaryRow[] = [];
  readonly pushed: { target: string; digest: string }[] = [];
  #next = 1;
  #started = Date.now();
  #total: number | undefined;

  constructor(readonly logMax: number = DEFAULT_STEP_LOG_MAX) {}

  /** Takes a number for anything else worth a `#N` (a resolved base). */
  number(): number {
    return this.#next++;
  }

  /**
   * Applies an event. For `log` it returns the complete lines it finished (without the newline),
   * so a line renderer prints whole lines only.
   */
  apply(event: BuildEvent): { step?: StepView; lines?: string[] } {
    switch (event.type) {
      case 'step-start': {
        const view: StepView = { number: this.#next++, name: event.name, started: Date.now(), output: '', dropped: 0, partial: { stdout: '', stderr: '' } };
        this.steps.set(event.step, view);
        return { step: view };
      }
      case 'log': {
        const view = this.steps.get(event.step);
        if (view === undefined) return {};
        const room = this.logMax - view.output.length;
        if (room >= event.data.length) view.output += event.data;
        else {
          view.output += event.data.slice(0, Math.max(0, room));
          view.dropped += event.data.length - Math.max(0, room);
        }
        const text = view.partial[event.stream] + event.data;
        const parts = text.split(/\r?\n/);
        view.partial[event.stream] = parts.pop() ?? '';
        return { step: view, lines: parts };
      }
      case 'step-end': {
        const view = this.steps.get(event.step);
        if (view === undefined) return {};
        view.durationMs = event.durationMs;
        const lines = [view.partial.stdout, view.partial.stderr].filter((l) => l !== '');
        view.partial = { stdout: '', stderr: '' };
        if (event.error !== undefined || (event.exitCode !== undefined && event.exitCode !== 0)) {
          view.failed = true;
          view.failure = event.error ?? `process ${JSON.stringify(event.command?.join(' ') ?? '')} did not complete successfully: exit code: ${event.exitCode}`;
        }
        this.rows.push({ name: `#${view.number} ${view.name}`, status: view.failed ? 'failed' : event.cached ? 'cached' : 'ran', durationMs: event.durationMs, text: view.name.replace(/^\[[^\]]*\] /, '') });
        return { step: view, lines };
      }
      case 'step':
        if (event.status === 'hit') this.rows.push({ name: event.name ?? event.instruction, status: 'cached', text: event.instruction });
        return {};
      case 'layer-built':
        // RUN layers are already rows (from step-end); cached layers are rows from `step` hits when the step cache is on.
        if (!/^RUN\b/.test(event.createdBy) && !event.createdBy.includes('/bin/sh -c') && !this.rows.some((r) => r.text === event.createdBy)) {
          this.rows.push({ name: event.createdBy, status: event.cached ? 'cached' : 'built' });
        }
        return {};
      case 'target-done':
        this.pushed.push({ target: event.target, digest: event.digest });
        return {};
      case 'done':
        this.#total = event.durationMs;
        return {};
      default:
        return {};
    }
  }

  /** The failure block of a failed step: its output (all of it, or only the last `tail` lines) and the command. */
  failureBlock(view: StepView, tail?: number): string[] {
    let lines = view.output.replace(/\n$/, '').split('\n');
    const shortened = tail !== undefined && lines.length > tail;
    if (shortened) lines = lines.slice(-tail);
    return [
      '------',
      ` > ${view.name}:`,
      ...(view.dropped > 0 ? [`[output clipped: ${view.dropped} bytes past the ${this.logMax}-byte cap (OCIBUILD_STEP_LOG_MAX_SIZE)]`] : []),
      ...(shortened ? [`[last ${tail} lines; the whole output is above]`] : []),
      ...(view.output === '' ? [] : lines),
      '------',
      `ERROR: ${view.name}: ${view.failure ?? 'failed'}`,
    ];
  }

  /** Summary lines: each step with cached/ran and time, total time, digests per target. */
  summary(): string[] {
    if (this.rows.length === 0 && this.pushed.length === 0) return [];
    const width = Math.min(60, Math.max(0, ...this.rows.map((r) => r.name.length)));
    const clip = (s: string) => (s.length > 60 ? `${s.slice(0, 59)}…` : s);
    const out = ['Summary:'];
    for (const row of this.rows) {
      const time = row.durationMs !== undefined ? ` ${(row.durationMs / 1000).toFixed(1)}s` : '';
      out.push(`  ${clip(row.name).padEnd(width)}  ${row.status.toUpperCase()}${time}`);
    }
    out.push(`  total ${(((this.#total ?? Date.now() - this.#started)) / 1000).toFixed(1)}s`);
    for (const p of this.pushed) out.push(`  ${p.target} ${p.digest}`);
    return out;
  }
}
