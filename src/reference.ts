/**
 * Image references (`[host[:port]/]path[:tag][@digest]`), following the grammar of
 * distribution/reference and Docker's normalisation rules:
 *
 * - the first path component is a registry host when it contains `.` or `:`, is `localhost`,
 *   or has upper-case letters; otherwise the registry is Docker Hub (`docker.io`), and a
 *   single-component Docker Hub path gets `library/` in front;
 * - repository path components are lower case; tags are `[\w][\w.-]{0,127}`;
 *   digests are validated as OCI digests;
 * - `toString()` returns exactly the string that was parsed (round-trip exact).
 *
 * Pure: no I/O, no knowledge of transports.
 * @module
 */
import { InvalidReferenceError } from './errors.ts';
import { parseDigest } from './oci/digest.ts';

/** The registry host Docker Hub references normalise to. */
export const DOCKER_HUB_REGISTRY = 'docker.io';
/** The host that serves Docker Hub's registry API (`docker.io` itself does not). */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/** The tag implied when a reference has neither tag nor digest. */
export const DEFAULT_TAG = 'latest';
/** Longest allowed repository name (`registry/repository`), as in distribution/reference. */
export const NAME_MAX_LENGTH = 255;

/** The prefix skopeo and containers/image use for registry references; accepted and stripped. */
const DOCKER_TRANSPORT_PREFIX = 'docker://';
/** Docker Hub's old name; distribution/reference rewrites it to `docker.io`. */
const LEGACY_DOCKER_HUB = 'index.docker.io';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN_RE = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A bare 64-hex string is an image ID, never a repository name (Docker refuses it too). */
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/** The parts a {@link Reference} is built from. */
interface ReferenceParts {
  registry: string;
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
  /** The name as the user wrote it, including any `docker://` prefix; used to format copies. */
  writtenName: string;
  original: string;
}

/**
 * An immutable, validated image reference. Create with {@link parseReference}; derive with
 * {@link Reference.withTag} / {@link Reference.withDigest}, which return new objects.
 * @example
 * ```ts
 * import { parseReference, Reference } from 'ocibuild';
 *
 * const ref: Reference = parseReference('localhost:5000/team/app:1');
 * console.log(ref.registry, ref.repository, ref.tag); // localhost:5000 team/app 1
 * ```
 * @category Registry
 */
export class Reference {
  /** Registry host with optional port as written (`docker.io`, `localhost:5000`, `[::1]:5000`). */
  readonly registry: string;
  /** Repository path (`library/busybox`, `team/app`). */
  readonly repository: string;
  /** Tag, when the reference has one. */
  readonly tag: string | undefined;
  /** Digest, when the reference has one. */
  readonly digest: string | undefined;
  /** The exact string this reference was parsed from (or formatted to, for derived copies). */
  readonly original: string;
  readonly #writtenName: string;

  private constructor(parts: ReferenceParts) {
    this.registry = parts.registry;
    this.repository = parts.repository;
    this.tag = parts.tag;
    this.digest = parts.digest;
    this.original = parts.original;
    this.#writtenName = parts.writtenName;
    Object.freeze(this);
  }

  /** Parses a reference; same as {@link parseReference}. Throws `InvalidReferenceError`. */
  static parse(input: string): Reference {
    return new Reference(parseParts(input));
  }

  /** `registry/repository`, e.g. `docker.io/library/busybox`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** Host to send registry API requests to: `registry-1.docker.io` for Docker Hub, else `registry`. */
  get apiHost(): string {
    return this.registry === DOCKER_HUB_REGISTRY ? DOCKER_HUB_API_HOST : this.registry;
  }

  /** What to ask the manifests endpoint for: the digest if any, else the tag, else `latest`. */
  get tagOrDigest(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** Returns exactly the string this reference was parsed from. */
  toString(): string {
    return this.original;
  }

  /** Serialises as the original string, so references read naturally in JSON output. */
  toJSON(): string {
    return this.original;
  }

  /** Full form, e.g. `docker.io/library/busybox:latest` (`:latest` only when there is neither tag nor digest). */
  normalized(): string {
    return this.name + this.#suffix();
  }

  /**
   * Short form as Docker prints it: no `docker.io/`, no `library/` for official images,
   * e.g. `busybox:latest` or `team/app@sha256:...` (`:latest` added as in {@link normalized}).
   */
  familiar(): string {
    let name = this.name;
    if (this.registry === DOCKER_HUB_REGISTRY) {
      name = this.repository;
      const rest = name.slice('library/'.length);
      if (name.startsWith('library/') && !rest.includes('/')) name = rest;
    }
    return name + this.#suffix();
  }

  /** Returns a copy with tag `tag` (the digest, if any, is kept). Throws `InvalidReferenceError`. */
  withTag(tag: string): Reference {
    if (!TAG_RE.test(tag)) {
      throw new InvalidReferenceError(`${this.#writtenName}:${tag}`, 'tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}');
    }
    return this.#derive(tag, this.digest);
  }

  /** Returns a copy with digest `digest` (the tag, if any, is kept). Throws `InvalidReferenceError`. */
  withDigest(digest: string): Reference {
    checkDigest(`${this.#writtenName}@${digest}`, digest);
    return this.#derive(this.tag, digest);
  }

  /** Returns a copy without a tag. */
  withoutTag(): Reference {
    return this.#derive(undefined, this.digest);
  }

  /** Returns a copy without a digest. */
  withoutDigest(): Reference {
    return this.#derive(this.tag, undefined);
  }

  /** True when both name the same registry, repository, tag and digest after normalisation. */
  equals(other: Reference): boolean {
    return this.normalized() === other.normalized();
  }

  #suffix(): string {
    if (this.tag === undefined && this.digest === undefined) return `:${DEFAULT_TAG}`;
    return (this.tag === undefined ? '' : `:${this.tag}`) + (this.digest === undefined ? '' : `@${this.digest}`);
  }

  #derive(tag: string | undefined, digest: string | undefined): Reference {
    // Keep the user's spelling of the name so the copy reads like the original did.
    const original =
      this.#writtenName + (tag === undefined ? '' : `:${tag}`) + (digest === undefined ? '' : `@${digest}`);
    return new Reference({
      registry: this.registry,
      repository: this.repository,
      tag,
      digest,
      writtenName: this.#writtenName,
      original,
    });
  }
}

/**
 * Parses an image reference such as `busybox`, `localhost:5000/team/app:1.0`,
 * `[::1]:5000/app@sha256:...` or `docker://quay.io/org/app:tag`.
 * Throws `InvalidReferenceError` naming the input and the reason.
 * @example
 * ```ts
 * import { parseReference } from 'ocibuild';
 *
 * const ref = parseReference('busybox');
 * ref.normalized(); // 'docker.io/library/busybox:latest'
 * ref.withTag('1.36').toString(); // 'busybox:1.36'
 * ```
 * @category Registry
 */
export function parseReference(input: string): Reference {
  return Reference.parse(input);
}

/** True when `input` parses as an image reference. */
export function isReference(input: string): boolean {
  try {
    parseParts(input);
    return true;
  } catch {
    return false;
  }
}

function parseParts(input: string): ReferenceParts {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  const prefix = input.startsWith(DOCKER_TRANSPORT_PREFIX) ? DOCKER_TRANSPORT_PREFIX : '';
  const body = input.slice(prefix.length);
  if (body === '') fail('empty reference');
  if (IMAGE_ID_RE.test(body)) fail('a 64-character hex string is an image ID, not a repository name');

  let rest = body;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(input, digest);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // A colon before the last slash belongs to the registry port, not to a tag.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') fail('empty tag after ":"');
    if (!TAG_RE.test(tag)) fail(`tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  const writtenName = prefix + rest;
  if (rest === '') fail('missing repository name');
  let registry = DOCKER_HUB_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
      if (!DOMAIN_RE.test(first)) fail(`invalid registry host ${JSON.stringify(first)}`);
      registry = first === LEGACY_DOCKER_HUB ? DOCKER_HUB_REGISTRY : first;
      path = rest.slice(slash + 1);
    }
  }

  const components = path.split('/');
  for (const component of components) {
    if (component === '') fail('empty path component (leading, trailing or double "/")');
    if (!PATH_COMPONENT_RE.test(component)) {
      if (component !== component.toLowerCase() && PATH_COMPONENT_RE.test(component.toLowerCase())) {
        fail(`repository name must be lowercase (${JSON.stringify(component)})`);
      }
      fail(
        `invalid repository path component ${JSON.stringify(component)}: use a-z, 0-9 and single separators ".", "_", "__" or "-"`,
      );
    }
  }
  if (registry === DOCKER_HUB_REGISTRY && components.length === 1) path = `library/${path}`;
  const name = `${registry}/${path}`;
  if (name.length > NAME_MAX_LENGTH) fail(`repository name ${name.length} characters long, more than ${NAME_MAX_LENGTH}`);

  return { registry, repository: path, tag, digest, writtenName, original: input };
}

function checkDigest(input: string, digest: string): void {
  try {
    parseDigest(digest);
  } catch (error) {
    throw new InvalidReferenceError(
      input,
      `invalid digest ${JSON.stringify(digest)} (expected sha256:<64 hex> or sha512:<128 hex>)`,
      { cause: error },
    );
  }
}
