/**
 * Digest strings (`algorithm:hex`, sha256 or sha512, per the OCI descriptor spec): parsed here,
 * next to the hashes that make them, so stream verification below the OCI model can check them.
 * @module
 */
import { OcibuildError } from '../errors.ts';

/** A parsed digest. */
export interface ParsedDigest {
  /** `sha256` or `sha512`. */
  algorithm: 'sha256' | 'sha512';
  /** Lower-case hex. */
  hex: string;
}

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;

/** Parses and validates `algorithm:hex`. Throws `ERR_INVALID_DIGEST`. */
export function parseDigest(digest: string): ParsedDigest {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (colon <= 0 || (algorithm !== 'sha256' && algorithm !== 'sha512')) {
    throw new OcibuildError('ERR_INVALID_DIGEST', `invalid digest ${JSON.stringify(digest)}: algorithm must be sha256 or sha512`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OcibuildError(
      'ERR_INVALID_DIGEST',
      `invalid digest ${JSON.stringify(digest)}: expected ${HEX_LENGTH[algorithm]} lower-case hex characters`,
    );
  }
  return { algorithm, hex };
}
