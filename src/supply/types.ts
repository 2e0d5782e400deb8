/**
 * The shared shapes of the supply-chain module: what an SBOM lists, and what is attached to an
 * image as an OCI referrer (an artifact manifest whose `subject` is the image manifest).
 *
 * Producers (the Node preset's lockfile, the rootfs scanner) give {@link SbomPackage}s; the SBOM
 * writers turn an {@link SbomInput} into SPDX or CycloneDX bytes; the attacher pushes any
 * {@link Attachment} (SBOM, provenance, signature) next to the image it describes.
 * @module
 */

/**
 * The SBOM formats ocibuild writes.
 * @category Supply chain
 */
export type SbomFormat = 'spdx' | 'cyclonedx';

/**
 * A checksum of a package, as its package manager recorded it (hex, lower case).
 * @category Supply chain
 */
export interface SbomChecksum {
  /** Hash algorithm, in SPDX spelling. */
  algorithm: 'SHA1' | 'SHA256' | 'SHA512' | 'MD5';
  /** Hex digest. */
  value: string;
}

/**
 * One package found in an image, with where ocibuild learnt of it.
 * @category Supply chain
 */
export interface SbomPackage {
  /** Package name as its ecosystem spells it (`@scope/name` for npm). */
  name: string;
  /** Exact version. */
  version: string;
  /** Package URL (`pkg:npm/%40scope/name@1.2.3`, `pkg:deb/debian/bash@5.2?arch=amd64`, ...). */
  purl: string;
  /** Where it comes from. */
  ecosystem: 'npm' | 'deb' | 'apk' | 'python';
  /** Checksums recorded by the package manager (npm `integrity`, apk `C:`...). */
  checksums?: readonly SbomChecksum[];
  /** SPDX licence expression declared by the package, when it declares one. */
  license?: string;
  /** Purls of the packages this one depends on (only those also listed). */
  dependsOn?: readonly string[];
  /** Path in the image of the package's record (`/usr/lib/node_modules/x/package.json`). */
  path?: string;
  /** DiffID of the layer that put the record there, when known. */
  layer?: string;
}

/**
 * Everything an SBOM writer needs; the output depends on nothing else (no clock, no randomness).
 * @category Supply chain
 */
export interface SbomInput {
  /** What the SBOM describes: the image reference the user named, and its manifest digest when known. */
  subject: { name: string; digest?: string };
  /** The packages, in any order (writers sort). */
  packages: readonly SbomPackage[];
  /** Creation time (from SOURCE_DATE_EPOCH when set, else the image's `created`). */
  created: Date;
  /** The tool that wrote it. */
  tool: { name: string; version: string };
}

/**
 * A document to attach to an image as an OCI referrer.
 * @category Supply chain
 */
export interface Attachment {
  /** The manifest's `artifactType` (`application/spdx+json`, `application/vnd.in-toto+json`, ...). */
  artifactType: string;
  /** Media type of the single layer holding `bytes`. */
  mediaType: string;
  /** The document. */
  bytes: Uint8Array;
  /** Annotations of the artifact manifest (`org.opencontainers.image.created` among them). */
  annotations?: Readonly<Record<string, string>>;
}
