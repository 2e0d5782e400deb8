/**
 * tar-stream's header codec, shared by the readers that walk tar headers themselves (the layer
 * guard, the tar index) so they decode headers exactly as tar-stream's parser does. Imported as
 * a module, so a bundle carries the one copy tar-stream's parser uses; loading the package file
 * at run time (`createRequire`) started the CommonJS loader and a second copy for every command.
 * @module
 */
import codec from 'tar-stream/headers.js';

/** A header as tar-stream decodes it (the fields these readers use). */
export interface DecodedTarHeader {
  name: string;
  size: number | null;
  type: string | null;
  linkname: string | null;
}

/** The part of tar-stream's `headers.js` these readers call. */
export interface TarHeaderCodec {
  decode(buf: Uint8Array, filenameEncoding: string, allowUnknownFormat: boolean): DecodedTarHeader | null;
  decodePax(buf: Uint8Array): Record<string, string>;
  decodeLongPath(buf: Uint8Array, encoding: string): string;
}

/** tar-stream's header codec. */
export const tarHeaders = codec as TarHeaderCodec;
