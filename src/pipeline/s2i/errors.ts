/**
 * The error of source-to-image builds: bad input (labels, flags, scripts) and scripts that failed.
 * @module
 */
import { OcibuildError, type ErrorCode, type OcibuildErrorOptions } from '../../errors.ts';

/**
 * Data an {@link S2iError} may carry.
 * @category S2I
 */
export interface S2iErrorOptions extends OcibuildErrorOptions {
  /** The s2i script involved (`assemble`, `run`, `save-artifacts`, `usage`). */
  script?: string;
  /** Exit status of the script, when it ran and failed. */
  exitCode?: number;
}

/**
 * A source-to-image build failed: `ERR_INVALID_ARGUMENT` for bad input (a flag, a label, a
 * script location, a user outside `allowedUids`), `ERR_NOT_FOUND` for a missing required
 * script, `ERR_RUN` for a script that exited non-zero (then `script` and `exitCode` are set).
 * @example
 * ```ts
 * import { buildImage, S2iError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ s2i: { builder: 'registry.example/s2i/nodejs:20', source: './app' }, to: 'oci:./out:app' });
 * } catch (error) {
 *   if (error instanceof S2iError) console.error(`s2i ${error.script ?? ''} failed: ${error.message}`);
 *   else throw error;
 * }
 * ```
 * @category S2I
 */
export class S2iError extends OcibuildError {
  /** The script involved, if any. */
  readonly script: string | undefined;
  /** The script's exit status, if it ran and failed. */
  readonly exitCode: number | undefined;
  constructor(code: ErrorCode, message: string, options: S2iErrorOptions = {}) {
    super(code, message, options);
    this.script = options.script;
    this.exitCode = options.exitCode;
  }
}
