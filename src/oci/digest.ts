/**
 * Digest parsing and verification (sha256, sha512), per the OCI descriptor spec.
 * @module
 */
import { OcibuildError } from '../errors.ts';

export { parseDigest, type ParsedDigest } from '../hash/digest.ts';
import { parseDigest } from '../hash/digest.ts';

/** True when `digest` is a valid sha256/sha512 digest. */
export function isDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}
