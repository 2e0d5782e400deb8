/**
 * Opening the build's base image and targets from their strings (`oci:`, `docker-archive:`,
 * registry references, `docker-daemon:`, `podman:`, `local:`, `tar:`), in a {@link Session}'s
 * registry client.
 * @module
 */
import { openTarget, parseTarget, SINGLE_PLATFORM_KINDS, type PlatformChoice, type Target } from '../transports/target.ts';
import { rootfsTransport } from './rootfs-target.ts';
import { parseManifest } from '../oci/manifest.ts';
import { isDigest } from '../oci/digest.ts';
import type { RawManifest } from '../oci/types.ts';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import { isOcibuildError, OcibuildError } from '../errors.ts';
import { registryTransport } from '../transports/registry.ts';
import { createRegistryClient, type RegistryClient } from '../registry/index.ts';
import type { CredentialProvider } from '../registry/types.ts';
import { defaultCredentials } from '../registry/credentials/index.ts';
import type { Transport } from '../transports/types.ts';
import { parseReference } from '../reference.ts';
import { pullSources, type RegistryEntry } from '../registry/registries-conf.ts';
import { loadRegistriesConf } from '../registry/registries-conf-file.ts';
import { mirroredTransport } from '../registry/mirrors.ts';
import { withDownloadEvents, type SourceEventOptions } from './source-events.ts';
import type { Session } from './session.ts';

/**
 * How registries are reached.
 * @category Build
 */
export interface RegistryOptions {
  /** Hosts that may be reached over plain HTTP (loopback always may). */
  insecure?: readonly string[];
  /** Extra CA certificates (PEM text or file paths). */
  ca?: string | readonly string[];
  /** Skip TLS verification (explicit opt-in). */
  skipTlsVerify?: boolean;
  /** Blob transfers at once per registry (default 6). */
  concurrency?: number;
  /**
   * Mirrors to read images from, by registry or namespace prefix (`docker.io`,
   * `registry.example/team`), tried in order before the origin (kaniko's `--registry-mirror`
   * and `--registry-map`). They come before `registries.conf` entries of the same prefix.
   */
  mirrors?: Record<string, string[]>;
  /**
   * containers' `registries.conf` to read mirrors from: a path, or `false` for none. Default
   * `CONTAINERS_REGISTRIES_CONF`, else `~/.config/containers/registries.conf`, else
   * `/etc/containers/registries.conf`, when present.
   */
  registriesConf?: string | false;
  /** certs.d directories for per-registry CAs (`DIR/HOST[:PORT]/*.crt`); default Docker's and podman's. */
  certsDirs?: string[];
}

/**
 * Options shared by everything that opens transports.
 * @category Build
 */
export interface TransportOptions {
  /** Registry connection settings. */
  registries?: RegistryOptions;
  /** Credential provider (default: docker config.json, credential helpers, containers auth.json). */
  credentials?: CredentialProvider;
  /** A ready registry client, shared instead of creating one (it stays open: its owner closes it). */
  registryClient?: RegistryClient;
  /**
   * The platform `docker-daemon:` and `podman:` targets receive from a multi-platform image
   * (`linux/arm64`); default the host's. A daemon stores one platform's image under a name.
   */
  loadPlatform?: string;
  /**
   * The session to open sources and targets in (its client, mirrors and temp space are reused;
   * whoever created it closes it). Without one, a call makes its own and closes it before returning.
   */
  session?: Session;
}

/**
 * A validated destination, opened only when written.
 * @category Build
 */
export interface Destination {
  /** The target string as given. */
  target: string;
  /** The target, parsed. */
  parsed: Target;
  /** The references to push under (tag from the target, plus extra tags). */
  references(extraTags: readonly string[]): (string | undefined)[];
  /** Opens the transport. */
  open(): Transport;
  /**
   * For a target that holds one platform (`docker-daemon:`, `podman:`): when `reference` of
   * `source` is a multi-platform index, the platform to write (`wanted`, else the host's) and a
   * message saying so; undefined for a single image or another kind of target.
   */
  choosePlatform(source: Pick<Transport, 'getManifest'>, reference: string, wanted?: string, signal?: AbortSignal): Promise<PlatformChoice | undefined>;
}


/** What opening a source or destination needs: one registry client and the mirror entries (a {@link Session}). */
export interface TransportContext {
  /** The registry client, created on first use. */
  registryClient(): RegistryClient;
  /** The mirror entries: `mirrors` first, then registries.conf. */
  mirrorEntries(): readonly RegistryEntry[];
  /**
   * Tags of source images already resolved in this session (`registry/repository:tag` to the
   * manifest read), so that every part of a build, and every build of the session, sees one
   * image per tag and asks the registry once. Without it each read asks again.
   */
  sourceTags?: Map<string, Promise<RawManifest>>;
}

/** A new registry client for these options; `entries` adds mirrors marked insecure. */
export function createClientFor(options: TransportOptions, entries: readonly RegistryEntry[]): RegistryClient {
  const r = options.registries ?? {};
  // Mirrors marked insecure in registries.conf may be reached over plain HTTP.
  const insecure = [...(r.insecure ?? []), ...entries.flatMap((e) => [...(e.insecure ? [hostOf(e.location)] : []), ...e.mirrors.filter((m) => m.insecure).map((m) => hostOf(m.location))])];
  return createRegistryClient({
    credentials: options.credentials ?? defaultCredentials(),
    ...(insecure.length ? { insecure } : {}),
    ...(r.certsDirs ? { certsDirs: r.certsDirs } : {}),
    ...(r.ca ? { ca: r.ca } : {}),
    ...(r.skipTlsVerify ? { skipTlsVerify: true } : {}),
    ...(r.concurrency ? { concurrency: r.concurrency } : {}),
  });
}

/** Opens a parsed target's transport. */
export function transportFor(target: Target, context: TransportContext): Transport {
  return openTarget(target, {
    registry: (ref) => registryTransport(ref, context.registryClient()),
    rootfs: (t) => rootfsTransport(t.kind === 'tar' ? 'tar' : 'local', t.path as string),
  });
}

/**
 * The platform a single-platform target takes from the index `reference` names: `wanted`, else
 * the host's; `ERR_NOT_FOUND` listing the platforms there are when the index has neither.
 */
export async function choosePlatformFor(target: Target, source: Pick<Transport, 'getManifest'>, reference: string, wanted?: string, signal?: AbortSignal): Promise<PlatformChoice | undefined> {
  if (!SINGLE_PLATFORM_KINDS.includes(target.kind)) return undefined;
  const top = parseManifest(await source.getManifest(reference, signal === undefined ? {} : { signal }));
  if (top.kind !== 'index') return undefined;
  const platforms = top.index.manifests.flatMap((d) => (d.platform === undefined || d.platform.os === 'unknown' ? [] : [normalizePlatform(d.platform)]));
  const want = normalizePlatform(wanted === undefined ? hostPlatform() : parsePlatform(wanted));
  const platform = platforms.find((p) => platformMatches(want, p));
  const listed = platforms.map(formatPlatform).join(', ');
  if (platform === undefined) {
    throw new OcibuildError('ERR_NOT_FOUND', `${target.input} holds one platform and the image has no ${formatPlatform(want)}${wanted === undefined ? ' (this host\'s platform)' : ''}: it has ${listed}; choose one (--load-platform, copy --platform, or the loadPlatform option)`);
  }
  const others = platforms.filter((p) => p !== platform).map(formatPlatform);
  const why = wanted === undefined ? 'the host\'s platform' : 'the platform asked for';
  return { platform, message: `${target.input} holds one platform: loaded ${formatPlatform(platform)} (${why})${others.length ? `, not ${others.join(', ')}` : ''}` };
}

const hostOf = (location: string): string => location.split('/')[0] ?? location;

/** The mirror entries of these registry options: `mirrors` first, then registries.conf. */
export function mirrorEntriesOf(r: RegistryOptions = {}): RegistryEntry[] {
  const own = Object.entries(r.mirrors ?? {}).map(([prefix, mirrors]) => ({ prefix, location: prefix, mirrors: mirrors.map((location) => ({ location })) }));
  return [...own, ...loadRegistriesConf(r.registriesConf)];
}

/**
 * An opened source: its transport, the reference to read and the human name.
 * @category Build
 */
export interface OpenedSource {
  /** The transport to read from (close it when done; the session's client stays open). */
  transport: Transport;
  /** The tag or digest to read (`latest` for a registry reference without one). */
  reference: string | undefined;
  /** The human name used in annotations. */
  name: string;
}

/**
 * Opens the image `from` names for reading; `name` is the human name used in annotations.
 * `events.onEvent` hears each blob downloaded from a registry and each mirror that failed.
 */
export function openSourceIn(context: TransportContext, from: string, events: SourceEventOptions = {}): OpenedSource {
  const target = parseTarget(from);
  const emit = events.onEvent;
  if (target.kind === 'registry' && target.ref) {
    const ref = target.ref;
    const sources = pullSources(context.mirrorEntries(), ref.name);
    const only = sources.length === 1 && sources[0]?.name === ref.name;
    // A mirror that fails is a warning every renderer prints: the pull goes on from the next
    // source. Each mirror is still tried for each read, but the same failure is told once.
    const told = new Set<string>();
    const onFallback = (source: string, error: unknown): void => {
      const message = `${source} failed (${error instanceof Error ? error.message : String(error)}), trying the next source`;
      if (told.has(message)) return;
      told.add(message);
      emit?.({ type: 'registry-warning', image: from, source, message });
    };
    const transport = only
      ? transportFor(target, context)
      : mirroredTransport(sources.map((s) => ({ transport: registryTransport(parseReference(s.name), context.registryClient()), mirror: s.mirror })), { onFallback });
    const pinned = context.sourceTags === undefined ? transport : pinTags(transport, context.sourceTags, `${ref.registry}/${ref.repository}`);
    return { transport: emit ? withDownloadEvents(pinned, from, emit) : pinned, reference: ref.digest ?? ref.tag ?? 'latest', name: ref.normalized() };
  }
  const transport = transportFor(target, context);
  return { transport, reference: target.reference, name: from };
}

/**
 * `transport` with its tags resolved once per `memo` (see {@link TransportContext.sourceTags}):
 * the first read of a tag is shared by every later one; a failed read is forgotten, so the next
 * one asks again. Digests go straight through (the cache keeps what they name).
 */
function pinTags(transport: Transport, memo: Map<string, Promise<RawManifest>>, repository: string): Transport {
  return {
    ...transport,
    getManifest(reference, options) {
      if (isDigest(reference)) return transport.getManifest(reference, options);
      const key = `${repository}:${reference}`;
      let read = memo.get(key);
      if (read === undefined) {
        read = transport.getManifest(reference, options);
        memo.set(key, read);
        read.catch(() => memo.delete(key));
      }
      // A read shared with a caller that was aborted fails for that caller only: ask again.
      return read.catch((error: unknown) => {
        if (isOcibuildError(error, 'ERR_ABORTED') && options?.signal?.aborted !== true) return transport.getManifest(reference, options);
        throw error;
      });
    },
  };
}

/** Validates a target string and returns a lazily opened destination. */
export function openDestinationIn(context: TransportContext, targetString: string): Destination {
  const target = parseTarget(targetString);
  return {
    target: targetString,
    parsed: target,
    references(extraTags) {
      // A docker-archive names its image by repo:tag; extra tags apply to registries and layouts.
      if (target.kind === 'docker-archive') return [target.reference];
      // A daemon image is named repo:tag; extra tags name the same repository.
      if (target.kind === 'docker-daemon' || target.kind === 'podman') {
        const ref = target.ref;
        return [target.reference, ...extraTags.map((t) => ref?.withTag(t).familiar())].filter((r, i, all) => all.indexOf(r) === i);
      }
      // A root filesystem has no names.
      if (target.kind === 'local' || target.kind === 'tar') return [undefined];
      const own = target.kind === 'registry' ? (target.ref?.tag ?? (target.ref?.digest ? undefined : 'latest')) : target.reference;
      return [own, ...extraTags].filter((r, i, all) => all.indexOf(r) === i);
    },
    open() {
      return transportFor(target, context);
    },
    choosePlatform(source, reference, wanted, signal) {
      return choosePlatformFor(target, source, reference, wanted, signal);
    },
  };
}
