/**
 * Build progress for the terminal: per-blob upload bars on a TTY (cli-progress), plain lines
 * otherwise, one JSON object per line with `--json`, nothing with `--quiet`.
 * @module
 */
import cliProgress from 'cli-progress';
import type { BuildEvent } from '../index.ts';
import type { CommandIO } from './util.ts';

/** How progress is shown. */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** A progress sink plus a `done()` that stops the bars. */
export interface ProgressReporter {
  /** Receives build events. */
  onEvent: (event: BuildEvent) => void;
  /** Stops drawing (call once, also after a failure). */
  done: () => void;
}

/** Picks the mode from flags and the terminal. */
export function progressMode(values: Record<string, unknown>, io: CommandIO): ProgressMode {
  if (values.quiet) return 'quiet';
  if (values.json) return 'json';
  return io.isTTY ? 'tty' : 'plain';
}

/** `1.2 MiB` style sizes. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const short = (digest: string): string => digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);

/** One line of text for an event, or undefined for events plain mode does not show. */
export function describeEvent(event: BuildEvent): string | undefined {
  switch (event.type) {
    case 'resolve':
      return `base ${event.from} (${event.platform})${event.digest ? ` ${event.digest}` : ''}`;
    case 'layer-built':
      return `layer ${short(event.digest)} ${humanBytes(event.size)} ${event.cached ? 'cached' : 'built'}  ${event.createdBy}`;
    case 'copy': {
      const e = event.event;
      if (e.type === 'blob-done') return `pushed ${short(e.digest)} ${humanBytes(e.bytes ?? 0)} to ${event.target}`;
      if (e.type === 'blob-mounted') return `mounted ${short(e.digest)} in ${event.target}`;
      if (e.type === 'blob-skipped') return `exists ${short(e.digest)} in ${event.target}`;
      if (e.type === 'manifest-pushed') return `manifest ${e.digest}${e.reference ? ` as ${e.reference}` : ''} to ${event.target}`;
      return undefined;
    }
    case 'manifest-skipped':
      return `unchanged ${event.target} (already ${event.digest})`;
    case 'target-done':
      return `wrote ${event.target} ${event.digest}`;
    case 'done':
      return `done in ${(event.durationMs / 1000).toFixed(2)} s`;
    default:
      return undefined;
  }
}

/** Creates the reporter for `mode`; TTY bars are drawn on `stream` (default stderr). */
export function createProgress(mode: ProgressMode, io: CommandIO, stream: NodeJS.WritableStream = process.stderr): ProgressReporter {
  if (mode === 'quiet') return { onEvent: () => {}, done: () => {} };
  if (mode === 'json') return { onEvent: (event) => io.err(JSON.stringify(event)), done: () => {} };
  if (mode === 'plain') {
    return {
      onEvent: (event) => {
        const line = describeEvent(event);
        if (line !== undefined) io.err(line);
      },
      done: () => {},
    };
  }
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: ' {name} [{bar}] {percentage}% {done}/{size}',
      barsize: 24,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  const bar = (key: string, name: string, total: number): cliProgress.SingleBar => {
    let b = bars.get(key);
    if (b === undefined) {
      b = multibar.create(Math.max(total, 1), 0, { name, done: humanBytes(0), size: humanBytes(total) });
      bars.set(key, b);
    }
    return b;
  };
  return {
    onEvent(event) {
      if (event.type === 'copy') {
        const e = event.event;
        const key = `${event.target} ${e.digest}`;
        const name = `${short(e.digest)}`;
        const total = e.total ?? 0;
        if (e.type === 'blob-progress') {
          bar(key, name, total).update(e.bytes ?? 0, { done: humanBytes(e.bytes ?? 0) });
          return;
        }
        if (e.type === 'blob-done' || e.type === 'blob-mounted' || e.type === 'blob-skipped') {
          const label = e.type === 'blob-done' ? 'pushed' : e.type === 'blob-mounted' ? 'mounted' : 'exists';
          bar(key, name, total).update(Math.max(total, 1), { done: label });
          return;
        }
      }
      const line = describeEvent(event);
      if (line === undefined) return;
      multibar.log(`${line}\n`);
      // The log buffer is written on the next redraw; force one so lines appear in order.
      multibar.update();
    },
    done() {
      multibar.update();
      multibar.stop();
    },
  };
}
