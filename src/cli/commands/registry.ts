/**
 * `ocibuild copy`, `ocibuild inspect` and `ocibuild tags`: skopeo-like commands over the
 * transports and the registry client.
 * @module
 */
import {
  copyImage,
  OcibuildError,
  hostPlatform,
  selectManifest,
  openManifest,
  parsePlatform,
  parseReference,
  createSession,
  formatPlatform,
  type RawManifest,
  type Session,
  type Transport,
} from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command, type CommandIO } from '../util.ts';
import { PROGRESS_HELP, REGISTRY_HELP, registryFlags, registryOptions, startProgress } from './shared.ts';
import { progressFlags } from '../progress.ts';
import { writeFile } from 'node:fs/promises';
import { referrerCopyHooks } from '../../supply/attach.ts';
import { referrerTree } from '../../supply/referrers.ts';

const common = `\n${REGISTRY_HELP}`;

/** Runs `fn` in a session made from the registry flags, closed when `fn` settles. */
async function withSession<T>(values: Record<string, unknown>, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = createSession(registryOptions(values));
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** `ocibuild copy SRC DST`. */
export const copy: Command = {
  name: 'copy',
  summary: 'copy an image between registries, OCI layouts and docker-archives',
  help: `Usage: ocibuild copy SRC DST [--platform P|all] [--referrers]

Copies an image (every platform of an index by default) from SRC to DST. Each is a registry
reference (docker:// accepted), oci:PATH[:TAG] or docker-archive:PATH[:REF]. Prints the digest.

  --platform OS/ARCH|all   copy only these platforms (repeatable)
  --referrers              also copy the signatures, SBOMs and attestations attached to the
                           image and its platform images, and theirs (registry and oci: DST)
  --digest-file FILE       write the digest to FILE${common}
${PROGRESS_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { platform: { type: 'string', multiple: true }, 'digest-file': { type: 'string' }, referrers: { type: 'boolean' }, ...progressFlags, ...registryFlags });
    if (positionals.length !== 2) throw new UsageError('expected SRC and DST');
    const [srcText, dstText] = positionals as [string, string];
    const platforms = ((values.platform as string[] | undefined) ?? []).flatMap((p) => p.split(','));
    return withSession(values, async (session) => {
      const show = startProgress(values, io);
      const src = session.openSource(srcText, { onEvent: show.onEvent });
      const dst = session.openDestination(dstText);
      try {
        const result = await copyImage(src.transport, src.reference, dst.open(), dst.references([]), {
          ...signalOf(io),
          ...(platforms.length && !platforms.includes('all') ? { platforms: platforms.map(parsePlatform) } : {}),
          onEvent: (event) => show.onEvent({ type: 'copy', target: dstText, event }),
          ...(values.referrers ? { referrers: referrerCopyHooks() } : {}),
        }).catch((error: unknown) => {
          show.finish(true);
          throw error;
        });
        show.onEvent({ type: 'target-done', target: dstText, digest: result.digest });
        show.finish(false);
        const digestFile = str(values, 'digest-file');
        if (digestFile !== undefined) await writeFile(digestFile, result.digest);
        io.out(result.digest);
      } finally {
        await src.transport.close?.();
      }
      return 0;
    });
  },
};

/** `ocibuild inspect REF`. */
export const inspect: Command = {
  name: 'inspect',
  summary: 'show an image manifest or config',
  help: `Usage: ocibuild inspect REF [--raw | --config | --referrers]

Prints a summary of the image REF names (registry reference, oci:PATH[:TAG], docker-archive:PATH).

  --raw                    print the manifest or index exactly as stored
  --config                 print the image config
  --referrers              list the artifacts attached to the image and its platform images
                           (referrers API or sha256-<hex> fallback tag; oci: index.json), and theirs
  --platform OS/ARCH       platform to show from an index${common}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { raw: { type: 'boolean' }, config: { type: 'boolean' }, referrers: { type: 'boolean' }, platform: { type: 'string' }, ...registryFlags });
    if (positionals.length !== 1) throw new UsageError('expected one REF');
    if (values.referrers && (values.raw || values.config)) throw new UsageError('--referrers cannot be combined with --raw or --config');
    return withSession(values, async (session) => {
      const src = session.openSource(positionals[0] as string);
      try {
        const top = await src.transport.getManifest(src.reference ?? '', signalOf(io));
        if (values.referrers) {
          io.out(JSON.stringify(await referrersSummary(src.transport, top, str(values, 'platform'), io), null, 2));
          return 0;
        }
        if (values.raw) {
          // The stored bytes exactly, so `| sha256sum` gives the digest (skopeo inspect --raw does the same).
          if (io.write) io.write(top.bytes);
          else io.out(new TextDecoder().decode(top.bytes));
          return 0;
        }
        const wanted = str(values, 'platform');
        let opened = await openManifest(src.transport, top, signalOf(io));
        if (opened.kind === 'index' && (values.config || wanted)) {
          const platform = wanted ? parsePlatform(wanted) : hostPlatform();
          if (!selectManifest(opened.index.index, platform)) throw new UsageError(`no manifest for platform ${wanted ?? 'of this host'} in the index`);
          opened = await opened.index.child(platform, signalOf(io));
        }
        if (opened.kind === 'index') {
          io.out(JSON.stringify({ Digest: opened.index.descriptor.digest, MediaType: opened.index.descriptor.mediaType, Manifests: opened.index.index.manifests }, null, 2));
          return 0;
        }
        if (opened.kind === 'artifact') {
          // Not a container image: its config is not an image config, so it is described, not parsed.
          const { artifactType } = opened;
          if (values.config) throw new OcibuildError('ERR_UNSUPPORTED', `${positionals[0] as string} is an OCI artifact (${artifactType}), not an image: it has no image config`);
          const { config, layers, annotations } = opened.manifest;
          io.out(
            JSON.stringify(
              {
                Digest: opened.rawManifest.digest,
                MediaType: opened.rawManifest.mediaType,
                Artifact: true,
                ArtifactType: artifactType,
                Config: config,
                Layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
                ...(annotations ? { Annotations: annotations } : {}),
              },
              null,
              2,
            ),
          );
          return 0;
        }
        const { image } = opened;
        const config = image.config;
        if (values.config) {
          io.out(JSON.stringify(config, null, 2));
          return 0;
        }
        io.out(
          JSON.stringify(
            {
              Digest: image.descriptor.digest,
              MediaType: image.descriptor.mediaType,
              Created: config.created,
              Architecture: config.architecture,
              Os: config.os,
              ...(config.variant ? { Variant: config.variant } : {}),
              Layers: image.layers.map((l) => l.descriptor.digest),
              Env: config.config?.Env ?? [],
              Entrypoint: config.config?.Entrypoint ?? null,
              Cmd: config.config?.Cmd ?? null,
              Labels: config.config?.Labels ?? {},
            },
            null,
            2,
          ),
        );
        return 0;
      } finally {
        await src.transport.close?.();
      }
    });
  },
};

/** `inspect --referrers`: the subject(s) and every artifact found, breadth first. */
async function referrersSummary(transport: Transport, top: RawManifest, platform: string | undefined, io: CommandIO): Promise<unknown> {
  const subjects: { digest: string; platform?: string }[] = [{ digest: top.digest }];
  const opened = await openManifest(transport, top, signalOf(io));
  if (opened.kind === 'index') {
    const wanted = platform !== undefined ? parsePlatform(platform) : undefined;
    for (const child of opened.index.index.manifests) {
      if (child.platform === undefined) continue;
      if (wanted !== undefined && (child.platform.os !== wanted.os || child.platform.architecture !== wanted.architecture)) continue;
      subjects.push({ digest: child.digest, platform: formatPlatform(child.platform) });
    }
  }
  const tree = await referrerTree(transport, subjects.map((s) => s.digest), signalOf(io));
  return {
    Digest: top.digest,
    MediaType: top.mediaType,
    ...(subjects.length > 1 ? { Platforms: subjects.slice(1).map((s) => ({ Platform: s.platform, Digest: s.digest })) } : {}),
    Referrers: tree.map((r) => ({
      Subject: r.subject,
      ArtifactType: r.descriptor.artifactType ?? null,
      Digest: r.descriptor.digest,
      MediaType: r.descriptor.mediaType,
      Size: r.descriptor.size,
      Annotations: r.descriptor.annotations ?? {},
    })),
  };
}

/** `ocibuild tags REPO`. */
export const tags: Command = {
  name: 'tags',
  summary: 'list the tags of a registry repository',
  help: `Usage: ocibuild tags REPO

Lists the tags of REPO (host/repository), one per line.${common}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...registryFlags });
    if (positionals.length !== 1) throw new UsageError('expected one REPO');
    const ref = parseReference((positionals[0] as string).replace(/^docker:\/\//, ''));
    return withSession(values, async (session) => {
      const list = await session.registryClient().listTags({ registry: ref.registry, repository: ref.repository }, signalOf(io));
      for (const tag of list) io.out(tag);
      return 0;
    });
  },
};
