/**
 * Build progress for the terminal, one renderer for every command, fed by the library's events.
 * Modes as BuildKit's `--progress`: `tty` (a live window per step, bars), `plain` (one line per
 * event, RUN output prefixed `#N 0.512`), `json` (one event per line, transfer progress at most
 * ten per second per blob), `quiet` (nothing, except a failed step's output and
 * registry warnings); `auto` is tty on a
 * terminal, plain otherwise.
 * @module
 */
import type { BuildEvent } from '../index.ts';
import { UsageError, type CommandIO } from './util.ts';
import { StepsView, stepLogMaxFromEnv } from './steps-view.ts';
import { createTtyProgress } from './render-tty.ts';

/** How progress is shown. */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** A progress sink plus a `done()` that stops drawing and prints the summary. */
export interface ProgressReporter {
  /** Receives build events. */
  onEvent: (event: BuildEvent) => void;
  /** Stops drawing (call once, also after a failure: pass `failed` then). */
  done: (failed?: boolean) => void;
}

/** Help lines of the progress flags. */
export const PROGRESS_HELP = `  --progress MODE          auto (default), tty, plain, json or quiet; env OCIBUILD_PROGRESS
  --json                   same as --progress json
  -q, --quiet              same as --progress quiet`;

/** parseArgs options for progress. */
export const progressFlags = {
  progress: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const MODES = ['auto', 'tty', 'plain', 'json', 'quiet'] as const;

/** Picks the mode: `--quiet`, `--json`, `--progress`, `OCIBUILD_PROGRESS`, then the terminal. */
export function progressMode(values: Record<string, unknown>, io: CommandIO, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (values.quiet) return 'quiet';
  if (values.json) return 'json';
  const flag = typeof values.progress === 'string' ? values.progress : undefined;
  const chosen = flag ?? env.OCIBUILD_PROGRESS ?? 'auto';
  if (!(MODES as readonly string[]).includes(chosen)) {
    throw new UsageError(`${flag !== undefined ? '--progress' : 'OCIBUILD_PROGRESS'} must be one of ${MODES.join(', ')}, got ${JSON.stringify(chosen)}`);
  }
  if (chosen === 'auto') return io.isTTY ? 'tty' : 'plain';
  return chosen as ProgressMode;
}

/** `1.2 MiB` style sizes. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The 12 hex digits Docker shows for a digest: always whole, never cut by the terminal. */
export const shortDigest = (digest: string): string => digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);

/** One line of text for an event, or undefined for events plain mode does not show this way. */
export function describeEvent(event: BuildEvent): string | undefined {
  switch (event.type) {
    case 'resolve':
      return `base ${event.from} (${event.platform})${event.digest ? ` ${event.digest}` : ''}`;
    case 'layer-built':
      return `layer ${shortDigest(event.digest)} ${humanBytes(event.size)} ${event.cached ? 'cached' : 'built'}  ${event.createdBy}`;
    case 'copy': {
      const e = event.event;
      if (e.type === 'blob-done') return `pushed ${shortDigest(e.digest)} ${humanBytes(e.bytes ?? 0)} to ${event.target}`;
      if (e.type === 'blob-mounted') return `mounted ${shortDigest(e.digest)} in ${event.target}`;
      if (e.type === 'blob-skipped') return `exists ${shortDigest(e.digest)} in ${event.target}`;
      if (e.type === 'manifest-pushed') return `manifest ${e.digest}${e.reference ? ` as ${e.reference}` : ''} to ${event.target}`;
      return undefined;
    }
    case 'manifest-skipped':
      return `unchanged ${event.target} (already ${event.digest})`;
    case 'target-done':
      return `wrote ${event.target} ${event.digest}`;
    case 'download':
      // Plain mode shows a download's start and end; bars (tty) and rate-limited events (json) show its progress.
      if (event.phase === 'progress') return undefined;
      return `pull ${event.image} ${shortDigest(event.digest)} ${humanBytes(event.total)}${event.phase === 'done' ? ' done' : ''}`;
    case 'registry-warning':
      return `warning: ${event.image}: ${event.message}`;
    case 'cache-warning':
    case 'target-warning':
    case 'base-warning':
      return `warning: ${event.message}`;
    case 'dockerfile-warning':
      return `warning: ${event.file}:${event.line}: ${event.message} (${event.rule})`;
    case 'done':
      return `done in ${(event.durationMs / 1000).toFixed(2)} s`;
    default:
      return undefined;
  }
}

/**
 * A step's cache outcome. A miss with nothing to explain (a cold cache) and steps that cannot be
 * cached are shown only when `verbose`, so a first build does not list every step as a miss.
 */
export function describeStep(event: Extract<BuildEvent, { type: 'step' }>, verbose: boolean): string | undefined {
  const unexplained = event.status === 'uncached' || event.reason === undefined || event.reason === 'no record for key';
  if (event.status !== 'hit' && unexplained && !verbose) return undefined;
  const why = event.status === 'hit' ? `(${event.source})` : event.reason ? `(${event.reason})` : '';
  return `step ${event.status} ${why}: ${event.instruction}`;
}

/**
 * A step cache hit as BuildKit's plain mode shows one: `#N [2/5] RUN npm ci`, then `#N CACHED`,
 * with where the hit came from: `#N CACHED (local)`, `#N CACHED (registry)`.
 */
export function cachedStepLines(number: number, event: Extract<BuildEvent, { type: 'step' }>): [string, string] {
  return [`#${number} ${event.name ?? event.instruction}`, `#${number} CACHED${event.source ? ` (${event.source})` : ''}`];
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Also show cache misses of a cold cache and uncachable steps. */
  verbose?: boolean;
  /** Bytes of one step's output kept for its failure report (default `OCIBUILD_STEP_LOG_MAX_SIZE`, else 2 MiB). */
  stepLogMax?: number;
  /** Print the step summary at the end (default true; the JSON mode never does). */
  summary?: boolean;
}

/** Creates the reporter for `mode`; TTY output is drawn on `stream` (default stderr). */
export function createProgress(mode: ProgressMode, io: CommandIO, stream: NodeJS.WritableStream = process.stderr, options: ProgressOptions = {}): ProgressReporter {
  if (mode === 'json') return jsonProgress(io);
  const view = new StepsView(options.stepLogMax ?? stepLogMaxFromEnv());
  if (mode === 'tty') return createTtyProgress(view, io, stream, options);
  return plainProgress(view, io, mode, options);
}

/** JSON lines; `blob-progress` and download `progress` at most every 100 ms per blob (start and end always pass). */
function jsonProgress(io: CommandIO): ProgressReporter {
  const last = new Map<string, number>();
  const tooSoon = (key: string, final: boolean): boolean => {
    const now = Date.now();
    const previous = last.get(key);
    if (previous !== undefined && now - previous < 100 && !final) return true;
    last.set(key, now);
    return false;
  };
  return {
    onEvent(event) {
      if (event.type === 'copy' && event.event.type === 'blob-progress') {
        const final = event.event.total !== undefined && event.event.bytes === event.event.total;
        if (tooSoon(`push ${event.target} ${event.event.digest}`, final)) return;
      }
      if (event.type === 'download' && event.phase === 'progress' && tooSoon(`pull ${event.image} ${event.digest}`, false)) return;
      io.err(JSON.stringify(event));
    },
    done: () => {},
  };
}

/** BuildKit's plain mode: `#7 [2/5] RUN npm ci`, `#7 0.512 added 120 packages`, `#7 DONE 3.2s`. */
function plainProgress(view: StepsView, io: CommandIO, mode: 'plain' | 'quiet', options: ProgressOptions): ProgressReporter {
  const quiet = mode === 'quiet';
  const failed: string[] = [];
  return {
    onEvent(event) {
      const { step, lines } = view.apply(event);
      if (event.type === 'step-end' && step?.failed) failed.push(...view.failureBlock(step, quiet ? undefined : 10));
      // A failing mirror is worth knowing about even in quiet mode (the pull went on elsewhere).
      // So is a base of another platform than the one built (the image may not start there).
      if (quiet && (event.type === 'registry-warning' || event.type === 'base-warning')) io.err(describeEvent(event) ?? event.message);
      if (quiet) return;
      if (step !== undefined) {
        const at = ((Date.now() - step.started) / 1000).toFixed(3);
        if (event.type === 'step-start') io.err(`#${step.number} ${step.name}`);
        for (const line of lines ?? []) io.err(`#${step.number} ${at} ${line}`);
        if (event.type === 'step-end') {
          io.err(step.failed ? `#${step.number} ERROR: ${step.failure}` : event.cached ? `#${step.number} CACHED` : `#${step.number} DONE ${((step.durationMs ?? 0) / 1000).toFixed(1)}s`);
        }
        return;
      }
      if (event.type === 'step' && event.status === 'hit') {
        for (const line of cachedStepLines(view.number(), event)) io.err(line);
        return;
      }
      const line = event.type === 'step' ? describeStep(event, options.verbose ?? false) : describeEvent(event);
      if (line !== undefined) io.err(line);
    },
    done(buildFailed) {
      for (const line of failed) io.err(line);
      if (!quiet && !buildFailed && options.summary !== false) for (const line of view.summary()) io.err(line);
    },
  };
}
