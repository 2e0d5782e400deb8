/**
 * Bounds on an uncompressed layer tar, checked while its bytes flow (no buffering beyond one
 * extended header): extended headers (PAX `x`/`g`, GNU long names `L`/`K`) are capped as Go's
 * archive/tar caps them (1 MiB), the whole stream is capped so a gzip bomb ends with an error
 * instead of filling the disk, the number of members is capped because every consumer keeps
 * a little state per member, and the bytes are hashed against the layer's diffID.
 *
 * The walk frames the archive exactly as tar-stream (the parser every consumer uses) does,
 * with tar-stream's own header codec, and refuses the inputs on which the two could disagree
 * (an empty extended header, a size that is not a plain decimal): a member the guard did not
 * see can never reach a consumer.
 * @module
 */
import { DigestMismatchError, InvalidArgumentError, LimitExceededError, OcibuildError } from '../errors.ts';
import { hashFactoryFor } from '../blob/verify.ts';
import type { Hasher } from '../hash/types.ts';
import { tarHeaders as headers, type DecodedTarHeader as DecodedHeader } from './tar-headers.ts';

/**
 * The bounds applied to one layer's uncompressed tar stream (docs/limits.md).
 * @category Layers
 */
export interface TarLimits {
  /** Largest PAX extended header or GNU long name/link body, in bytes. Default 1 MiB (Go's archive/tar). */
  maxHeaderBytes: number;
  /** Largest uncompressed stream, in bytes. Default 64 GiB. */
  maxBytes: number;
  /** Most members (entries, whiteouts included; extended headers not counted). Default 1,000,000. */
  maxEntries: number;
}

/**
 * The default {@link TarLimits}.
 * @category Layers
 */
export const DEFAULT_TAR_LIMITS: Readonly<TarLimits> = Object.freeze({
  maxHeaderBytes: 1024 * 1024,
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 1_000_000,
});

/** Options of {@link guardTarStream}. */
export interface GuardTarOptions {
  /** Bounds; missing fields take {@link DEFAULT_TAR_LIMITS}. */
  limits?: Partial<TarLimits> | undefined;
  /** The layer's diffID: the stream must hash to it, checked when the stream ends. */
  diffId?: string | undefined;
  /** Names the layer in errors. */
  where?: string | undefined;
}

const BLOCK = 512;
const LONG_TYPES = new Set(['pax-header', 'pax-global-header', 'gnu-long-path', 'gnu-long-link-path']);

/** Merges `limits` over the defaults, refusing values that are not non-negative numbers. */
export function resolveTarLimits(limits: Partial<TarLimits> | undefined): TarLimits {
  const resolved = { ...DEFAULT_TAR_LIMITS, ...stripUndefined(limits ?? {}) };
  for (const [key, value] of Object.entries(resolved)) {
    if (typeof value !== 'number' || !(value >= 0)) {
      throw new InvalidArgumentError(`tar limit ${key} must be a non-negative number, got ${String(value)}`);
    }
  }
  return resolved;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Walks tar framing one chunk at a time; throws on the first bound or framing rule broken. */
class TarWalker {
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Body of the extended header being read, and how much of it is still missing. */
  private long: { type: string; body: Buffer; fill: number } | undefined;
  /** Bytes to pass over (member content and padding). */
  private skip = 0;
  private paxGlobal: Record<string, string> | undefined;
  private pax: Record<string, string> | undefined;
  total = 0;
  entries = 0;
  /**
   * A header tar-stream cannot decode either. Thrown at the end, not at once: the parser fails on
   * the same block anyway, and a decoder's own error (corrupt zstd, say) that may follow says more.
   */
  private corrupt: OcibuildError | undefined;

  constructor(
    private readonly limits: TarLimits,
    private readonly where: string,
  ) {}

  write(chunk: Uint8Array): void {
    this.total += chunk.length;
    if (this.total > this.limits.maxBytes) {
      throw new LimitExceededError(
        'maxBytes',
        this.limits.maxBytes,
        `${this.where} expands to more than ${this.limits.maxBytes} bytes uncompressed (tar limit maxBytes)`,
      );
    }
    let i = 0;
    while (i < chunk.length && this.corrupt === undefined) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
      } else if (this.long !== undefined) {
        const long = this.long;
        const n = Math.min(long.body.length - long.fill, chunk.length - i);
        long.body.set(chunk.subarray(i, i + n), long.fill);
        long.fill += n;
        i += n;
        if (long.fill === long.body.length) this.endLong(long.type, long.body);
      } else {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
        }
      }
    }
  }

  /** Throws when the stream stopped inside a header or a member (tar-stream would too). */
  end(): void {
    if (this.corrupt !== undefined) throw this.corrupt;
    if (this.headerFill !== 0 || this.skip !== 0 || this.long !== undefined) {
      throw new OcibuildError('ERR_LAYER', `${this.where}: tar stream ends inside a member (truncated)`);
    }
  }

  private onHeader(): void {
    let decoded: DecodedHeader | null;
    try {
      decoded = headers.decode(this.header, 'utf-8', false);
    } catch (error) {
      this.corrupt = new OcibuildError('ERR_LAYER', `${this.where}: corrupt tar header: ${(error as Error).message}`, { cause: error });
      return;
    }
    if (decoded === null) return; // a zero block: tar-stream reads on, and so do we
    const type = decoded.type ?? 'unknown';
    const size = decoded.size;
    if (size === null || !Number.isSafeInteger(size) || size < 0) {
      throw new OcibuildError('ERR_LAYER', `${this.where}: tar header with an invalid size`);
    }
    if (LONG_TYPES.has(type)) {
      if (size > this.limits.maxHeaderBytes) {
        throw new LimitExceededError(
          'maxHeaderBytes',
          this.limits.maxHeaderBytes,
          `${this.where}: ${type} of ${size} bytes is over the ${this.limits.maxHeaderBytes}-byte limit (tar limit maxHeaderBytes)`,
        );
      }
      // tar-stream mis-frames an empty extended header; Go accepts it, no writer emits one.
      if (size === 0) throw new OcibuildError('ERR_LAYER', `${this.where}: empty ${type}`);
      this.long = { type, body: Buffer.alloc(size), fill: 0 };
      return;
    }
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new LimitExceededError('maxEntries', this.limits.maxEntries, `${this.where} has more than ${this.limits.maxEntries} members (tar limit maxEntries)`);
    }
    let contentSize = size;
    const paxSize = this.pax?.['size'];
    this.pax = undefined;
    if (paxSize !== undefined && paxSize !== '') {
      if (!/^[0-9]{1,16}$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) {
        throw new OcibuildError('ERR_LAYER', `${this.where}: PAX size ${JSON.stringify(paxSize.slice(0, 40))} is not a valid size`);
      }
      contentSize = Number(paxSize);
    }
    // tar-stream gives directories no content whatever their size field says.
    if (type !== 'directory') this.skip = contentSize + padding(contentSize);
  }

  private endLong(type: string, body: Buffer): void {
    this.long = undefined;
    this.skip = padding(body.length);
    if (type === 'pax-header') {
      // As tar-stream: the global records under this header's own.
      this.pax = { ...this.paxGlobal, ...headers.decodePax(body) };
    } else if (type === 'pax-global-header') {
      this.paxGlobal = headers.decodePax(body);
    }
  }
}

/**
 * Passes an uncompressed layer tar through unchanged while enforcing {@link TarLimits} and, when
 * `diffId` is given, hashing it. Throws, before yielding the offending bytes, a
 * `LimitExceededError` (`ERR_LIMIT_EXCEEDED`, `limit` naming the bound) when a bound is passed
 * and `ERR_LAYER` for a corrupt or truncated tar; at the end, a `DigestMismatchError` when the
 * bytes do not hash to `diffId`. A consumer MUST read the stream to its end for the diffID check
 * to run, and MUST NOT commit what it extracted before then.
 */
export async function* guardTarStream(stream: AsyncIterable<Uint8Array>, options: GuardTarOptions = {}): AsyncGenerator<Uint8Array> {
  const where = options.where ?? 'layer';
  const walker = new TarWalker(resolveTarLimits(options.limits), where);
  const hasher: Hasher | undefined = options.diffId === undefined ? undefined : hashFactoryFor(options.diffId).create();
  for await (const chunk of stream) {
    if (chunk.length === 0) continue;
    walker.write(chunk);
    hasher?.update(chunk);
    yield chunk;
  }
  if (walker.total === 0) return; // an empty blob is an empty layer (decode.ts): no diffID to check
  walker.end();
  if (hasher !== undefined && options.diffId !== undefined) {
    const actual = hasher.digest();
    if (actual !== options.diffId) throw new DigestMismatchError(options.diffId, actual, `${where} (uncompressed, diff_ids entry)`);
  }
}
