/**
 * Events of reading a base image: each blob downloaded from a registry (start, progress at most
 * ten times a second, done), named by the image reference and the blob's digest, and a warning
 * when a mirror fails and the next source is tried. Blobs served by the local cache are not
 * downloads and emit nothing.
 * @module
 */
import { VerifiedStream } from '../blob/verify.ts';
import type { Transport } from '../transports/types.ts';

/**
 * A blob of a base image read from a registry.
 * @category Build
 */
export interface DownloadEvent {
  /** Event kind. */
  type: 'download';
  /** The image reference as given (`127.0.0.1:5000/busybox:1`). */
  image: string;
  /** The blob's digest. */
  digest: string;
  /** `start` once, `progress` at most every 100 ms, `done` when all bytes were read and verified. */
  phase: 'start' | 'progress' | 'done';
  /** Bytes read so far. */
  bytes: number;
  /** The blob's size. */
  total: number;
}

/**
 * A registry source that failed (a mirror), with the next source tried instead.
 * @category Build
 */
export interface RegistryWarningEvent {
  /** Event kind. */
  type: 'registry-warning';
  /** The image reference as given. */
  image: string;
  /** The source that failed (`mirror.example/library/busybox`). */
  source: string;
  /** What went wrong, and that the next source is tried. */
  message: string;
}

/**
 * Events of opening and reading a source image.
 * @category Build
 */
export type SourceEvent = DownloadEvent | RegistryWarningEvent;

/**
 * Where source events go (the second argument of `Session.openSource`).
 * @category Build
 */
export interface SourceEventOptions {
  /** Receives download progress and mirror warnings. */
  onEvent?: (event: SourceEvent) => void;
}

/** Least time between two `progress` events of one blob. */
const PROGRESS_INTERVAL_MS = 100;

/** Wraps `transport` so each blob read through it emits `download` events. */
export function withDownloadEvents(transport: Transport, image: string, emit: (event: SourceEvent) => void): Transport {
  const wrapped: Transport = {
    ...transport,
    async getBlob(descriptor, options) {
      const body = await transport.getBlob(descriptor, options);
      const base = { type: 'download' as const, image, digest: descriptor.digest, total: descriptor.size };
      const events = (async function* () {
        let bytes = 0;
        let last = Date.now();
        emit({ ...base, phase: 'start', bytes });
        for await (const chunk of body) {
          bytes += chunk.byteLength;
          const now = Date.now();
          if (now - last >= PROGRESS_INTERVAL_MS && bytes < descriptor.size) {
            last = now;
            emit({ ...base, phase: 'progress', bytes });
          }
          yield chunk;
        }
        emit({ ...base, phase: 'done', bytes });
      })();
      // Every byte passes through unchanged and errors propagate: still verified, so whoever
      // writes it (an oci: layout, the cache) does not hash the blob a second time.
      const verified = VerifiedStream.targetOf(body);
      return verified === undefined ? events : new VerifiedStream(events, verified);
    },
  };
  return wrapped;
}
