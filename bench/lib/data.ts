/**
 * Deterministic benchmark data: pseudo-random trees and large files that compress like real
 * ones (text-like source, incompressible binaries, repeated blocks). Same parameters, same bytes.
 * @module
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { prng } from '../../test/helpers/data.ts';

export { prng };

/** Fast deterministic incompressible bytes (AES-CTR keystream). */
export function randomSource(seed: string): (size: number) => Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, key.subarray(0, 16));
  return (size) => cipher.update(Buffer.alloc(size));
}

const WORDS = (
  'function return const let var if else for while module exports require import from default ' +
  'this value index length object string number undefined null true false async await new class ' +
  'extends super prototype callback error options result data buffer stream push map filter reduce'
).split(' ');

/** Text that compresses roughly like minified/unminified JavaScript (~4-5x with gzip -6). */
export function textLike(size: number, rand: () => number): Buffer {
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const word = WORDS[Math.floor(rand() * WORDS.length)]!;
    const sep = rand() < 0.1 ? ';\n  ' : rand() < 0.3 ? '(' : rand() < 0.5 ? '.' : ' ';
    const piece = rand() < 0.05 ? `${word}${Math.floor(rand() * 1e6).toString(36)}${sep}` : `${word}${sep}`;
    parts.push(piece);
    length += piece.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

/** Shape of {@link makeTree}'s output. */
export interface TreeOptions {
  /** Number of files. */
  files: number;
  /** Approximate total bytes. */
  bytes: number;
}

/** Writes a node_modules-like tree: packages with lib/ and dist/ dirs, mostly text, some binaries. */
export async function makeTree(root: string, options: TreeOptions): Promise<number> {
  const rand = prng(42);
  const random = randomSource('tree');
  const average = options.bytes / options.files;
  let total = 0;
  for (let i = 0; i < options.files; i++) {
    const pkg = `pkg-${Math.floor(i / 12)}`;
    const sub = ['lib', 'dist', 'src', ''][i % 4]!;
    const dir = path.join(root, 'node_modules', pkg, sub);
    await fs.mkdir(dir, { recursive: true });
    // Log-normal-ish sizes: many small files, a few big ones, mean ≈ average.
    const size = Math.max(1, Math.floor(average * -Math.log(1 - rand() * 0.999)));
    const binary = rand() < 0.08;
    const content = binary ? random(size) : textLike(size, rand);
    await fs.writeFile(path.join(dir, `file-${i}${binary ? '.node' : '.js'}`), content);
    total += size;
  }
  return total;
}

/**
 * Writes a big file of `size` bytes in 1 MiB blocks that mix random data (like compressed
 * assets), text and repeated blocks (like binaries with padding), about 1:1:1.
 */
export async function makeBigFile(file: string, size: number): Promise<void> {
  const rand = prng(7);
  const random = randomSource('big');
  const block = 1 << 20;
  const repeated = Buffer.concat(Array.from({ length: 256 }, () => random(4096)));
  const out = createWriteStream(file);
  for (let written = 0; written < size; written += block) {
    const n = Math.min(block, size - written);
    const kind = rand();
    const chunk = kind < 0.34 ? random(n) : kind < 0.67 ? textLike(n, rand) : repeated.subarray(0, n);
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
