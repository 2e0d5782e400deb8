/**
 * Helpers for layer tests: read a built layer back with independent tools.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Headers } from 'tar-stream';

/** A header read back by tar-stream plus the entry's content. */
export interface ReadEntry {
  header: Headers;
  content: Buffer;
}

/** Parses an uncompressed tar with tar-stream (an implementation independent of ours). */
export async function readTar(tarBytes: Uint8Array): Promise<ReadEntry[]> {
  const extract = tar.extract();
  extract.end(Buffer.from(tarBytes));
  const out: ReadEntry[] = [];
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    out.push({ header: entry.header, content: Buffer.concat(parts) });
  }
  return out;
}

/** Reads a gzip layer blob from disk and parses it with tar-stream. */
export async function readLayerFile(file: string): Promise<ReadEntry[]> {
  return readTar(gunzipSync(await readFile(file)));
}

/** Lists a gzip layer with GNU tar (`tar -tvzf`, numeric owners, full ISO times). */
export function gnuTarList(file: string): string[] {
  const result = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvzf', file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tar -tvzf failed: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line !== '');
}
