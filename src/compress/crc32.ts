/**
 * CRC-32 (IEEE, as used by gzip), incremental.
 * @module
 */
import * as zlib from 'node:zlib';

type Crc32Fn = (data: Uint8Array, value?: number) => number;

// node:zlib gained crc32() in Node 20.15 / 22.2; it runs at several GB/s, the table below at a few
// hundred MB/s. Both give the same value, so the choice never changes output bytes.
const native = (zlib as unknown as { crc32?: Crc32Fn }).crc32;

let table: Uint32Array | undefined;

function tableCrc32(data: Uint8Array, value = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = (t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return ~crc >>> 0;
}

/**
 * Updates a CRC-32 with `data`: `crc32(b, crc32(a))` equals `crc32(a ++ b)`. Starts from 0.
 * Returns an unsigned 32-bit integer.
 */
export function crc32(data: Uint8Array, value = 0): number {
  return native !== undefined ? native(data, value) >>> 0 : tableCrc32(data, value);
}

/** The portable table implementation of {@link crc32}, exported for tests. */
export const crc32Portable: (data: Uint8Array, value?: number) => number = tableCrc32;
