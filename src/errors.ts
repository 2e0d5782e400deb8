/**
 * Every error ocibuild throws on purpose is an {@link OcibuildError} with a stable `code`.
 * Subclasses carry the data a caller needs to react (status, file and line, digests).
 * Messages say what failed and where, and never contain a secret.
 * @module
 */

/**
 * Stable error codes. New codes may be added; existing ones never change meaning.
 * @category Errors
 */
export type ErrorCode =
  | 'ERR_INVALID_REFERENCE'
  | 'ERR_INVALID_DIGEST'
  | 'ERR_INVALID_PLATFORM'
  | 'ERR_INVALID_MANIFEST'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_SIGNATURE'
  | 'ERR_SIZE_MISMATCH'
  | 'ERR_SOURCE_NOT_FOUND'
  | 'ERR_PATH_ESCAPE'
  | 'ERR_NOT_FOUND'
  | 'ERR_LAYER'
  | 'ERR_TRANSPORT'
  | 'ERR_REGISTRY'
  | 'ERR_REGISTRY_UNAUTHORIZED'
  | 'ERR_REGISTRY_DENIED'
  | 'ERR_REGISTRY_NOT_FOUND'
  | 'ERR_REGISTRY_TLS'
  | 'ERR_CREDENTIALS'
  | 'ERR_DOCKERFILE'
  | 'ERR_RUN'
  | 'ERR_UNSUPPORTED'
  | 'ERR_ABORTED'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_TIMEOUT'
  | 'ERR_LOCKED'
  | 'ERR_IO';

/**
 * Options accepted by every ocibuild error constructor.
 * @category Errors
 */
export interface OcibuildErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * The brand every ocibuild error carries: the names of its class chain. A `Symbol.for` key, so
 * an error made by another copy of ocibuild (two versions installed side by side) is still
 * recognised by `instanceof` and {@link isOcibuildError}.
 */
const ERROR_BRAND = Symbol.for('ocibuild.error');

function brandOf(value: unknown): readonly string[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const brand = (value as { [ERROR_BRAND]?: unknown })[ERROR_BRAND];
  return Array.isArray(brand) ? (brand as string[]) : undefined;
}

/**
 * Base class of every error ocibuild throws on purpose.
 *
 * `instanceof` works across duplicate installs: an error is an instance of a class of this
 * module when it is a real instance, or when its brand names that class.
 * @example
 * ```ts
 * import { buildImage, OcibuildError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ from: 'registry.example/base:1', to: 'oci:./out:app' });
 * } catch (error) {
 *   if (!(error instanceof OcibuildError)) throw error;
 *   console.error(`[${error.code}] ${error.message}`); // e.g. [ERR_REGISTRY_UNAUTHORIZED] ...
 * }
 * ```
 * @category Errors
 */
export class OcibuildError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: OcibuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    const chain: string[] = [];
    for (let c: unknown = new.target; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) chain.push((c as { name: string }).name);
    Object.defineProperty(this, ERROR_BRAND, { value: Object.freeze(chain), enumerable: false });
  }

  /** True for real instances and for branded errors of the same class from another copy of ocibuild. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return brandOf(value)?.includes(this.name) ?? false;
  }
}

/**
 * True when `value` is an ocibuild error (from this copy of ocibuild or another), optionally
 * with one of `codes`.
 * @example
 * ```ts
 * import { isOcibuildError, ociLayout } from 'ocibuild';
 *
 * const raw = await ociLayout('./out').getManifest('v1').catch((error: unknown) => {
 *   if (isOcibuildError(error, 'ERR_NOT_FOUND')) return undefined;
 *   throw error;
 * });
 * ```
 * @category Errors
 */
export function isOcibuildError(value: unknown, ...codes: ErrorCode[]): value is OcibuildError {
  if (brandOf(value) === undefined) return false;
  return codes.length === 0 || codes.includes((value as OcibuildError).code);
}

/** The codes that mean "there is no such thing" (a blob, a manifest, a tag, a file, a source). */
const NOT_FOUND_CODES: readonly ErrorCode[] = ['ERR_NOT_FOUND', 'ERR_REGISTRY_NOT_FOUND', 'ERR_SOURCE_NOT_FOUND'];

/**
 * True when `error` says something is absent: the one test for "not there" (a
 * {@link NotFoundError}, or a registry 404 `ERR_REGISTRY_NOT_FOUND`). Other failures (a network
 * error, a permission error, a corrupt file) are not "not there" and must not be treated so.
 * @example
 * ```ts
 * import { inspectImage, isNotFound } from 'ocibuild';
 *
 * const exists = await inspectImage('registry.example/app:1').then(
 *   () => true,
 *   (error: unknown) => (isNotFound(error) ? false : Promise.reject(error)),
 * );
 * ```
 * @category Errors
 */
export function isNotFound(error: unknown): boolean {
  return isOcibuildError(error) && NOT_FOUND_CODES.includes(error.code);
}

/**
 * The one name of `names` within two edits of `name` (a typo: `biuld`, `--cach-dir`,
 * `FNTRYPOINT`), compared case-insensitively, for an error's "did you mean" hint; undefined when
 * none or several are that close. `names` are returned as given.
 * @example
 * ```ts
 * import { closestName } from 'ocibuild';
 *
 * const hint = closestName('biuld', ['build', 'copy', 'inspect']); // 'build'
 * ```
 * @category Errors
 */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    // Damerau-Levenshtein (optimal string alignment): a swap of neighbours counts once.
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const row = d[i] as number[];
        const up = d[i - 1] as number[];
        row[j] = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, (d[i - 2] as number[])[j - 2]! + 1);
      }
    }
    return (d[a.length] as number[])[b.length]!;
  };
  if (name.length > 40) return undefined;
  const close = names.filter((n) => distance(name.toLowerCase(), n.toLowerCase()) <= 2);
  return close.length === 1 ? close[0] : undefined;
}

/**
 * Something asked for does not exist: a blob, manifest, tag, layout entry or source. Code `ERR_NOT_FOUND` unless given.
 * @example
 * ```ts
 * import { isNotFound, ociLayout } from 'ocibuild';
 *
 * const layout = ociLayout('./out');
 * const raw = await layout.getManifest('missing-tag').catch((error: unknown) => {
 *   if (isNotFound(error)) return undefined; // a NotFoundError: the tag is not there
 *   throw error;
 * });
 * ```
 * @category Errors
 */
export class NotFoundError extends OcibuildError {
  constructor(message: string, options: OcibuildErrorOptions & { code?: 'ERR_NOT_FOUND' | 'ERR_SOURCE_NOT_FOUND' } = {}) {
    super(options.code ?? 'ERR_NOT_FOUND', message, options);
  }
}

/**
 * The codes of invalid input: an argument, a digest, a platform, a manifest or config.
 * @category Errors
 */
export type InvalidArgumentCode = 'ERR_INVALID_ARGUMENT' | 'ERR_INVALID_DIGEST' | 'ERR_INVALID_PLATFORM' | 'ERR_INVALID_MANIFEST' | 'ERR_INVALID_CONFIG';

/**
 * An argument or input document is not valid. Code `ERR_INVALID_ARGUMENT` unless given.
 * @example
 * ```ts
 * import { buildImage, InvalidArgumentError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ dockerfile: 'Dockerfile', context: '.', contexts: { base: '' }, to: 'oci:./out:app' });
 * } catch (error) {
 *   if (error instanceof InvalidArgumentError) console.error(error.code, error.message); // ERR_INVALID_ARGUMENT a named build context needs a value
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class InvalidArgumentError extends OcibuildError {
  constructor(message: string, options: OcibuildErrorOptions & { code?: InvalidArgumentCode } = {}) {
    super(options.code ?? 'ERR_INVALID_ARGUMENT', message, options);
  }
}

/**
 * The operation was aborted through its `AbortSignal`. Code `ERR_ABORTED`.
 * @example
 * ```ts
 * import { copyImage, isOcibuildError } from 'ocibuild';
 *
 * const copy = copyImage('registry.example/app:1', 'oci:./out:app', { signal: AbortSignal.timeout(60_000) });
 * await copy.catch((error: unknown) => {
 *   if (isOcibuildError(error, 'ERR_ABORTED')) console.error('copy cancelled; ./out was left unchanged');
 *   else throw error;
 * });
 * ```
 * @category Errors
 */
export class AbortedError extends OcibuildError {
  constructor(message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_ABORTED', message, options);
  }
}

/**
 * An image reference string could not be parsed or is out of bounds.
 * @example
 * ```ts
 * import { InvalidReferenceError, parseReference } from 'ocibuild';
 *
 * try {
 *   parseReference('Registry.Example/UPPER');
 * } catch (error) {
 *   if (error instanceof InvalidReferenceError) console.error(`not a reference: ${error.input}`);
 * }
 * ```
 * @category Errors
 */
export class InvalidReferenceError extends OcibuildError {
  /** The rejected input. */
  readonly input: string;
  constructor(input: string, reason: string, options: OcibuildErrorOptions = {}) {
    super('ERR_INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${reason}`, options);
    this.input = input;
  }
}

/**
 * Content did not hash to the digest it was declared with.
 * @example
 * ```ts
 * import { DigestMismatchError, inspectImage } from 'ocibuild';
 *
 * try {
 *   await inspectImage('registry.example/app@sha256:3c5c2e1cc8b2b5a3ab2cd7d1fe0a9d15b1d8a9f1c1d1e1f1a1b1c1d1e1f1a1b1');
 * } catch (error) {
 *   if (error instanceof DigestMismatchError) console.error(`expected ${error.expected}, the registry sent ${error.actual}`);
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class DigestMismatchError extends OcibuildError {
  /** The digest the content was declared with. */
  readonly expected: string;
  /** The digest computed over the bytes actually received. */
  readonly actual: string;
  constructor(expected: string, actual: string, where: string, options: OcibuildErrorOptions = {}) {
    super('ERR_DIGEST_MISMATCH', `digest mismatch for ${where}: expected ${expected}, got ${actual}`, options);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Content was longer or shorter than its declared size.
 * @example
 * ```ts
 * import { copyImage, SizeMismatchError } from 'ocibuild';
 *
 * await copyImage('registry.example/app:1', 'oci:./out:app').catch((error: unknown) => {
 *   if (error instanceof SizeMismatchError) console.error(`a blob had ${error.actual} bytes, its descriptor says ${error.expected}`);
 *   throw error;
 * });
 * ```
 * @category Errors
 */
export class SizeMismatchError extends OcibuildError {
  /** Declared size in bytes. */
  readonly expected: number;
  /** Bytes actually seen (may stop at expected + 1 when capping). */
  readonly actual: number;
  constructor(expected: number, actual: number, where: string, options: OcibuildErrorOptions = {}) {
    super('ERR_SIZE_MISMATCH', `size mismatch for ${where}: expected ${expected} bytes, got ${actual}`, options);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A feature or environment that ocibuild cannot handle; the message says what to change.
 * @example
 * ```ts
 * import { parseTarget, UnsupportedError } from 'ocibuild';
 *
 * try {
 *   parseTarget('containers-storage:app');
 * } catch (error) {
 *   if (error instanceof UnsupportedError) console.error(error.message); // names what is supported instead
 * }
 * ```
 * @category Errors
 */
export class UnsupportedError extends OcibuildError {
  constructor(message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_UNSUPPORTED', message, options);
  }
}

/**
 * Options of {@link RegistryError}.
 * @category Errors
 */
export interface RegistryErrorOptions extends OcibuildErrorOptions {
  /** HTTP status, when a response was received. */
  status?: number;
  /** Error codes from the registry's JSON error body (`UNAUTHORIZED`, `MANIFEST_UNKNOWN`, ...). */
  registryCodes?: string[];
  /** The request URL without credentials or query secrets. */
  url?: string;
  /** The wait the registry asked for with `Retry-After`, in ms. */
  retryAfterMs?: number;
}

/**
 * A registry request failed. `code` tells the class of failure; `status` and `registryCodes` the detail.
 * @example
 * ```ts
 * import { listTags, RegistryError } from 'ocibuild';
 *
 * try {
 *   await listTags('registry.example/private/app');
 * } catch (error) {
 *   if (error instanceof RegistryError && error.status === 401) console.error('log in first:', error.message);
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class RegistryError extends OcibuildError {
  /** HTTP status, when a response was received. */
  readonly status: number | undefined;
  /** Error codes from the registry's JSON error body. */
  readonly registryCodes: string[];
  /** Request URL (never with credentials). */
  readonly url: string | undefined;
  /** The wait the registry asked for with `Retry-After`, in ms (the retry loop honours it). */
  readonly retryAfterMs: number | undefined;
  constructor(code: ErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(code, message, options);
    this.status = options.status;
    this.registryCodes = options.registryCodes ?? [];
    this.url = options.url;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Where in a Dockerfile an error was found.
 * @category Errors
 */
export interface DockerfileLocation {
  /** Path of the Dockerfile as the user gave it. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** 1-based column, when known. */
  column?: number;
}

/**
 * A Dockerfile could not be parsed or applied; message starts with `FILE:LINE:`.
 * @example
 * ```ts
 * import { buildImage, DockerfileError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ dockerfile: 'Dockerfile', context: '.', to: 'oci:./out:app' });
 * } catch (error) {
 *   if (error instanceof DockerfileError) console.error(`${error.file}:${error.line}: ${error.message}`);
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class DockerfileError extends OcibuildError {
  /** Dockerfile path. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column when known. */
  readonly column: number | undefined;
  constructor(location: DockerfileLocation, message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_DOCKERFILE', `${location.file}:${location.line}: ${message}`, options);
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
  }
}

/**
 * Input from outside (a registry body, a tar header, a Dockerfile expansion, a layer's size) went
 * past one of the documented bounds (docs/limits.md). `limit` names the bound, `value` is its
 * setting; the message says where it was hit and how to raise it.
 * @example
 * ```ts
 * import { buildImage, LimitExceededError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ from: 'registry.example/huge:1', to: 'oci:./out:app' });
 * } catch (error) {
 *   if (error instanceof LimitExceededError) console.error(`${error.limit} exceeded (${error.value})`);
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class LimitExceededError extends OcibuildError {
  /** Name of the limit, as documented (e.g. `maxConfigBytes`). */
  readonly limit: string;
  /** The limit's value in force. */
  readonly value: number;
  constructor(limit: string, value: number, message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_LIMIT_EXCEEDED', message, options);
    this.limit = limit;
    this.value = value;
  }
}

/**
 * A peer (registry, helper process) did not answer or stopped sending within the allowed time.
 * @example
 * ```ts
 * import { buildImage, TimeoutError } from 'ocibuild';
 *
 * try {
 *   await buildImage({ from: 'registry.example/base:1', to: 'registry.example/app:1' });
 * } catch (error) {
 *   if (error instanceof TimeoutError) console.error(`${error.phase} took longer than ${error.timeoutMs} ms`);
 *   else throw error;
 * }
 * ```
 * @category Errors
 */
export class TimeoutError extends OcibuildError {
  /** Which wait ran out (`connect`, `idle`, ...). */
  readonly phase: string;
  /** The timeout in milliseconds. */
  readonly timeoutMs: number;
  constructor(phase: string, timeoutMs: number, message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_TIMEOUT', message, options);
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/** Throws an `ERR_ABORTED` error when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AbortedError('operation aborted', { cause: signal.reason });
  }
}
