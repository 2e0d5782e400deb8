/**
 * Computed layers through the cache: a layer whose inputs all have the stat they had when its
 * key was last recorded takes that key at once (layer-inputs.ts); otherwise list the entries,
 * hash their content (memoised by stat), look the key up;
 * on a hit reuse the stored blob without writing a tar or compressing anything, on a miss
 * write the layer once (checking that every file still has the content the key was made
 * from) and record it.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { LayerEncoder } from '../compress/types.ts';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { defaultSha256 } from '../hash/index.ts';
import { listLayerEntries, sourceDateEpochFromEnv } from '../layer/entries.ts';
import { defaultLayerMediaType, resolveLayerCompression, tarStream } from '../layer/write.ts';
import type { BuiltLayer, LayerEvent, LayerSpec, ResolvedLayerEntry } from '../layer/types.ts';
import { encoderIdentity, LayerKeyBuilder, type LayerWriterSettings } from './key.ts';
import type { CachedLayerRecord, LocalCache } from './store.ts';
import { inputsFingerprint, inputsRecord, matchesRecord, snapshotInputs, type LayerInputsRecord } from './layer-inputs.ts';

/** Options of {@link cachedWriteLayer}. */
export interface CachedWriteLayerOptions {
  /** Where the build keeps its layer files (the cached blob is linked here). */
  directory: string;
  /** `gzip`, `zstd` or `none`; default the encoder's format, else `gzip`. */
  compression?: 'gzip' | 'zstd' | 'none';
  /** Encoder (default libdeflate level 6 for gzip, zstd-wasm level 3 for zstd); its identity is part of the key. */
  encoder?: LayerEncoder;
  /** Media type (default the OCI layer type of the compression). */
  mediaType?: string;
  /** Default mtime in seconds. */
  sourceDateEpoch?: number;
  /**
   * Reuse a file's content digest while its size, inode, mtime and ctime are unchanged
   * (default true). The kernel updates ctime on every write and it cannot be set back, and a
   * digest is only remembered for files last changed well before they were hashed (git's
   * "racy" rule), so an edit is never missed; false hashes every file on every build.
   * Also turns on the layer's inputs record (layer-inputs.ts): when every path the layer's
   * walk keeps has the stat it had when the record was made, the key is taken from the record
   * without listing or hashing anything.
   */
  statMemo?: boolean;
  /** Abort signal. */
  signal?: AbortSignal;
  /** Warnings from the entry listing. */
  onEvent?: (event: LayerEvent) => void;
}

/** What {@link cachedWriteLayer} produced. */
export interface CachedLayerResult {
  /** The layer (its file lives in `directory`). */
  layer: BuiltLayer;
  /** True when it came from the cache without writing a tar. */
  cached: boolean;
  /** The input key. */
  key: string;
}

interface MemoRecord {
  /** `dev:ino:size:mtimeNs:ctimeNs`. */
  stat: string;
  digest: string;
}

/** A file changed within this long before it was hashed might change again unseen in the same clock tick. */
const RACY_NS = 2_000_000_000n;
const HASH_CONCURRENCY = 16;

/** Writes (or reuses from `cache`) the layer `spec` describes. */
export async function cachedWriteLayer(spec: LayerSpec, cache: LocalCache, options: CachedWriteLayerOptions): Promise<CachedLayerResult> {
  const { signal } = options;
  const { compression, encoder } = resolveLayerCompression(options.compression, options.encoder);
  const settings: LayerWriterSettings = {
    compression,
    encoder: encoderIdentity(encoder, compression),
    mediaType: options.mediaType ?? defaultLayerMediaType(compression),
  };
  const useMemo = options.statMemo ?? true;
  // Stat-only change detection (layer-inputs.ts): the snapshot is taken before anything is
  // listed or hashed, so a record made from it is never newer than the content behind its key.
  const fingerprint = useMemo ? inputsFingerprint(spec, settings, options.sourceDateEpoch ?? sourceDateEpochFromEnv()) : undefined;
  const snapshot = fingerprint !== undefined ? snapshotInputs(spec) : undefined;
  const inputsName = fingerprint !== undefined ? memoName(spec) : '';
  if (fingerprint !== undefined && snapshot !== undefined) {
    const record = await cache.readJson<LayerInputsRecord>('inputs', inputsName);
    if (matchesRecord(record, fingerprint, snapshot)) {
      const reused = await reuse(cache, record.key, options.directory);
      if (reused !== undefined) return reused;
    }
  }
  const entries: ResolvedLayerEntry[] = [];
  for await (const entry of listLayerEntries(spec, {
    sourceDateEpoch: options.sourceDateEpoch,
    signal,
    onEvent: options.onEvent,
  })) {
    entries.push(entry);
  }
  const digests = await contentDigests(entries, cache, memoName(spec), useMemo, signal);
  const builder = new LayerKeyBuilder(settings);
  entries.forEach((entry, i) => builder.add({ entry, contentDigest: digests[i] }));
  const key = builder.digest();
  // Recorded once the layer is in the cache, and only from a snapshot outside the racy window.
  const remember = async (): Promise<void> => {
    if (fingerprint !== undefined && snapshot !== undefined && !snapshot.racy) await cache.writeJson('inputs', inputsName, inputsRecord(fingerprint, key, snapshot));
  };
  const hit = await reuse(cache, key, options.directory);
  if (hit !== undefined) {
    await remember();
    return hit;
  }
  const record = await writeEntries(entries, digests, cache, settings, encoder, signal);
  await cache.putLayer(key, record);
  await remember();
  return { layer: await pinned(cache, record, options.directory), cached: false, key };
}

/** The cached layer of `key` linked into `directory`, or undefined when it is not (or no longer) in the cache. */
async function reuse(cache: LocalCache, key: string, directory: string): Promise<CachedLayerResult | undefined> {
  const hit = await cache.getLayer(key);
  if (hit === undefined) return undefined;
  try {
    return { layer: await pinned(cache, hit, directory), cached: true, key };
  } catch (error) {
    // Evicted between lookup and link: write it again.
    if (!(error instanceof OcibuildError && error.code === 'ERR_NOT_FOUND')) throw error;
    return undefined;
  }
}

async function pinned(cache: LocalCache, record: CachedLayerRecord, directory: string): Promise<BuiltLayer> {
  const digest = record.descriptor.digest;
  const file = path.join(directory, digest.slice(digest.indexOf(':') + 1));
  await cache.pinBlob(digest, file);
  return {
    descriptor: { ...record.descriptor },
    diffId: record.diffId,
    uncompressedSize: record.uncompressedSize,
    entryCount: record.entryCount,
    path: file,
    open: () => createReadStream(file) as AsyncIterable<Uint8Array>,
  };
}

/** The memo file of a spec: one per set of host sources, so projects do not share one huge file. */
function memoName(spec: LayerSpec): string {
  const h = createHash('sha256');
  for (const d of spec.directories ?? []) h.update(`${path.resolve(d.source)}\0${d.destination ?? '/'}\0`);
  for (const e of spec.entries ?? []) if (e.type === 'file' && typeof e.source === 'string') h.update(`${path.resolve(e.source)}\0`);
  return h.digest('hex');
}

async function hashStream(source: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of source) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

/** Content digests of every file entry (undefined for the rest), memoised by stat. */
async function contentDigests(
  entries: ResolvedLayerEntry[],
  cache: LocalCache,
  memoFile: string,
  useMemo: boolean,
  signal: AbortSignal | undefined,
): Promise<(string | undefined)[]> {
  const memo = useMemo ? ((await cache.readJson<Record<string, MemoRecord>>('memo', memoFile)) ?? {}) : {};
  const next: Record<string, MemoRecord> = {};
  const out: (string | undefined)[] = new Array(entries.length).fill(undefined);
  let cursor = 0;
  async function worker(): Promise<void> {
    for (let i = cursor++; i < entries.length; i = cursor++) {
      throwIfAborted(signal);
      const entry = entries[i] as ResolvedLayerEntry;
      if (entry.type !== 'file') continue;
      if (entry.size === 0 || entry.open === undefined) {
        out[i] = EMPTY_DIGEST;
        continue;
      }
      if (!useMemo || entry.source === undefined) {
        out[i] = await hashStream(entry.open());
        continue;
      }
      const before = lstatSync(entry.source, { bigint: true }); // sync: ~5 µs, where a promise costs ~20 µs of this thread
      const stat = `${before.dev}:${before.ino}:${before.size}:${before.mtimeNs}:${before.ctimeNs}`;
      const known = memo[entry.source];
      if (known !== undefined && known.stat === stat && Number(before.size) === entry.size) {
        out[i] = known.digest;
        next[entry.source] = known;
        continue;
      }
      const started = BigInt(Date.now()) * 1_000_000n;
      const digest = await hashStream(entry.open());
      out[i] = digest;
      const changed = before.mtimeNs > before.ctimeNs ? before.mtimeNs : before.ctimeNs;
      if (started - changed > RACY_NS) next[entry.source] = { stat, digest };
    }
  }
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, entries.length) }, worker));
  if (useMemo && !sameKeys(memo, next)) await cache.writeJson('memo', memoFile, next);
  return out;
}

const EMPTY_DIGEST = `sha256:${createHash('sha256').digest('hex')}`;

function sameKeys(a: Record<string, MemoRecord>, b: Record<string, MemoRecord>): boolean {
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  return ak.every((k) => b[k] !== undefined && b[k].stat === a[k]?.stat && b[k].digest === a[k]?.digest);
}

/** Yields a file's content while checking it still hashes to what the key was made from. */
function checked(entry: ResolvedLayerEntry, expected: string | undefined): ResolvedLayerEntry {
  const open = entry.open;
  if (open === undefined || expected === undefined || entry.size === 0) return entry;
  return {
    ...entry,
    open: async function* () {
      const h = createHash('sha256');
      for await (const chunk of open()) {
        h.update(chunk);
        yield chunk;
      }
      if (`sha256:${h.digest('hex')}` !== expected) {
        throw new OcibuildError('ERR_LAYER', `${entry.source ?? entry.path} changed while the layer was written; build again`);
      }
    },
  };
}

/** Writes the tar of `entries` into the cache and returns its record. */
async function writeEntries(
  entries: ResolvedLayerEntry[],
  digests: (string | undefined)[],
  cache: LocalCache,
  settings: LayerWriterSettings,
  encoder: LayerEncoder | undefined,
  signal: AbortSignal | undefined,
): Promise<CachedLayerRecord> {
  const tempDir = await cache.makeTempDir();
  try {
    const diffHasher = defaultSha256.create();
    const digestHasher = defaultSha256.create();
    const stats = { entries: 0 };
    let uncompressedSize = 0;
    async function* list(): AsyncGenerator<ResolvedLayerEntry> {
      for (const [i, entry] of entries.entries()) yield checked(entry, digests[i]);
    }
    async function* tapTar(): AsyncGenerator<Uint8Array> {
      for await (const chunk of tarStream(list(), stats, signal)) {
        diffHasher.update(chunk);
        uncompressedSize += chunk.length;
        yield chunk;
      }
    }
    const file = path.join(tempDir, 'layer');
    const handle = await fs.open(file, 'wx', 0o600);
    let size = 0;
    try {
      for await (const chunk of encoder !== undefined ? encoder.encode(tapTar()) : tapTar()) {
        throwIfAborted(signal);
        digestHasher.update(chunk);
        size += chunk.length;
        await handle.write(chunk);
      }
    } finally {
      await handle.close();
    }
    const diffId = diffHasher.digest();
    const digest = encoder !== undefined ? digestHasher.digest() : diffId;
    await cache.adoptFile(file, digest);
    return { descriptor: { mediaType: settings.mediaType, digest, size }, diffId, uncompressedSize, entryCount: stats.entries };
  } finally {
    await fs.rm(tempDir, { recursive: true, force: true });
  }
}
