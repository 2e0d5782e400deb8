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
  type Session,
} from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { PROGRESS_HELP, REGISTRY_HELP, registryFlags, registryOptions, startProgress } from './shared.ts';
import { progressFlags } from '../progress.ts';
import { writeFile } from 'node:fs/promises';

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
  help: `Usage: ocibuild copy SRC DST [--platform P|all]

Copies an image (every platform of an index by default) from SRC to DST. Each is a registry
reference (docker:// accepted), oci:PATH[:TAG], docker-archive:PATH[:REF], docker-daemon:NAME
or podman:NAME; DST may also be local:DIR or tar:FILE (the root filesystem). A daemon holds one
platform: the host's, or the one --platform names. Prints the digest.

  --platform OS/ARCH|all   copy only these platforms (repeatable)
  --digest-file FILE       write the digest to FILE${common}
${PROGRESS_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { platform: { type: 'string', multiple: true }, 'digest-file': { type: 'string' }, ...progressFlags, ...registryFlags });
    if (positionals.length !== 2) throw new UsageError('expected SRC and DST');
    const [srcText, dstText] = positionals as [string, string];
    const platforms = ((values.platform as string[] | undefined) ?? []).flatMap((p) => p.split(','));
    return withSession(values, async (session) => {
      const show = startProgress(values, io);
      const src = session.openSource(srcText, { onEvent: show.onEvent });
      const dst = session.openDestination(dstText);
      try {
        const one = platforms.length === 1 && platforms[0] !== 'all' ? platforms[0] : undefined;
        const choice = platforms.length === 0 || one !== undefined ? await dst.choosePlatform(src.transport, src.reference ?? '', one, signalOf(io).signal) : undefined;
        if (choice !== undefined) show.onEvent({ type: 'target-warning', target: dstText, message: choice.message });
        const result = await copyImage(src.transport, src.reference, dst.open(), dst.references([]), {
          ...signalOf(io),
          ...(choice !== undefined ? { platforms: [choice.platform] } : platforms.length && !platforms.includes('all') ? { platforms: platforms.map(parsePlatform) } : {}),
          onEvent: (event) => show.onEvent({ type: 'copy', target: dstText, event }),
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
  help: `Usage: ocibuild inspect REF [--raw | --config]

Prints a summary of the image REF names (registry reference, oci:PATH[:TAG], docker-archive:PATH).

  --raw                    print the manifest or index exactly as stored
  --config                 print the image config
  --platform OS/ARCH       platform to show from an index${common}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { raw: { type: 'boolean' }, config: { type: 'boolean' }, platform: { type: 'string' }, ...registryFlags });
    if (positionals.length !== 1) throw new UsageError('expected one REF');
    return withSession(values, async (session) => {
      const src = session.openSource(positionals[0] as string);
      try {
        const top = await src.transport.getManifest(src.reference ?? '', signalOf(io));
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
