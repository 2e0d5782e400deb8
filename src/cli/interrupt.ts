/**
 * SIGINT/SIGTERM for the CLI: the first one aborts the running command through an
 * `AbortSignal` (the API then removes its temp files, staging folders and partial tarballs and
 * cancels uploads); a second one, or a command that does not stop within the grace period,
 * exits at once with 130. The terminal cursor is shown again on the way out in every case
 * (progress bars hide it).
 * @module
 */

/** How long a command may take to clean up after the first signal before the process exits anyway. */
export const INTERRUPT_GRACE_MS = 10_000;

/** The abort signal and the `dispose()` that removes the handlers. */
export interface InterruptWatch {
  /** Aborted (with an `ERR_ABORTED`-style reason) on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Removes the signal handlers (after the command has finished). */
  dispose(): void;
}

const SHOW_CURSOR = '\u001b[?25h';

/** Installs the SIGINT/SIGTERM handlers; `terminal` is where the cursor is restored when it is a TTY. */
export function watchInterrupts(terminal: NodeJS.WriteStream): InterruptWatch {
  const controller = new AbortController();
  const restoreCursor = (): void => {
    if (terminal.isTTY) terminal.write(SHOW_CURSOR);
  };
  const leaveNow = (): never => {
    restoreCursor();
    process.stderr.write('interrupted\n');
    process.exit(130);
  };
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) leaveNow();
    controller.abort(Object.assign(new Error(`interrupted by ${name}`), { code: 'ERR_ABORTED' }));
    restoreCursor();
    setTimeout(leaveNow, INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    if (controller.signal.aborted) restoreCursor();
  });
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
