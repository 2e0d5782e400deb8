/**
 * A session: the registry client, the mirror entries and the temp space of one build or tool
 * run, closed at its end (`await session.close()` or `await using`). Within it each source tag is
 * read once (every part of a build, and every build of the session, sees the same base image, as
 * BuildKit resolves a base once per build); nothing is cached past it.
 * @module
 */
import { rm } from 'node:fs/promises';
import type { RegistryClient } from '../registry/index.ts';
import type { RegistryEntry } from '../registry/registries-conf.ts';
import { OcibuildError } from '../errors.ts';
import type { Transport } from '../transports/types.ts';
import type { RawManifest } from '../oci/types.ts';
import { parseTarget } from '../transports/target.ts';
import { makeOwnedTempDir } from './sweep.ts';
import type { SourceEventOptions } from './source-events.ts';
import {
  createClientFor,
  mirrorEntriesOf,
  openDestinationIn,
  openSourceIn,
  transportFor,
  type Destination,
  type OpenedSource,
  type TransportContext,
  type TransportOptions,
} from './targets.ts';

/**
 * Options of {@link createSession}: how registries are reached (a given `registryClient` is used, never closed).
 * @category Build
 */
export type SessionOptions = Omit<TransportOptions, 'session'>;

/**
 * The registry client, mirrors and temp space of one build or tool run. Close it when done.
 * Source tags are read once per session: a tag moved meanwhile is seen by the next session.
 * @category Build
 */
export interface Session extends AsyncDisposable {
  /** The registry client (created on first use; closed with the session unless it was given). */
  registryClient(): RegistryClient;
  /** Opens a target string (`oci:PATH[:TAG]`, `docker-archive:PATH`, a registry reference) as a transport. */
  open(target: string): Transport;
  /** Opens the image `ref` names for reading; `events.onEvent` hears downloads and mirror failures. */
  openSource(ref: string, events?: SourceEventOptions): OpenedSource;
  /** Validates a target string and returns a destination opened only when written. */
  openDestination(target: string): Destination;
  /** A new private temp folder (`what` names it), removed when the session closes. */
  tempDir(what?: string): Promise<string>;
  /** Whether {@link Session.close} was called. */
  readonly closed: boolean;
  /** Closes the registry client it made and removes its temp folders. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a session; `await using session = createSession(options)` closes it at scope end.
 * @example
 * ```ts
 * import { buildImage, createSession } from 'ocibuild';
 *
 * await using session = createSession({ registries: { insecure: ['localhost:5000'] } });
 * // Both builds share one registry client (connections, tokens) and one set of temp folders.
 * await buildImage({ from: 'localhost:5000/base:1', to: 'localhost:5000/app:amd64', platforms: ['linux/amd64'], session });
 * await buildImage({ from: 'localhost:5000/base:1', to: 'localhost:5000/app:arm64', platforms: ['linux/arm64'], session });
 * ```
 * @category Build
 */
export function createSession(options: SessionOptions = {}): Session {
  let client: RegistryClient | undefined;
  let entries: RegistryEntry[] | undefined;
  let closing: Promise<void> | undefined;
  const temps: string[] = [];
  const sourceTags = new Map<string, Promise<RawManifest>>();
  const live = (): void => {
    if (closing) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'the session is closed');
  };
  const context: TransportContext = {
    mirrorEntries: () => (entries ??= mirrorEntriesOf(options.registries)),
    sourceTags,
    registryClient: () => {
      if (options.registryClient) return options.registryClient;
      live();
      return (client ??= createClientFor(options, context.mirrorEntries()));
    },
  };
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const made = client;
      client = undefined;
      await Promise.allSettled([made?.close(), ...temps.map((dir) => rm(dir, { recursive: true, force: true }))]);
    })());
  const session: Session = {
    registryClient: context.registryClient,
    open(target) {
      live();
      return transportFor(parseTarget(target), context);
    },
    openSource(ref, events) {
      live();
      return openSourceIn(context, ref, events);
    },
    openDestination(target) {
      live();
      return openDestinationIn(context, target);
    },
    async tempDir(what = 'session-') {
      live();
      const dir = await makeOwnedTempDir(what);
      temps.push(dir);
      return dir;
    },
    get closed() {
      return closing !== undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  sourceTagsOf.set(session, sourceTags);
  return session;
}

/** The source tags each session has read (see `TransportContext.sourceTags`). */
const sourceTagsOf = new WeakMap<Session, Map<string, Promise<RawManifest>>>();

/**
 * Makes `session` read its source tags again from now on (a watch loop that plans again
 * follows a moved base tag). Not part of the public API.
 */
export function forgetSourceTags(session: Session): void {
  sourceTagsOf.get(session)?.clear();
}

/**
 * Runs `fn` in `options.session`, or in a session of its own that is closed when `fn` settles.
 */
export async function withSession<T>(options: TransportOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  if (options.session) return fn(options.session);
  const { session: _none, ...rest } = options;
  const own = createSession(rest);
  try {
    return await fn(own);
  } finally {
    await own.close();
  }
}

/** The session of options that a caller guarantees have one (inside `buildImage`). */
export function sessionOf(options: TransportOptions): Session {
  if (!options.session) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'internal: no session in these options');
  return options.session;
}
