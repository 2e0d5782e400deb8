/**
 * Byte-array helpers shared by the modules that assemble bytes in memory (tar headers, small
 * blobs read whole, manifests). Pure: no I/O.
 * @module
 */

/**
 * Joins byte arrays into one new plain `Uint8Array` (not a `Buffer`: callers compare and store
 * these bytes as they are). `total` is the sum of the lengths when the caller already has it.
 */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let length = total ?? 0;
  if (total === undefined) for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
