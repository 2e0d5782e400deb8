/**
 * The build's attachments: the SBOM and the SLSA provenance of each platform image, attached
 * as OCI referrers to every target that can hold them (registries, `oci:` layouts).
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { hashBytes } from '../hash/index.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Image } from '../image/model.ts';
import type { Transport } from '../image/transport.ts';
import { stageArtifacts, type StagedArtifacts } from '../supply/attach.ts';
import {
  digestSet,
  DOCKERFILE_BUILD_TYPE,
  IN_TOTO_MEDIA_TYPE,
  LAYERS_BUILD_TYPE,
  provenanceAttachment,
  type ProvenanceDependency,
} from '../supply/provenance.ts';
import { CYCLONEDX_JSON_MEDIA_TYPE, SPDX_JSON_MEDIA_TYPE } from '../supply/sbom.ts';
import type { Attachment, SbomFormat } from '../supply/types.ts';
import type { BuildOptions } from './index.ts';

/** Build type of s2i builds. */
export const S2I_BUILD_TYPE = 'https://ocibuild.dev/buildtypes/s2i/v1';

/**
 * One artifact attached by a build.
 * @category Supply chain
 */
export interface BuildAttachment {
  /** The target it was written to, as given. */
  target: string;
  /** Digest of the image manifest it refers to. */
  subject: string;
  /** Its artifact type (`application/spdx+json`, `application/vnd.in-toto+json`, ...). */
  artifactType: string;
  /** Digest of the artifact manifest; for a `local:` or `tar:` target, which gets the document as a file next to the tree, of that file. */
  digest: string;
}

/** One built platform image and what it was built from. */
export interface BuiltPlatform {
  /** Its platform. */
  platform: Platform;
  /** The image. */
  image: Image;
  /** The base's name and resolved digest, when it has them. */
  base?: { name: string | undefined; digest: string | undefined };
}

/** What the build asks for: the SBOM format (undefined: none) and whether to attach provenance. */
export interface AttestationSettings {
  /** SBOM format, when an SBOM is attached. */
  sbom: SbomFormat | undefined;
  /** Attach provenance. */
  provenance: boolean;
}

/**
 * The settings of `options`: both off unless asked for (BuildKit's default for `docker build`);
 * `sbom: true` is SPDX. Throws `ERR_INVALID_ARGUMENT` for another SBOM format.
 */
export function attestationSettings(options: Pick<BuildOptions, 'sbom' | 'provenance'>): AttestationSettings {
  if (options.sbom !== undefined && typeof options.sbom !== 'boolean' && options.sbom !== 'spdx' && options.sbom !== 'cyclonedx') {
    throw new InvalidArgumentError(`sbom must be true, false, "spdx" or "cyclonedx", got ${JSON.stringify(options.sbom)}`);
  }
  const sbom = options.sbom === true ? 'spdx' : options.sbom === false || options.sbom === undefined ? undefined : options.sbom;
  return { sbom, provenance: options.provenance === true };
}

/** Writes the SBOM document of one image; `name` is the image's name as provenance gives it. */
export type SbomWriter = (image: Image, platform: Platform, format: SbomFormat, created: Date, name: string) => Promise<Attachment>;

/** Inputs of {@link makeAttacher}. */
export interface AttacherInput {
  /** The build's options. */
  options: BuildOptions;
  /** What to attach. */
  settings: AttestationSettings;
  /** Creation time of the image (seconds since the epoch): the attachments' `created`. */
  created: number;
  /** When the build started (ms since the epoch), recorded in provenance unless SOURCE_DATE_EPOCH is set. */
  startedMs: number;
  /** The subject name provenance records (the first target as given). */
  subjectName: string;
  /** ocibuild's version, recorded as the builder's. */
  builderVersion?: string;
  /** Writes SBOMs; required when `settings.sbom` is set. */
  sbom?: SbomWriter;
}

/** Attaches the build's documents to the platform images of one transport; returns what it wrote. */
export type Attacher = (transport: Transport, target: string, images: readonly BuiltPlatform[], signal?: AbortSignal) => Promise<BuildAttachment[]>;

/** True when SOURCE_DATE_EPOCH (the option or the variable) pins the build's times: provenance then has no timings. */
function reproducible(options: BuildOptions): boolean {
  return options.sourceDateEpoch !== undefined || sourceDateEpochFromEnv() !== undefined;
}

/** A Dockerfile's name as recorded: relative to the context when inside it (`Dockerfile`, `docker/prod.Dockerfile`), else its file name. */
function dockerfileName(options: BuildOptions): string | undefined {
  const spec = options.dockerfile;
  if (spec === undefined) return undefined;
  const file = typeof spec === 'string' ? spec : (spec.file ?? 'Dockerfile');
  const relative = path.relative(path.resolve(options.context ?? '.'), path.resolve(options.context ?? '.', file));
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.basename(file) : relative.split(path.sep).join('/');
}

/** An image reference as recorded: registry references as given; local files (`oci:`, `docker-archive:`) by kind and tag only, never their path. */
function imageName(ref: string): string {
  const local = /^(oci|oci-layout|docker-archive):/.exec(ref);
  if (local === null) return ref;
  const tag = /:([^:/]+)$/.exec(ref.slice(local[0].length))?.[1];
  return `${local[1]}:${tag ?? ''}`.replace(/:$/, '');
}

/**
 * What the user asked the build to do, for provenance (secrets are dropped by the provenance
 * writer). No local path goes in: the statement is the same wherever the build ran.
 */
function externalParameters(options: BuildOptions, images: readonly BuiltPlatform[]): Record<string, unknown> {
  const dockerfile = dockerfileName(options);
  return {
    ...(dockerfile !== undefined ? { dockerfile } : { from: imageName(options.from ?? 'scratch') }),
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.buildArgs !== undefined ? { buildArgs: options.buildArgs } : {}),
    ...(options.contexts !== undefined ? { namedContexts: Object.keys(options.contexts).sort() } : {}),
    ...(options.s2i !== undefined ? { s2iBuilder: imageName(options.s2i.builder) } : {}),
    platforms: images.map((i) => formatPlatform(i.platform)),
    format: options.format ?? 'oci',
  };
}

/** The Dockerfile's digest: the inline text's, else the file's (read again; undefined when unreadable). */
async function dockerfileDependency(options: BuildOptions): Promise<ProvenanceDependency | undefined> {
  const spec = options.dockerfile;
  if (spec === undefined) return undefined;
  let text: Uint8Array | string;
  let name: string;
  if (typeof spec === 'string') {
    name = spec;
    try {
      text = await readFile(path.resolve(options.context ?? '.', spec));
    } catch {
      return undefined;
    }
  } else {
    name = spec.file ?? 'Dockerfile';
    text = spec.text;
  }
  const digest = hashBytes(typeof text === 'string' ? new TextEncoder().encode(text) : text);
  return { name: 'dockerfile', uri: `file:${dockerfileName({ ...options, dockerfile: name }) ?? path.basename(name)}`, digest: digestSet(digest) };
}

/** Base image, Dockerfile, and the git revision the build's annotations or labels name. */
function dependencies(options: BuildOptions, built: BuiltPlatform, dockerfile: ProvenanceDependency | undefined): ProvenanceDependency[] {
  const out: ProvenanceDependency[] = [];
  if (dockerfile !== undefined) out.push(dockerfile);
  const base = built.base;
  if (base?.digest !== undefined) {
    const platform = encodeURIComponent(formatPlatform(built.platform));
    const name = imageName(base.name ?? 'base');
    const uri = name === base.name ? `pkg:docker/${name}?platform=${platform}` : name;
    out.push({ name: 'base', uri, digest: digestSet(base.digest) });
  }
  // The revision as the Node preset (annotations from git) or CI (`--label org.opencontainers.image.revision=…`) records it.
  const facts = { ...built.image.config.config?.Labels, ...options.annotations, ...built.image.manifest.annotations };
  const revision = facts['org.opencontainers.image.revision'];
  const source = facts['org.opencontainers.image.source'];
  if (revision !== undefined && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(revision)) {
    out.push({ name: 'source', uri: source !== undefined ? `git+${source}` : 'git', digest: { gitCommit: revision } });
  }
  return out;
}

/** The build type of these options. */
function buildType(options: BuildOptions): string {
  if (options.s2i !== undefined) return S2I_BUILD_TYPE;
  return options.dockerfile !== undefined ? DOCKERFILE_BUILD_TYPE : LAYERS_BUILD_TYPE;
}

/** An {@link Attacher} that can start making the documents before the push needs them. */
export interface PreparedAttacher {
  /** Attaches the documents of `images` through a transport. */
  attach: Attacher;
  /**
   * Starts making the documents of `images` (as `attach` will ask for them), so that they are
   * made while the image's blobs upload rather than after its manifest; a failure surfaces in
   * `attach`.
   */
  prepare(images: readonly BuiltPlatform[]): void;
  /**
   * Starts writing the documents' blobs to `transport` (beside the image's own blobs); `attach`
   * through the same transport then writes only the manifests and links. Settles when the
   * blobs are written; rejects with their failure (which `attach` reports too).
   */
  stage(transport: Transport, images: readonly BuiltPlatform[], signal?: AbortSignal): Promise<void>;
  /**
   * The documents of `images` as files, for outputs that hold files rather than referrers
   * (`local:`, `tar:`), named as buildx names them there: `provenance.json`, `sbom.spdx.json`
   * (`sbom.cyclonedx.json` for CycloneDX).
   */
  files(images: readonly BuiltPlatform[]): Promise<AttestationFile[]>;
}

/** One document written as a file next to an image's root filesystem. */
export interface AttestationFile {
  /** Digest of the image manifest it describes. */
  subject: string;
  /** File name at the top of that image's tree. */
  name: string;
  /** Its artifact type. */
  artifactType: string;
  /** The document. */
  bytes: Uint8Array;
}

/** The file name of a document in a `local:` or `tar:` output (buildx's names where it has them). */
export function attestationFileName(attachment: Attachment): string {
  switch (attachment.artifactType) {
    case IN_TOTO_MEDIA_TYPE:
      return 'provenance.json';
    case SPDX_JSON_MEDIA_TYPE:
      return 'sbom.spdx.json';
    case CYCLONEDX_JSON_MEDIA_TYPE:
      return 'sbom.cyclonedx.json';
    default:
      throw new Error(`internal: no file name for ${attachment.artifactType}`);
  }
}

/**
 * Makes the function that attaches the build's documents to one target. Documents are made once
 * per image (a Docker-format build's `oci:` targets get the OCI form, another subject) and reused
 * for every target holding it, so every target gets the same artifact digests.
 */
export function makeAttacher(input: AttacherInput): PreparedAttacher {
  const { options, settings } = input;
  const created = new Date(input.created * 1000);
  const documents = new Map<string, Promise<Attachment[]>>();
  let dockerfile: Promise<ProvenanceDependency | undefined> | undefined;
  const finishedOn = (): Date | undefined => (reproducible(options) ? undefined : new Date());
  const documentsFor = (built: BuiltPlatform, all: readonly BuiltPlatform[]): Promise<Attachment[]> => {
    const key = built.image.descriptor.digest;
    let pending = documents.get(key);
    if (pending === undefined) {
      pending = (async () => {
        const out: Attachment[] = [];
        if (settings.sbom !== undefined) {
          if (input.sbom === undefined) throw new Error('internal: no SBOM writer');
          out.push(await input.sbom(built.image, built.platform, settings.sbom, created, input.subjectName));
        }
        if (settings.provenance) {
          dockerfile ??= dockerfileDependency(options);
          const dockerfileDep = await dockerfile;
          const finished = finishedOn();
          out.push(
            provenanceAttachment(
              {
                subject: [{ name: input.subjectName, digest: key }],
                buildType: buildType(options),
                ...(input.builderVersion !== undefined ? { builderVersion: input.builderVersion } : {}),
                externalParameters: externalParameters(options, all),
                resolvedDependencies: dependencies(options, built, dockerfileDep),
                ...(finished !== undefined ? { startedOn: new Date(input.startedMs), finishedOn: finished } : {}),
              },
              created,
            ),
          );
        }
        return out;
      })();
      documents.set(key, pending);
    }
    return pending;
  };
  const prepare = (images: readonly BuiltPlatform[]): void => {
    // Observed here; the same promise is awaited (and its failure thrown) by attach.
    for (const built of images) documentsFor(built, images).catch(() => undefined);
  };
  // Every document of `images`, in their order, with the image it describes.
  const allDocuments = async (images: readonly BuiltPlatform[]): Promise<{ built: BuiltPlatform; attachment: Attachment }[]> => {
    const out: { built: BuiltPlatform; attachment: Attachment }[] = [];
    for (const built of images) for (const attachment of await documentsFor(built, images)) out.push({ built, attachment });
    return out;
  };
  type Staged = { jobs: { subject: Descriptor; attachment: Attachment }[]; artifacts: StagedArtifacts };
  // Per transport, the attachments being written there (stage, then attach): made once, by
  // whichever asks first.
  const staged = new WeakMap<Transport, Promise<Staged>>();
  const stageIn = (transport: Transport, images: readonly BuiltPlatform[], signal: AbortSignal | undefined): Promise<Staged> => {
    let entry = staged.get(transport);
    if (entry === undefined) {
      entry = allDocuments(images).then((documents) => {
        const jobs = documents.map(({ built, attachment }) => ({
          subject: { mediaType: built.image.descriptor.mediaType, digest: built.image.descriptor.digest, size: built.image.descriptor.size },
          attachment,
        }));
        // Blobs written together, manifests in order, links concurrently (stageArtifacts): on a
        // registry without the referrers API each link reads the fallback index back, and one
        // after another those round trips add up.
        return { jobs, artifacts: stageArtifacts(transport, jobs, { created, ...(signal !== undefined ? { signal } : {}) }) };
      });
      staged.set(transport, entry);
    }
    return entry;
  };
  const stage = async (transport: Transport, images: readonly BuiltPlatform[], signal?: AbortSignal): Promise<void> => {
    await (await stageIn(transport, images, signal)).artifacts.blobs;
  };
  const attach: Attacher = async (transport, target, images, signal) => {
    const { jobs, artifacts } = await stageIn(transport, images, signal);
    const results = await artifacts.finish(signal !== undefined ? { signal } : {});
    return results.map((result, i) => ({ target, subject: result.subject, artifactType: (jobs[i] as (typeof jobs)[number]).attachment.artifactType, digest: result.descriptor.digest }));
  };
  const files = async (images: readonly BuiltPlatform[]): Promise<AttestationFile[]> =>
    (await allDocuments(images)).map(({ built, attachment }) => ({
      subject: built.image.descriptor.digest,
      name: attestationFileName(attachment),
      artifactType: attachment.artifactType,
      bytes: attachment.bytes,
    }));
  return { attach, prepare, stage, files };
}
