/**
 * The terminal renderer: finished work scrolls up as permanent lines; below it a live area,
 * redrawn at most ten times a second, holds each running RUN step with a window of its last
 * output lines and its elapsed time, and each transfer's bar named by target and short digest.
 * A step's window collapses into one `DONE 3.2s` line when it ends; a bar ends as a line at 100%.
 * Live lines are cut to the terminal width (or the cursor arithmetic breaks); permanent lines
 * are never cut, so a digest is never truncated.
 * @module
 */
import type { BuildEvent } from '../index.ts';
import type { CommandIO } from './util.ts';
import { cachedStepLines, describeEvent, describeStep, humanBytes, shortDigest, type ProgressOptions, type ProgressReporter } from './progress.ts';
import type { StepsView, StepView } from './steps-view.ts';

/** Lines of output shown per running step. */
const WINDOW = 6;
const BAR = 24;

interface Transfer {
  label: string;
  bytes: number;
  total: number;
}

/** Creates the TTY renderer over `stream`. */
export function createTtyProgress(view: StepsView, io: CommandIO, stream: NodeJS.WritableStream, options: ProgressOptions): ProgressReporter {
  const running = new Map<string, { step: StepView; window: string[] }>();
  const transfers = new Map<string, Transfer>();
  const failed: string[] = [];
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Under `script` or some CI terminals the width is 0: fall back to COLUMNS, then 80.
  const columns = (): number => Math.max(20, (stream as { columns?: number }).columns || Number(process.env.COLUMNS) || 80);
  const fit = (line: string): string => (line.length >= columns() ? `${line.slice(0, columns() - 2)}…` : line);
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

  const bar = (t: Transfer): string => {
    const ratio = t.total > 0 ? Math.min(1, t.bytes / t.total) : 1;
    const full = Math.round(ratio * BAR);
    return `[${'='.repeat(full)}${' '.repeat(BAR - full)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${humanBytes(t.bytes)}/${humanBytes(t.total)}`;
  };

  const area = (): string[] => {
    const lines: string[] = [];
    for (const { step, window } of running.values()) {
      lines.push(fit(`#${step.number} ${step.name}  ${seconds(Date.now() - step.started)}`));
      for (const l of window) lines.push(fit(`#${step.number} ${l}`));
    }
    for (const t of transfers.values()) lines.push(fit(`${t.label} ${bar(t)}`));
    return lines;
  };

  const clear = (): string => (drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : '');
  let hidden = false;
  const draw = (permanent: string[] = []): void => {
    if (stopped) return;
    const live = area();
    // The cursor is hidden while the live area is redrawn (as buildx does); done() and the
    // interrupt handler show it again.
    const hide = !hidden && live.length > 0 ? '\x1b[?25l' : '';
    if (hide) hidden = true;
    stream.write(hide + clear() + permanent.map((l) => `${l}\n`).join('') + live.map((l) => `${l}\n`).join(''));
    drawn = live.length;
  };
  const schedule = (): void => {
    timer ??= setTimeout(() => {
      timer = undefined;
      draw();
    }, 100);
  };
  // Keep the elapsed time of a quiet step moving.
  const ticker = setInterval(() => running.size > 0 && draw(), 1000);
  ticker.unref();

  return {
    onEvent(event: BuildEvent) {
      const { step, lines } = view.apply(event);
      if (event.type === 'step-start' && step) {
        running.set(event.step, { step, window: [] });
        draw();
        return;
      }
      if (event.type === 'log' && step) {
        const entry = running.get(event.step);
        if (entry && lines?.length) {
          entry.window.push(...lines);
          entry.window.splice(0, Math.max(0, entry.window.length - WINDOW));
          schedule();
        }
        return;
      }
      if (event.type === 'step-end' && step) {
        running.delete(event.step);
        if (step.failed) failed.push(...view.failureBlock(step));
        const outcome = step.failed ? 'ERROR' : event.cached ? 'CACHED' : 'DONE';
        draw([`#${step.number} ${step.name}  ${outcome} ${seconds(step.durationMs ?? 0)}`]);
        return;
      }
      if (event.type === 'copy') {
        const e = event.event;
        const key = `${event.target} ${e.digest}`;
        if (e.type === 'blob-progress') {
          const t = transfers.get(key) ?? { label: `push ${event.target} ${shortDigest(e.digest)}`, bytes: 0, total: e.total ?? 0 };
          t.bytes = e.bytes ?? t.bytes;
          t.total = e.total ?? t.total;
          transfers.set(key, t);
          schedule();
          return;
        }
        if (e.type === 'blob-done') {
          const total = e.total ?? e.bytes ?? transfers.get(key)?.total ?? 0;
          transfers.delete(key);
          // A finished upload is shown at 100% whatever the last progress event said.
          draw([`push ${event.target} ${shortDigest(e.digest)} ${bar({ label: '', bytes: total, total })} done`]);
          return;
        }
        if (e.type === 'blob-mounted' || e.type === 'blob-skipped') transfers.delete(key);
      }
      if (event.type === 'download') {
        const key = `pull ${event.image} ${event.digest}`;
        const label = `pull ${event.image} ${shortDigest(event.digest)}`;
        if (event.phase === 'done') {
          transfers.delete(key);
          // A finished download is shown at 100%, as an upload is.
          draw([`${label} ${bar({ label: '', bytes: event.total, total: event.total })} done`]);
          return;
        }
        transfers.set(key, { label, bytes: event.bytes, total: event.total });
        schedule();
        return;
      }
      if (event.type === 'step' && event.status === 'hit') {
        // One line, as a finished step: `#4 [2/5] RUN npm ci  CACHED (local)`.
        const [name, outcome] = cachedStepLines(view.number(), event);
        draw([`${name}  ${outcome.slice(outcome.indexOf(' ') + 1)}`]);
        return;
      }
      const line = event.type === 'step' ? describeStep(event, options.verbose ?? false) : describeEvent(event);
      if (line !== undefined) draw([line]);
    },
    done(buildFailed) {
      if (timer) clearTimeout(timer);
      clearInterval(ticker);
      // After a failure the live area stays as it was (what was running when it stopped); after
      // a success it is empty anyway. The cursor comes back before the last lines, so whatever
      // the command prints next starts on a fresh line.
      const last = buildFailed ? area() : [];
      running.clear();
      transfers.clear();
      const tail = [...last, ...failed, ...(!buildFailed && options.summary !== false ? view.summary() : [])];
      stream.write(clear() + (hidden ? '\x1b[?25h' : '') + tail.map((l) => `${l}\n`).join(''));
      drawn = 0;
      stopped = true;
      void io;
    },
  };
}
