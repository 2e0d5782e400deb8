/**
 * An undici interceptor that watches every response body: it fails the request with a
 * `TimeoutError` when no byte arrives for a whole window (`idle`) or when fewer bytes than the
 * low-speed floor arrive in one (`low-speed`). undici's own `bodyTimeout` restarts at every
 * chunk, so a server sending one byte every 20 s would never trip it; this is curl's
 * `--speed-limit`/`--speed-time` pair applied to registries.
 *
 * Windows in which the reader paused the body (back-pressure: the bytes are not wanted yet)
 * do not count, as undici's body timeout does not fire while paused.
 * @module
 */
import type { Dispatcher } from 'undici';
import { TimeoutError } from '../errors.ts';
import { safeUrl } from './response-errors.ts';

/** Settings of {@link watchdogInterceptor}. */
export interface WatchdogOptions {
  /** Window length in ms (the idle timeout). */
  windowMs: number;
  /** Least average speed over a window, bytes per second (0: only the idle check). */
  minBytesPerSecond: number;
}

type Controller = Dispatcher.DispatchController;
type Handler = Dispatcher.DispatchHandler;

/** Builds the interceptor for `Dispatcher.compose`. */
export function watchdogInterceptor(options: WatchdogOptions): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => dispatch(opts, watchHandler(opts, handler as Handler, options));
}

function watchHandler(opts: Dispatcher.DispatchOptions, inner: Handler, options: WatchdogOptions): Handler {
  const { windowMs, minBytesPerSecond } = options;
  const floor = Math.ceil((minBytesPerSecond * windowMs) / 1000);
  // One timer for the whole response, re-armed with refresh(): undici pauses and resumes a body
  // for back-pressure as often as once per chunk, and a new timer each time showed in profiles.
  let timer: NodeJS.Timeout | undefined;
  let received = 0;
  let paused = false;
  // The reader paused at some time in the current window: its count says nothing about speed.
  let pausedInWindow = false;
  let outer: Controller | undefined;
  const where = (): string => safeUrl(new URL(opts.path, String(opts.origin ?? 'http://invalid')));

  const stop = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const arm = (): void => {
    received = 0;
    pausedInWindow = paused;
    if (timer === undefined) {
      timer = setTimeout(check, windowMs);
      timer.unref();
    } else {
      timer.refresh();
    }
  };
  const check = (): void => {
    if (outer === undefined || outer.aborted) {
      timer = undefined;
      return;
    }
    // A window in which the reader paused does not count (undici's body timeout does not fire
    // while paused either): the next whole window unpaused is judged.
    if (paused || pausedInWindow) {
      arm();
      return;
    }
    if (received === 0) {
      timer = undefined;
      outer.abort(
        new TimeoutError('idle', windowMs, `no data from ${where()} for ${windowMs} ms; raise the registry client option idleTimeoutMs if the registry is this slow`),
      );
    } else if (received < floor) {
      timer = undefined;
      outer.abort(
        new TimeoutError(
          'low-speed',
          windowMs,
          `${where()} sent ${received} bytes in ${windowMs} ms, below minBytesPerSecond (${minBytesPerSecond}); lower minBytesPerSecond (0 disables the check) if the registry is this slow`,
        ),
      );
    } else {
      arm();
    }
  };

  // The controller handed to the inner handler (made once per controller, not per chunk): its
  // pause/resume tell us about back-pressure.
  let wrapped: { of: Controller; as: Controller } | undefined;
  const wrap = (controller: Controller): Controller => {
    if (wrapped !== undefined && wrapped.of === controller) return wrapped.as;
    const as: Controller = {
      get aborted() {
        return controller.aborted;
      },
      get paused() {
        return controller.paused;
      },
      get reason() {
        return controller.reason;
      },
      abort: (reason: Error) => {
        stop();
        controller.abort(reason);
      },
      pause: () => {
        paused = true;
        pausedInWindow = true;
        controller.pause();
      },
      resume: () => {
        paused = false;
        controller.resume();
      },
    };
    wrapped = { of: controller, as };
    return as;
  };

  return {
    onRequestStart(controller, context) {
      inner.onRequestStart?.(wrap(controller), context);
    },
    onRequestUpgrade(controller, statusCode, headers, socket) {
      inner.onRequestUpgrade?.(wrap(controller), statusCode, headers, socket);
    },
    onResponseStart(controller, statusCode, headers, statusMessage) {
      outer = controller;
      // 1xx responses come before the real one; the window starts with the final headers.
      if (statusCode >= 200) arm();
      inner.onResponseStart?.(wrap(controller), statusCode, headers, statusMessage);
    },
    onResponseData(controller, chunk) {
      received += chunk.byteLength;
      inner.onResponseData?.(wrap(controller), chunk);
    },
    onResponseEnd(controller, trailers) {
      stop();
      outer = undefined;
      inner.onResponseEnd?.(wrap(controller), trailers);
    },
    onResponseError(controller, error) {
      stop();
      outer = undefined;
      inner.onResponseError?.(wrap(controller), error);
    },
  };
}
