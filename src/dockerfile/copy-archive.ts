/**
 * ADD's extras: local tar archives (plain, gzip, bzip2, xz, zstd; detected by content, not by
 * name) are unpacked into the destination, and `http(s)://` sources are downloaded (not
 * unpacked) with mode 0600, verified against `--checksum=sha256:...` when given.
 * bzip2, xz and zstd are decoded by the system tools of the same name (see compress/external.ts).
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import { decompressFile } from '../compress/external.ts';
import type { CopyItem, SourceNode } from './copy.ts';
import { memberPath, walkTar } from './interpret-fs.ts';

/** Reports whether an ADD source is a URL. */
export function isUrlSource(word: string): boolean {
  return /^https?:\/\//i.test(word);
}

function tempFile(dir: string, prefix: string): string {
  return path.join(dir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Compression of a file by its magic bytes. */
export function detectCompression(head: Uint8Array): 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none' {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  return 'none';
}

/** True when a 512-byte block looks like a tar header (ustar magic, or a valid v7 checksum). */
export function looksLikeTar(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const magic = Buffer.from(block.subarray(257, 263)).toString('latin1');
  if (magic === 'ustar\0' || magic === 'ustar ') return true;
  const stored = parseInt(Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]/g, ''), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  return sum === stored && block[0] !== 0;
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * If the host file is a (possibly compressed) tar archive, returns an item with its entries
 * (owners and modes as stored); otherwise undefined. Content goes to files under `workDir`.
 */
export async function archiveItem(file: string, name: string, workDir: string, location: DockerfileLocation): Promise<CopyItem | undefined> {
  const compression = detectCompression(await readHead(file, 8));
  let tarFile = file;
  if (compression !== 'none') {
    tarFile = tempFile(workDir, 'add-archive');
    try {
      await decompressFile(file, compression, tarFile);
    } catch {
      // Not decodable: BuildKit then copies the file as it is.
      return undefined;
    }
  }
  if (!looksLikeTar(await readHead(tarFile, 512))) return undefined;
  const nodes: SourceNode[] = [];
  const files = new Map<string, string>();
  try {
    await walkTar(createReadStream(tarFile) as AsyncIterable<Uint8Array>, async (header, body) => {
      const rel = memberPath(header.name);
      if (rel === '' || rel.split('/').includes('..')) return;
      const meta = { rel, mode: (header.mode ?? 0o644) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 };
      if (header.type === 'directory') nodes.push({ ...meta, type: 'directory' });
      else if (header.type === 'symlink') nodes.push({ ...meta, type: 'symlink', linkname: header.linkname ?? '' });
      else if (header.type === 'link') {
        const target = memberPath(header.linkname ?? '');
        if (files.has(target)) nodes.push({ ...meta, type: 'hardlink', linkname: target });
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        const host = tempFile(workDir, 'add-entry');
        await pipeline(Readable.from(body), createWriteStream(host, { mode: 0o600 }));
        files.set(rel, host);
        nodes.push({ ...meta, type: 'file', content: { kind: 'host', path: host } });
      }
    });
  } catch (error) {
    throw new DockerfileError(location, `ADD failed: cannot unpack ${name}: ${(error as Error).message}`, { cause: error });
  }
  // Later members replace earlier ones with the same path, as tar extraction does.
  const last = new Map<string, SourceNode>();
  for (const n of nodes) last.set(n.rel, n);
  return { kind: 'tree', name, root: { rel: '', type: 'directory', mode: 0o755, uid: 0, gid: 0 }, nodes: [...last.values()] };
}

/** Options of {@link downloadItem}. */
export interface DownloadOptions {
  /** Where the download is kept. */
  workDir: string;
  /** `--checksum` value (`sha256:<hex>`). */
  checksum: string | undefined;
  /** Where errors point. */
  location: DockerfileLocation;
  /** Abort signal. */
  signal?: AbortSignal;
}

/** Downloads a URL source into a single-file item (mode 0600, never unpacked). */
export async function downloadItem(url: string, options: DownloadOptions): Promise<CopyItem> {
  const { location } = options;
  let expected: string | undefined;
  if (options.checksum !== undefined) {
    const m = /^sha256:([0-9a-f]{64})$/.exec(options.checksum);
    if (!m) throw new DockerfileError(location, `invalid checksum ${JSON.stringify(options.checksum)}: expected sha256:<64 hex digits>`);
    expected = m[1];
  }
  let pathname = '';
  try {
    pathname = new URL(url).pathname;
  } catch {
    throw new DockerfileError(location, `ADD failed: invalid URL ${JSON.stringify(url)}`);
  }
  const base = path.posix.basename(pathname);
  const name = base === '' || base === '.' || base === '/' ? '__unnamed__' : decodeURIComponent(base);
  const host = tempFile(options.workDir, 'add-url');
  const hash = createHash('sha256');
  try {
    // undici's index (fetch and all) is loaded only by an ADD of a URL (see registry/undici-lib.ts).
    const { fetch } = await import('undici');
    const response = await fetch(url, { redirect: 'follow', signal: options.signal });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const sink = createWriteStream(host, { mode: 0o600 });
    async function* tap(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        hash.update(chunk);
        yield chunk;
      }
    }
    await pipeline(Readable.from(tap(response.body as AsyncIterable<Uint8Array>)), sink);
  } catch (error) {
    throw new DockerfileError(location, `ADD failed: cannot download ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  }
  const actual = hash.digest('hex');
  if (expected !== undefined && actual !== expected) {
    throw new DockerfileError(location, `ADD failed: checksum mismatch for ${redactUrl(url)}: expected sha256:${expected}, got sha256:${actual}`);
  }
  return { kind: 'single', name, nodes: [{ rel: '', type: 'file', mode: 0o600, uid: 0, gid: 0, content: { kind: 'host', path: host } }] };
}

/** Drops user info and the query from a URL for messages (they may hold secrets). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}
