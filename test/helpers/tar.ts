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
