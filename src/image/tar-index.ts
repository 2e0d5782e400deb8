/**
 * Random access into a plain (uncompressed) tar file: one pass over the headers records where
 * each member's bytes start, so members can then be streamed by byte range without extracting
 * anything. Header decoding is tar-stream's; this module only walks the file.
 * @module
 */
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { LimitExceededError, OcibuildError } from '../errors.ts';
import { DEFAULT_TAR_LIMITS, type TarLimits } from '../layer/tar-guard.ts';
import { tarHeaders as headers, type DecodedTarHeader as DecodedHeader } from '../layer/tar-headers.ts';

/** A member of a tar file. */
export interface TarMember {
  /** Normalised path (no leading `./` or `/`). */
  name: string;
  /** tar-stream's type name (`file`, `symlink`, `link`, `directory`, ...). */
  type: string;
  /** Link target for symlinks and hard links. */
  linkname: string | undefined;
  /** Byte offset of the member's content in the tar file. */
  offset: number;
  /** Content size in bytes. */
  size: number;
}

const BLOCK = 512;
const GZIP_MAGIC = [0x1f, 0x8b];

/** Normalises a member path: POSIX, without `./` or leading `/`. */
export function normalizeMemberName(name: string): string {
  const normalized = posix.normalize(`/${name}`).slice(1);
  return normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/**
 * Reads all member headers of the tar file at `path`. `where` names the file in errors.
 * Throws `ERR_UNSUPPORTED` for a compressed tar and `ERR_INVALID_ARGUMENT` for a corrupt one;
 * `LimitExceededError` for an extended header over `limits.maxHeaderBytes` (read into memory)
 * or more members than `limits.maxEntries` (kept in the index), defaults `DEFAULT_TAR_LIMITS`.
 */
export async function indexTar(
  path: string,
  where: string,
  limits: Pick<TarLimits, 'maxHeaderBytes' | 'maxEntries'> = DEFAULT_TAR_LIMITS,
): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const file = await open(path, 'r');
  try {
    const { size: fileSize } = await file.stat();
    // Buffers, because tar-stream's codec decodes strings with Buffer methods.
    const block = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    while (offset + BLOCK <= fileSize) {
      await readExactly(file, block, offset);
      if (offset === 0 && block[0] === GZIP_MAGIC[0] && block[1] === GZIP_MAGIC[1]) {
        throw new OcibuildError('ERR_UNSUPPORTED', `${where} is gzip-compressed; decompress it first`);
      }
      let header: DecodedHeader | null;
      try {
        header = headers.decode(block, 'utf-8', true);
      } catch (error) {
        throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: corrupt tar header at byte ${offset}`, { cause: error });
      }
      if (header === null) break; // end-of-archive marker
      const dataOffset = offset + BLOCK;
      const declared = pax['size'] !== undefined ? Number(pax['size']) : (header.size ?? Number.NaN);
      if (!Number.isSafeInteger(declared) || declared < 0 || dataOffset + declared > fileSize) {
        throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: truncated tar member at byte ${offset}`);
      }
      offset = dataOffset + Math.ceil(declared / BLOCK) * BLOCK;
      const extended = header.type === 'pax-header' || header.type === 'pax-global-header' || header.type === 'gnu-long-path' || header.type === 'gnu-long-link-path';
      if (extended && declared > limits.maxHeaderBytes) {
        throw new LimitExceededError(
          'maxHeaderBytes',
          limits.maxHeaderBytes,
          `${where}: ${header.type} of ${declared} bytes at byte ${dataOffset - BLOCK} is over the ${limits.maxHeaderBytes}-byte limit (tar limit maxHeaderBytes)`,
        );
      }
      if (!extended && members.size >= limits.maxEntries) {
        throw new LimitExceededError('maxEntries', limits.maxEntries, `${where} has more than ${limits.maxEntries} members (tar limit maxEntries)`);
      }
      switch (header.type) {
        case 'pax-header':
          pax = headers.decodePax(await readRange(file, dataOffset, declared));
          continue;
        case 'pax-global-header':
          continue;
        case 'gnu-long-path':
          longName = headers.decodeLongPath(await readRange(file, dataOffset, declared), 'utf-8');
          continue;
        case 'gnu-long-link-path':
          longLink = headers.decodeLongPath(await readRange(file, dataOffset, declared), 'utf-8');
          continue;
        default: {
          const name = normalizeMemberName(pax['path'] ?? longName ?? header.name);
          const linkname = pax['linkpath'] ?? longLink ?? header.linkname ?? undefined;
          members.set(name, { name, type: header.type ?? 'unknown', linkname, offset: dataOffset, size: declared });
          longName = undefined;
          longLink = undefined;
          pax = {};
        }
      }
    }
  } finally {
    await file.close();
  }
  return members;
}

/**
 * Finds the regular file a member name refers to, following symlinks (relative to the link's
 * directory, as skopeo's legacy `<id>/layer.tar -> ../<hex>.tar` links are) and hard links.
 */
export function resolveMember(members: ReadonlyMap<string, TarMember>, name: string): TarMember | undefined {
  let current = normalizeMemberName(name);
  for (let hops = 0; hops < 16; hops++) {
    const member = members.get(current);
    if (member === undefined) return undefined;
    if (member.type === 'file' || member.type === 'contiguous-file') return member;
    if (member.linkname === undefined) return undefined;
    if (member.type === 'symlink') current = normalizeMemberName(posix.join(posix.dirname(current), member.linkname));
    else if (member.type === 'link') current = normalizeMemberName(member.linkname);
    else return undefined;
  }
  return undefined;
}

/** Reads `length` bytes at `position` of an open file. */
async function readRange(file: import('node:fs/promises').FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = Buffer.alloc(length);
  await readExactly(file, out, position);
  return out;
}

async function readExactly(file: import('node:fs/promises').FileHandle, buffer: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.byteLength) {
    const { bytesRead } = await file.read(buffer, done, buffer.byteLength - done, position + done);
    if (bytesRead === 0) throw new OcibuildError('ERR_INVALID_ARGUMENT', `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}
