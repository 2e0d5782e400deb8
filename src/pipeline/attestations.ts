/**
 * The build's attachments: the SBOM and the SLSA provenance of each platform image, attached
 * as OCI referrers to every target that can hold them (registries, `oci:` layouts).
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Image } from '../image/model.ts';
import type { Transport } from '../image/transport.ts';
import { attachArtifact } from '../supply/attach.ts';
import {
  DOCKERFILE_BUILD_TYPE,
  LAYERS_BUILD_TYPE,
  provenanceAttachment,
  type ProvenanceDependency,
} from '../supply/provenance.ts';
import type { Attachment, SbomFormat } from '../supply/types.ts';
import type { BuildOptions } from './index.ts';

/** Build type of s2i builds. */
export const S2I_BUILD_TYPE = 'https://ocibuild.dev/buildtypes/s2i/v1';

/** One artifact attached by a build. */
export interface BuildAttachment {
  /** The target it was written to, as given. */
  target: string;
  /** Digest of the image manifest it refers to. */
  subject: string;
  /** Its artifact type (`application/spdx+json`, `application/vnd.in-toto+json`, ...). */
  artifactType: string;
  /** Digest of the artifact manifest. */
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

/** What the user asked the build to do, for provenance (secrets are dropped by the provenance writer). */
function externalParameters(options: BuildOptions, images: readonly BuiltPlatform[]): Record<string, unknown> {
  const dockerfile = options.dockerfile === undefined ? undefined : typeof options.dockerfile === 'string' ? options.dockerfile : (options.dockerfile.file ?? 'Dockerfile');
  return {
    ...(dockerfile !== undefined ? { dockerfile } : {}),
    ...(options.dockerfile !== undefined ? { context: options.context ?? '.' } : { from: options.from ?? 'scratch' }),
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.buildArgs !== undefined ? { buildArgs: options.buildArgs } : {}),
    ...(options.contexts !== undefined ? { namedContexts: Object.keys(options.contexts).sort() } : {}),
    ...(options.s2i !== undefined ? { s2iBuilder: options.s2i.builder } : {}),
    platforms: images.map((i) => formatPlatform(i.platform)),
    format: options.format ?? 'oci',
  };
}

/** Base image, and the git revision the build's annotations name (the Node preset adds it). */
function dependencies(options: BuildOptions, built: BuiltPlatform): ProvenanceDependency[] {
  const out: ProvenanceDependency[] = [];
  const base = built.base;
  if (base?.digest !== undefined) {
    const platform = encodeURIComponent(formatPlatform(built.platform));
    out.push({ name: 'base', uri: `pkg:docker/${base.name ?? 'base'}?platform=${platform}`, digest: { [base.digest.split(':')[0] as string]: base.digest.split(':')[1] as string } });
  }
  const annotations = { ...options.annotations, ...built.image.manifest.annotations };
  const revision = annotations['org.opencontainers.image.revision'];
  const source = annotations['org.opencontainers.image.source'];
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

/**
 * Makes the function that attaches the build's documents to one target. Documents are made once
 * per image (a Docker-format build's `oci:` targets get the OCI form, another subject) and reused
 * for every target holding it, so every target gets the same artifact digests.
 */
export function makeAttacher(input: AttacherInput): Attacher {
  const { options, settings } = input;
  const created = new Date(input.created * 1000);
  const documents = new Map<string, Promise<Attachment[]>>();
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
          const finished = finishedOn();
          out.push(
            provenanceAttachment(
              {
                subject: [{ name: input.subjectName, digest: key }],
                buildType: buildType(options),
                ...(input.builderVersion !== undefined ? { builderVersion: input.builderVersion } : {}),
                externalParameters: externalParameters(options, all),
                resolvedDependencies: dependencies(options, built),
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
  return async (transport, target, images, signal) => {
    const written: BuildAttachment[] = [];
    for (const built of images) {
      const subject: Descriptor = { mediaType: built.image.descriptor.mediaType, digest: built.image.descriptor.digest, size: built.image.descriptor.size };
      for (const attachment of await documentsFor(built, images)) {
        const result = await attachArtifact(transport, subject, attachment, { created, ...(signal ? { signal } : {}) });
        written.push({ target, subject: subject.digest, artifactType: attachment.artifactType, digest: result.descriptor.digest });
      }
    }
    return written;
  };
}
