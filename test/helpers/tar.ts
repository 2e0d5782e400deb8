/**
 * Tar archives built in memory exactly as given: tar-stream's packer does not normalise names,
 * so tests can craft hostile members (`../`, links out of the root, duplicates).
 * @module
 */
import tar from 'tar-stream';

/** One tar member: a tar-stream header plus an optional text body. */
export type TarMember = tar.Headers & { body?: string };

/** Packs `members` into an uncompressed tar; mode defaults to 0644 and mtime to 1000 ms. */
export async function tarBytes(members: TarMember[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => pack.on('end', resolve));
  for (const { body, ...header } of members) pack.entry({ mode: 0o644, mtime: new Date(1000), ...header }, body ?? '');
  pack.finalize();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

/** {@link tarBytes} as a one-chunk stream, the shape `extractLayer` reads. */
export async function makeTar(members: TarMember[]): Promise<AsyncIterable<Uint8Array>> {
  const bytes = await tarBytes(members);
  return (async function* () {
    yield bytes;
  })();
}

/**
 * One ustar header block written byte by byte, checksum included, for archives no packer would
 * produce; `size` is written in octal (any value ≤ 8 GiB) and need not match what follows.
 */
export function ustarHeader(name: string, typeflag: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(size.toString(8).padStart(11, '0') + '\0', 124);
  block.write('00000000001\0', 136);
  block.fill(0x20, 148, 156);
  block.write(typeflag, 156);
  block.write('ustar\0', 257);
  block.write('00', 263);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return block;
}
