/**
 * The one way every layer reader (COPY --from, WORKDIR/USER lookups, RUN rootfs extraction, the
 * Node preset's passwd reader) turns a layer blob into an uncompressed tar stream.
 *
 * Compression is decided by the blob's first bytes, not only by its media type, because the
 * media type lies in images other tools write: `skopeo copy --dest-decompress` and docker-archive
 * sources give Docker's `.tar.gzip` type to plain tars, and a `+zstd` type may still hold gzip.
 * zstd (and xz, bzip2) are decoded by the system program, streaming.
 *
 * Non-distributable ("foreign") layers are not pushed (the copier leaves them where their `urls`
 * say); when a build needs their files, {@link openLayerBlob} fetches them from those URLs.
 * @module
 */
import { concatBytes } from '../bytes.ts';
import { externalDecoder, type ExternalCompression } from '../compress/external-stream.ts';
import { zstdDecoder } from '../compress/zstd-decode.ts';
import { nodeGunzip } from '../compress/node.ts';
import type { ByteTransform, GzipDecoder } from '../compress/types.ts';
import { NotFoundError, OcibuildError, throwIfAborted } from '../errors.ts';
import { verifyStream } from '../blob/verify.ts';
import { DOCKER_LAYER_FOREIGN } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { guardTarStream, type TarLimits } from './tar-guard.ts';

/** How a layer blob is compressed. */
export type LayerCompression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

/** Bytes needed to recognise every supported format (xz's magic is the longest). */
const MAGIC_LENGTH = 6;

/** Tells the compression of a blob from its first bytes (`none` for anything unrecognised, e.g. a tar). */
export function detectLayerCompression(head: Uint8Array): LayerCompression {
  const at = (i: number): number | undefined => head[i];
  if (at(0) === 0x1f && at(1) === 0x8b) return 'gzip';
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return 'zstd';
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a && at(5) === 0x00) return 'xz';
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return 'bzip2';
  return 'none';
}

/** True for layers that are not distributed with the image: Docker foreign and OCI non-distributable types. */
export function isNonDistributableLayer(mediaType: string): boolean {
  return mediaType === DOCKER_LAYER_FOREIGN || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

/** Options of {@link openLayerTar}. */
export interface OpenLayerTarOptions {
  /** gzip decoder. Default node:zlib. */
  gzip?: GzipDecoder;
  /**
   * Decoder for zstd, xz and bzip2. Default: the system program of that name
   * ({@link externalDecoder}); for zstd without the program, the built-in WASM decoder
   * (`zstdDecoder`), which reads every layer ocibuild writes.
   */
  external?: (kind: ExternalCompression, where: string) => ByteTransform;
  /** Names the layer in errors (default: the descriptor's digest, else "layer"). */
  where?: string;
  /** Bounds on the uncompressed tar (PAX headers, total size, members); defaults in `DEFAULT_TAR_LIMITS`. */
  limits?: Partial<TarLimits> | undefined;
  /** The layer's diffID (its `diff_ids` entry): the uncompressed stream must hash to it. */
  diffId?: string | undefined;
}

/**
 * Turns a layer blob into its uncompressed tar stream. `layer` is the layer's descriptor or
 * media type; the blob's first bytes decide the decoder (gzip, zstd, xz, bzip2 or none), so a
 * mislabelled blob is still read; a media type that is no layer at all (a JSON config, say)
 * throws `ERR_LAYER` rather than being parsed as a tar. Errors surface when the stream is read:
 * a missing zstd program as `UnsupportedError`, corrupt data as `ERR_LAYER`, a bound of
 * `options.limits` passed as `LimitExceededError` (see `guardTarStream`), and, once the stream
 * has been read to its end, a `DigestMismatchError` when it does not hash to `options.diffId`.
 */
export function openLayerTar(layer: Descriptor | string, blob: AsyncIterable<Uint8Array>, options: OpenLayerTarOptions = {}): AsyncIterable<Uint8Array> {
  const mediaType = typeof layer === 'string' ? layer : layer.mediaType;
  const where = options.where ?? (typeof layer === 'string' ? 'layer' : `layer ${layer.digest}`);
  return guardTarStream(decodeLayer(mediaType, blob, where, options), { where, limits: options.limits, diffId: options.diffId });
}

async function* decodeLayer(mediaType: string, blob: AsyncIterable<Uint8Array>, where: string, options: OpenLayerTarOptions): AsyncGenerator<Uint8Array> {
  if (/json$/i.test(mediaType)) {
    throw new OcibuildError('ERR_LAYER', `${where} has media type ${mediaType}, which is not a layer`);
  }
  const { head, stream } = await peek(blob, MAGIC_LENGTH);
  if (head.length === 0) return; // an empty blob is an empty layer (some writers emit one)
  const kind = detectLayerCompression(head);
  switch (kind) {
    case 'none':
      yield* stream;
      return;
    case 'gzip':
      yield* (options.gzip ?? nodeGunzip()).decode(stream);
      return;
    default:
      yield* (options.external ?? defaultExternalDecoder)(kind, where)(stream);
  }
}

function defaultExternalDecoder(kind: ExternalCompression, where: string): ByteTransform {
  return kind === 'zstd' ? zstdDecoder(where) : externalDecoder(kind, where);
}

/** Reads at least `n` bytes (fewer at the end) and returns them with a stream that yields everything. */
async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: AsyncIterable<Uint8Array> }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    if (next.value.length === 0) continue;
    seen.push(next.value);
    length += next.value.length;
  }
  const head = seen.length === 1 ? (seen[0] as Uint8Array) : concatBytes(seen, length);
  async function* stream(): AsyncGenerator<Uint8Array> {
    let finished = done;
    try {
      yield* seen;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          break;
        }
        yield next.value;
      }
    } finally {
      if (!finished) await iterator.return?.();
    }
  }
  return { head, stream: stream() };
}

/** Options of {@link openLayerBlob}. */
export interface OpenLayerBlobOptions {
  /** Aborts the download. */
  signal?: AbortSignal;
  /** The fetch used for `urls` (default the global one). */
  fetch?: typeof globalThis.fetch;
  /** Names the source in errors (a transport description). */
  source?: string;
}

/** Error codes meaning "this source does not hold the blob". */
const MISSING = new Set(['ERR_NOT_FOUND', 'ERR_REGISTRY_NOT_FOUND', 'ENOENT']);

/**
 * Opens a layer blob for reading its files: `open()` (the image's source) first; when that has
 * no such blob and the descriptor lists `urls` (foreign / non-distributable layers), each URL in
 * turn, verified against the descriptor's size and digest. A non-distributable layer found
 * nowhere throws `ERR_NOT_FOUND` saying so; any other failure of `open()` is rethrown.
 */
export async function openLayerBlob(
  descriptor: Descriptor,
  open: () => Promise<AsyncIterable<Uint8Array>> | AsyncIterable<Uint8Array>,
  options: OpenLayerBlobOptions = {},
): Promise<AsyncIterable<Uint8Array>> {
  let missing: unknown;
  try {
    // Peek one byte: a transport may only fail once the body is read.
    const { stream } = await peek(await open(), 1);
    return stream;
  } catch (error) {
    if (!MISSING.has(String((error as { code?: unknown }).code))) throw error;
    missing = error;
  }
  const urls = (descriptor.urls ?? []).filter((u) => /^https?:\/\//i.test(u));
  const foreign = isNonDistributableLayer(descriptor.mediaType);
  if (urls.length === 0) {
    if (!foreign && (descriptor.urls ?? []).length === 0) throw missing;
    const from = options.source === undefined ? '' : ` in ${options.source}`;
    throw new NotFoundError(`layer ${descriptor.digest} (${descriptor.mediaType}) is not distributed with the image and is missing${from}; ` +
        ((descriptor.urls ?? []).length === 0 ? 'it lists no urls to fetch it from' : 'none of its urls is http(s)'),
      { cause: missing },
    );
  }
  const failures: string[] = [];
  for (const url of urls) {
    throwIfAborted(options.signal);
    try {
      const response = await (options.fetch ?? globalThis.fetch)(url, options.signal === undefined ? {} : { signal: options.signal });
      if (!response.ok || response.body === null) {
        failures.push(`${redact(url)}: HTTP ${response.status}`);
        await response.body?.cancel().catch(() => undefined);
        continue;
      }
      const verified = verifyStream(response.body as AsyncIterable<Uint8Array>, descriptor, `layer ${descriptor.digest} from ${redact(url)}`);
      const { stream } = await peek(verified, 1);
      return stream;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_ABORTED' || options.signal?.aborted) throw error;
      failures.push(`${redact(url)}: ${(error as Error).message}`);
    }
  }
  throw new NotFoundError(`layer ${descriptor.digest} is not in the image source and no url served it (${failures.join('; ')})`, {
    cause: missing,
  });
}

/** A URL without user info or query (either may hold a secret). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
