/**
 * Fetching one npm package tarball from the URL a lockfile names, verifying it against the
 * lockfile's `integrity` while it streams, and unpacking it (the first path component,
 * `package/`, stripped; regular files and directories only; no path may escape) into a
 * content-addressed store directory, so each tarball is downloaded once per machine.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { DigestMismatchError, InvalidArgumentError, LimitExceededError, NotFoundError, OcibuildError } from '../errors.ts';

/** Tarballs bigger than this are refused. */
export const MAX_TARBALL_BYTES = 512 * 1024 * 1024;
/** Unpacked packages bigger than this (sum of file sizes) are refused. */
export const MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024;
/** Packages with more entries than this are refused. */
export const MAX_TARBALL_ENTRIES = 200_000;

/** What to fetch. */
export interface PackageSource {
  /** Package name, for messages. */
  name: string;
  /** Tarball URL (http or https). */
  resolved: string;
  /** SRI string (`sha512-BASE64`, possibly several space-separated). */
  integrity: string;
}

const ALGORITHMS = ['sha512', 'sha384', 'sha256', 'sha1'] as const;

/** The strongest hash of an SRI string that Node can compute. */
export function parseIntegrity(integrity: string, where: string): { algorithm: string; digest: string } {
  const hashes = integrity.trim().split(/\s+/).map((h) => {
    const at = h.indexOf('-');
    return { algorithm: h.slice(0, at), digest: h.slice(at + 1).replace(/\?.*$/, '') };
  });
  for (const algorithm of ALGORITHMS) {
    const found = hashes.find((h) => h.algorithm === algorithm && h.digest !== '');
    if (found !== undefined) return found;
  }
  throw new InvalidArgumentError(`${where}: integrity ${JSON.stringify(integrity)} has no sha512, sha384, sha256 or sha1 hash`);
}

/**
 * Returns the directory holding the unpacked package (its package.json at the top), fetching
 * and verifying it first unless `storeDir` already has it.
 */
export async function fetchPackage(source: PackageSource, storeDir: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  const where = `${source.name} (${source.resolved})`;
  const { algorithm, digest } = parseIntegrity(source.integrity, where);
  const dir = path.join(storeDir, `${algorithm}-${Buffer.from(digest, 'base64').toString('hex')}`);
  if (await fs.access(path.join(dir, '.complete')).then(() => true, () => false)) return path.join(dir, 'package');
  if (!/^https?:\/\//.test(source.resolved)) throw new OcibuildError('ERR_UNSUPPORTED', `${where}: only http(s) tarball URLs can be fetched`);
  await fs.mkdir(storeDir, { recursive: true });
  const staging = await fs.mkdtemp(`${dir}.tmp-`);
  try {
    const response = await fetch(source.resolved, { signal: options.signal, redirect: 'follow' });
    if (!response.ok || response.body === null) throw new NotFoundError(`${where}: HTTP ${response.status}`);
    const hash = createHash(algorithm);
    let total = 0;
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const counted = body.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_TARBALL_BYTES) body.destroy(new LimitExceededError('maxTarballBytes', MAX_TARBALL_BYTES, `${where}: more than ${MAX_TARBALL_BYTES} bytes`));
      hash.update(chunk);
    });
    await unpack(counted.pipe(createGunzip()), path.join(staging, 'package'), where);
    const actual = hash.digest('base64');
    // Checked after the last byte: nothing is moved into the store unless it matches.
    if (actual !== digest) throw new DigestMismatchError(`${algorithm}-${digest}`, `${algorithm}-${actual}`, where);
    await fs.writeFile(path.join(staging, '.complete'), '');
    await fs.rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another build stored it meanwhile: keep theirs.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      await fs.rm(staging, { recursive: true, force: true });
    });
    return path.join(dir, 'package');
  } catch (error) {
    await fs.rm(staging, { recursive: true, force: true });
    if (error instanceof OcibuildError) throw error;
    throw new OcibuildError('ERR_TRANSPORT', `${where}: ${(error as Error).message}`, { cause: error });
  }
}

async function unpack(stream: NodeJS.ReadableStream, dest: string, where: string): Promise<void> {
  await fs.mkdir(dest, { recursive: true });
  const extract = tar.extract();
  stream.on('error', (error) => extract.destroy(error as Error));
  // The iterator is attached in this same tick: entries emitted before it would be lost.
  const iterator = extract[Symbol.asyncIterator]();
  stream.pipe(extract);
  let entries = 0;
  let bytes = 0;
  for await (const entry of { [Symbol.asyncIterator]: () => iterator }) {
    if (++entries > MAX_TARBALL_ENTRIES) throw new LimitExceededError('maxTarballEntries', MAX_TARBALL_ENTRIES, `${where}: more than ${MAX_TARBALL_ENTRIES} entries`);
    const segments = entry.header.name.split('/').filter((s) => s !== '' && s !== '.');
    segments.shift(); // npm's tarballs put everything under one top directory, usually package/
    const type = entry.header.type;
    if (segments.length === 0 || segments.includes('..') || (type !== 'file' && type !== 'directory')) {
      entry.resume();
      continue;
    }
    const target = path.join(dest, ...segments);
    if (type === 'directory') {
      await fs.mkdir(target, { recursive: true });
      entry.resume();
      continue;
    }
    bytes += entry.header.size ?? 0;
    if (bytes > MAX_UNPACKED_BYTES) throw new LimitExceededError('maxUnpackedBytes', MAX_UNPACKED_BYTES, `${where}: unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    // npm packs files 0644 or 0755; keep the executable bit only.
    await fs.writeFile(target, Buffer.concat(chunks), { mode: ((entry.header.mode ?? 0o644) & 0o111) !== 0 ? 0o755 : 0o644 });
  }
}
