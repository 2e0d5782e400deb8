/**
 * Resolving the base image of a build: `scratch`, or a manifest (possibly inside an index)
 * read from any transport. Base layers stay lazy: only their descriptors are read here.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { parseConfig } from '../oci/config.ts';
import { parseManifest, selectManifest } from '../oci/manifest.ts';
import { formatPlatform, normalizePlatform } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../oci/types.ts';
import { readAll } from '../image/verify.ts';
import type { OperationOptions, Transport } from '../transports/types.ts';

/** A base image resolved for one platform. */
export interface ResolvedBase {
  /** The base's config (a fresh one for scratch). */
  config: ImageConfig;
  /** Base layer descriptors, bottom first. */
  layers: Descriptor[];
  /** Where the layers can be read from; undefined for scratch. */
  transport: Transport | undefined;
  /** Digest of what `from` named (the index when it is one), for the base annotations. */
  digest: string | undefined;
  /** Digest of the platform's manifest. */
  manifestDigest: string | undefined;
  /** The base's manifest. */
  manifest: ImageManifest | undefined;
}

/** A fresh config for `FROM scratch` on `platform`. */
export function scratchConfig(platform: Platform): ImageConfig {
  const p = normalizePlatform(platform);
  const config: ImageConfig = {
    architecture: p.architecture,
    os: p.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (p.variant !== undefined) config.variant = p.variant;
  return config;
}

/** The base for `scratch`. */
export function scratchBase(platform: Platform): ResolvedBase {
  return {
    config: scratchConfig(platform),
    layers: [],
    transport: undefined,
    digest: undefined,
    manifestDigest: undefined,
    manifest: undefined,
  };
}

/** Lists the platforms of the image `reference` names (one entry for a single manifest, none when its config leaves the platform empty). */
export async function basePlatforms(transport: Transport, reference: string | undefined, options: OperationOptions = {}): Promise<Platform[]> {
  const top = parseManifest(await transport.getManifest(reference ?? '', options));
  if (top.kind === 'index') {
    return top.index.manifests
      .filter((d) => d.platform !== undefined && d.platform.os !== 'unknown')
      .map((d) => normalizePlatform(d.platform as Platform));
  }
  const config = parseConfig(await readAll(await transport.getBlob(top.manifest.config, options)));
  // An empty os or architecture (crane append onto scratch) is an unknown platform: none listed.
  if (config.os === '' || config.architecture === '') return [];
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant !== undefined) p.variant = config.variant;
  return [normalizePlatform(p)];
}

/**
 * Reads the manifest `reference` names from `transport`; from an index, picks the child for
 * `platform`. A single manifest is used whatever its platform (as Docker does for untagged bases).
 */
export async function resolveBase(
  transport: Transport,
  reference: string | undefined,
  platform: Platform | undefined,
  options: OperationOptions = {},
): Promise<ResolvedBase> {
  const top = parseManifest(await transport.getManifest(reference ?? '', options));
  let manifest: ImageManifest;
  let manifestDigest = top.raw.digest;
  if (top.kind === 'index') {
    if (platform === undefined) {
      throw new OcibuildError('ERR_INVALID_ARGUMENT', `${transport.description} is a multi-platform index: choose a platform`);
    }
    const child = selectManifest(top.index, platform);
    if (child === undefined) {
      const have = top.index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
      throw new OcibuildError(
        'ERR_NOT_FOUND',
        `base image ${transport.description} has no manifest for platform ${formatPlatform(platform)} (it has: ${have})`,
      );
    }
    const childParsed = parseManifest(await transport.getManifest(child.digest, options), child.mediaType);
    if (childParsed.kind !== 'manifest') {
      throw new OcibuildError('ERR_INVALID_MANIFEST', `${transport.description}: nested index ${child.digest} is not supported as a base`);
    }
    manifest = childParsed.manifest;
    manifestDigest = childParsed.raw.digest;
  } else {
    manifest = top.manifest;
  }
  const config = parseConfig(await readAll(await transport.getBlob(manifest.config, options)));
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new OcibuildError(
      'ERR_INVALID_CONFIG',
      `base image ${transport.description}: config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  return { config, layers: manifest.layers, transport, digest: top.raw.digest, manifestDigest, manifest };
}
