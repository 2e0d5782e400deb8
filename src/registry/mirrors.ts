/**
 * Reading an image through registry mirrors: each mirror in order, then the origin, as
 * containers/image and containerd do. A mirror that fails (unreachable, 404, 5xx) passes to the
 * next source; an abort does not. Whatever a mirror serves is verified as the origin's bytes
 * would be: blobs and by-digest manifests against their digests (the client's reads check them),
 * so a mirror can only fail a pull, never change it. Writes go to the origin.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import type { Transport } from '../image/transport.ts';

/** One place to read from. */
export interface PullSource {
  /** The transport (a registry repository). */
  transport: Transport;
  /** True for a mirror (false for the origin). */
  mirror: boolean;
}

/** Options of {@link mirroredTransport}. */
export interface MirrorOptions {
  /**
   * Hears each mirror that failed, before the next source is tried: the failed source's
   * description and the error (`Session.openSource` turns it into a `registry-warning` event).
   */
  onFallback?: (description: string, error: unknown) => void;
}

/**
 * A transport that reads from `sources` in order (mirrors first, the origin last) and writes to
 * the last one. `options.onFallback` hears each mirror failure (for a warning).
 */
export function mirroredTransport(sources: readonly PullSource[], options: MirrorOptions = {}): Transport {
  const onFallback = options.onFallback;
  const origin = sources[sources.length - 1]?.transport;
  if (origin === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'mirroredTransport needs at least one source');
  if (sources.length === 1) return origin;
  async function first<T>(op: (t: Transport) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let last: unknown;
    for (const source of sources) {
      try {
        return await op(source.transport);
      } catch (error) {
        if (signal?.aborted || (error instanceof OcibuildError && error.code === 'ERR_ABORTED')) throw error;
        last = error;
        if (source.mirror) onFallback?.(source.transport.description, error);
      }
    }
    throw last;
  }
  return {
    description: origin.description,
    ...(origin.origin ? { origin: origin.origin } : {}),
    getManifest: (reference, options) => first((t) => t.getManifest(reference, options), options?.signal),
    getBlob: (descriptor, options) => first((t) => t.getBlob(descriptor, options), options?.signal),
    async hasBlob(descriptor, options) {
      for (const source of sources) {
        if (await source.transport.hasBlob(descriptor, options).catch(() => false)) return true;
      }
      return false;
    },
    putManifest: (manifest, reference, options) => origin.putManifest(manifest, reference, options),
    putBlob: (descriptor, body, options) => origin.putBlob(descriptor, body, options),
    async close() {
      for (const source of sources) await source.transport.close?.();
    },
  };
}
