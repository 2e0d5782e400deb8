/**
 * Tar header encoding (ustar, PAX extended headers only where ustar cannot say it). Pure, no I/O.
 * Follows POSIX.1-2001 pax: `path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime` records.
 * @module
 */
import { concatBytes } from '../bytes.ts';
import type { ResolvedLayerEntry, ResolvedEntryType } from './types.ts';

/** Size of a tar block. */
export const BLOCK_SIZE = 512;

/** The end-of-archive marker: two zero blocks (no record padding, like Go's archive/tar). */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(BLOCK_SIZE * 2);

const TYPEFLAG: Record<ResolvedEntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  'char-device': 0x33,
  'block-device': 0x34,
  directory: 0x35,
  fifo: 0x36,
};
const PAX_TYPEFLAG = 0x78; // 'x'

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;
const encoder = new TextEncoder();

/** Returns the number of zero bytes that pad `size` content bytes to a whole block. */
export function paddingFor(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80 || b === 0) return false;
  return true;
}

function writeString(block: Uint8Array, offset: number, length: number, bytes: Uint8Array): void {
  block.set(bytes.subarray(0, length), offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  // length - 1 zero-padded digits and a NUL, as Go and GNU tar write them.
  const digits = Math.trunc(value).toString(8).padStart(length - 1, '0');
  for (let i = 0; i < length - 1; i++) block[offset + i] = digits.charCodeAt(i);
  block[offset + length - 1] = 0;
}

/** Splits a name into ustar prefix (≤155 bytes) and name (≤100 bytes) at a `/`, or returns undefined. */
function splitUstarName(name: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  if (name.length <= 100) return [new Uint8Array(0), name];
  if (name.length > 256) return undefined;
  // The longest prefix that fits keeps the name part short; search from there down.
  for (let i = Math.min(155, name.length - 2); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.subarray(0, i), name.subarray(i + 1)];
    }
  }
  return undefined;
}

function paxRecord(key: string, value: string): Uint8Array {
  // "LEN key=value\n" where LEN counts the whole record including its own digits.
  const body = encoder.encode(` ${key}=${value}\n`);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return concatBytes([encoder.encode(String(length)), body]);
}

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: Uint8Array;
  uname: Uint8Array;
  gname: Uint8Array;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: HeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  writeString(block, 0, 100, f.name);
  writeOctal(block, 100, 8, f.mode);
  writeOctal(block, 108, 8, f.uid);
  writeOctal(block, 116, 8, f.gid);
  writeOctal(block, 124, 12, f.size);
  writeOctal(block, 136, 12, f.mtime);
  block.fill(0x20, 148, 156); // checksum computed with its own field as spaces
  block[156] = f.typeflag;
  writeString(block, 157, 100, f.linkname);
  writeString(block, 257, 6, encoder.encode('ustar\0'));
  writeString(block, 263, 2, encoder.encode('00'));
  writeString(block, 265, 32, f.uname);
  writeString(block, 297, 32, f.gname);
  writeOctal(block, 329, 8, f.devmajor);
  writeOctal(block, 337, 8, f.devminor);
  writeString(block, 345, 155, f.prefix);
  let sum = 0;
  for (const b of block) sum += b;
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** The name stored in the tar for an entry: directories end with `/`. */
export function tarName(entry: Pick<ResolvedLayerEntry, 'path' | 'type'>): string {
  return entry.type === 'directory' ? `${entry.path}/` : entry.path;
}

/**
 * Encodes the header block(s) of one entry: a PAX extended header first when a field does not
 * fit ustar (long or non-ASCII names and link targets, sizes ≥ 8 GiB, large ids, long or
 * non-ASCII user names, mtimes out of range), then the ustar header. Content and padding follow.
 */
export function encodeHeader(entry: ResolvedLayerEntry): Uint8Array {
  const pax: [string, string][] = [];
  const nameString = tarName(entry);
  const name = encoder.encode(nameString);
  let split = isAscii(name) ? splitUstarName(name) : undefined;
  if (split === undefined) {
    pax.push(['path', nameString]);
    split = [new Uint8Array(0), name.subarray(0, 100)];
  }
  const linkString = entry.linkname ?? '';
  let linkname = encoder.encode(linkString);
  if (linkname.length > 100 || !isAscii(linkname)) {
    pax.push(['linkpath', linkString]);
    linkname = linkname.subarray(0, 100);
  }
  const size = entry.type === 'file' ? entry.size : 0;
  const numeric = (key: string, value: number, max: number): number => {
    if (value >= 0 && value <= max && Number.isInteger(value)) return value;
    pax.push([key, String(value)]);
    return 0;
  };
  const fields: HeaderFields = {
    name: split[1],
    prefix: split[0],
    mode: entry.mode & 0o7777,
    uid: numeric('uid', entry.uid, MAX_OCTAL_7),
    gid: numeric('gid', entry.gid, MAX_OCTAL_7),
    size: numeric('size', size, MAX_OCTAL_11),
    mtime: numeric('mtime', entry.mtime, MAX_OCTAL_11),
    typeflag: TYPEFLAG[entry.type],
    linkname,
    uname: encoder.encode(entry.uname),
    gname: encoder.encode(entry.gname),
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  };
  for (const key of ['uname', 'gname'] as const) {
    if (fields[key].length > 32 || !isAscii(fields[key])) {
      pax.push([key, entry[key]]);
      fields[key] = new Uint8Array(0);
    }
  }
  const header = ustarBlock(fields);
  if (pax.length === 0) return header;
  // Sorted keys so the PAX body never depends on the order the checks ran in.
  pax.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const body = concatBytes(pax.map(([k, v]) => paxRecord(k, v)));
  const paxHeader = ustarBlock({
    ...fields,
    name: encoder.encode('PaxHeader'),
    prefix: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: fields.mtime,
    typeflag: PAX_TYPEFLAG,
    linkname: new Uint8Array(0),
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    devmajor: 0,
    devminor: 0,
  });
  return concatBytes([paxHeader, body, new Uint8Array(paddingFor(body.length)), header]);
}
