/**
 * Build provenance: an in-toto Statement v1 whose predicate is SLSA Provenance v1
 * (https://slsa.dev/spec/v1.0/provenance), made from what the build was asked to do and what it
 * resolved. Pure: the same input gives the same bytes (no clock is read here).
 *
 * Secrets never enter it: build arguments whose name looks secret (TOKEN, SECRET, PASSWORD,
 * PASSWD, KEY, CREDENTIAL, any case) are left out, and secret mounts are not recorded at all.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { hashBytes } from '../hash/index.ts';
import { canonicalJson } from '../oci/json.ts';
import { parseDigest } from '../oci/digest.ts';
import type { Attachment } from './types.ts';
import { CREATED_ANNOTATION, rfc3339 } from './attach-manifest.ts';

/** The in-toto statement type. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** The SLSA provenance v1 predicate type. */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** Media type (and artifact type) of an in-toto statement, as attached. */
export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
/** The annotation naming an in-toto attachment's predicate type (as BuildKit's attestation layers carry). */
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
/** The build type of Dockerfile builds. */
export const DOCKERFILE_BUILD_TYPE = 'https://ocibuild.dev/buildtypes/dockerfile/v1';
/** The build type of file-layer builds (`buildImage` with `layers`, the Node preset, s2i). */
export const LAYERS_BUILD_TYPE = 'https://ocibuild.dev/buildtypes/layers/v1';
/** The default builder id. */
export const DEFAULT_BUILDER_ID = 'https://ocibuild.dev/builder/ocibuild';

/** Build-argument names left out of provenance: they look like they carry a secret. */
export const SECRET_ARG_PATTERN = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL/i;

/**
 * One resolved dependency (SLSA `ResourceDescriptor`).
 * @category Supply chain
 */
export interface ProvenanceDependency {
  /** Where it came from (`pkg:docker/debian@12?platform=linux%2Famd64`, `git+https://…`, `context`). */
  uri: string;
  /** Its digests by algorithm (`{ sha256: hex }`, `{ gitCommit: sha }`). */
  digest?: Record<string, string>;
  /** A short name (`base`, `context`, `stage:build`). */
  name?: string;
}

/**
 * What {@link provenanceStatement} describes.
 * @category Supply chain
 */
export interface ProvenanceInput {
  /** The image: its name (as the user named a target) and manifest digest. */
  subject: { name: string; digest: string }[];
  /** The build type URI (default `LAYERS_BUILD_TYPE`). */
  buildType?: string;
  /** The builder id URI (default `DEFAULT_BUILDER_ID`). */
  builderId?: string;
  /** Builder version, recorded in `builder.version.ocibuild`. */
  builderVersion?: string;
  /**
   * What the user asked for: Dockerfile path, target, platforms, preset options. Any key
   * `buildArgs` is a name → value map and is filtered with `SECRET_ARG_PATTERN`; any key
   * `secrets` is dropped.
   */
  externalParameters: Record<string, unknown>;
  /** Base images, build context, git revision: each with digests when known. */
  resolvedDependencies?: readonly ProvenanceDependency[];
  /** When the build started; omitted from the statement when undefined (reproducible builds). */
  startedOn?: Date;
  /** When it finished; omitted when undefined. */
  finishedOn?: Date;
}

/** Drops build arguments that look secret and every secret; keeps everything else as given. */
export function publicParameters(parameters: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (value === undefined || key === 'secrets' || key === 'ssh') continue;
    if (key === 'buildArgs' && typeof value === 'object' && value !== null) {
      const args = Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([name]) => !SECRET_ARG_PATTERN.test(name)));
      if (Object.keys(args).length > 0) out[key] = args;
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** `sha256:hex` → `{ sha256: hex }` (the in-toto DigestSet). */
export function digestSet(digest: string): Record<string, string> {
  const { algorithm, hex } = parseDigest(digest);
  return { [algorithm]: hex };
}

/**
 * The in-toto Statement v1 with a SLSA Provenance v1 predicate for `input`. The invocation id
 * is the SHA-256 of everything else in the statement, so equal builds get equal ids and the
 * statement stays reproducible; timings appear only when given.
 * @category Supply chain
 * @example
 * ```ts
 * import { provenanceStatement } from 'ocibuild';
 *
 * const statement = provenanceStatement({
 *   subject: [{ name: 'registry.example/app', digest: 'sha256:' + 'ab'.repeat(32) }],
 *   externalParameters: { dockerfile: 'Dockerfile', buildArgs: { VERSION: '1.2.3', API_TOKEN: 'dropped' } },
 *   resolvedDependencies: [],
 * });
 * console.log(JSON.stringify(statement));
 * ```
 */
export function provenanceStatement(input: ProvenanceInput): Record<string, unknown> {
  if (input.subject.length === 0) throw new InvalidArgumentError('provenance: at least one subject is needed');
  const subject = input.subject.map((s) => ({ name: s.name, digest: digestSet(s.digest) }));
  const buildDefinition = {
    buildType: input.buildType ?? LAYERS_BUILD_TYPE,
    externalParameters: publicParameters(input.externalParameters),
    internalParameters: {},
    resolvedDependencies: (input.resolvedDependencies ?? []).map((d) => ({ ...d })),
  };
  const builder = { id: input.builderId ?? DEFAULT_BUILDER_ID, ...(input.builderVersion ? { version: { ocibuild: input.builderVersion } } : {}) };
  const invocationId = hashBytes(canonicalJson({ subject, buildDefinition, builder })).replace(/^sha256:/, '');
  const metadata: Record<string, string> = { invocationId };
  if (input.startedOn !== undefined) metadata['startedOn'] = rfc3339(input.startedOn);
  if (input.finishedOn !== undefined) metadata['finishedOn'] = rfc3339(input.finishedOn);
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: { buildDefinition, runDetails: { builder, metadata } },
  };
}

/** The provenance statement as an {@link Attachment} (canonical JSON, `application/vnd.in-toto+json`). */
export function provenanceAttachment(input: ProvenanceInput, created: Date): Attachment {
  return {
    artifactType: IN_TOTO_MEDIA_TYPE,
    mediaType: IN_TOTO_MEDIA_TYPE,
    bytes: canonicalJson(provenanceStatement(input)),
    annotations: { [CREATED_ANNOTATION]: rfc3339(created), [PREDICATE_TYPE_ANNOTATION]: SLSA_PROVENANCE_V1 },
  };
}
