/**
 * `ocibuild copy`, `ocibuild inspect` and `ocibuild tags`: skopeo-like commands over the
 * transports and the registry client.
 * @module
 */
import { copyImage, imageReferrers, inspectImage, listTags, OcibuildError } from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { PROGRESS_HELP, REGISTRY_HELP, registryFlags, registryOptions, startProgress } from './shared.ts';
import { progressFlags } from '../progress.ts';
import { writeFile } from 'node:fs/promises';

const common = `\n${REGISTRY_HELP}`;

/** `ocibuild copy SRC DST`. */
export const copy: Command = {
  name: 'copy',
  summary: 'copy an image between registries, OCI layouts, docker-archives and daemons (or out as files)',
  help: `Usage: ocibuild copy SRC DST [--platform P|all] [--referrers]

Copies an image (every platform of an index by default) from SRC to DST. Each is a registry
reference (docker:// accepted), oci:PATH[:TAG], docker-archive:PATH[:REF], docker-daemon:NAME
or podman:NAME; DST may also be local:DIR or tar:FILE (the root filesystem). A daemon holds one
platform: the host's, or the one --platform names. Prints the digest.

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
    const show = startProgress(values, io);
    const result = await copyImage(srcText, dstText, {
      ...registryOptions(values),
      ...signalOf(io),
      ...(platforms.length && !platforms.includes('all') ? { platforms } : {}),
      onWarning: (message) => show.onEvent({ type: 'target-warning', target: dstText, message }),
      ...(values.referrers ? { referrers: true } : {}),
      onSourceEvent: show.onEvent,
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
    return 0;
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
    const ref = positionals[0] as string;
    const wanted = str(values, 'platform');
    if (values.referrers) {
      if (values.raw || values.config) throw new UsageError('--referrers cannot be combined with --raw or --config');
      const found = await imageReferrers(ref, { ...registryOptions(values), ...signalOf(io), platform: wanted });
      io.out(
        JSON.stringify(
          {
            Digest: found.digest,
            MediaType: found.mediaType,
            ...(found.platforms ? { Platforms: found.platforms.map((p) => ({ Platform: p.platform, Digest: p.digest })) } : {}),
            Referrers: found.referrers.map((r) => ({
              Subject: r.subject,
              ArtifactType: r.artifactType ?? null,
              Digest: r.digest,
              MediaType: r.mediaType,
              Size: r.size,
              Annotations: r.annotations,
            })),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    // --raw prints the stored bytes of what REF names exactly, so `| sha256sum` gives its digest
    // (skopeo inspect --raw does the same); --config needs an image, so an index is resolved.
    const platform = values.raw ? undefined : (wanted ?? (values.config ? 'host' : undefined));
    const seen = await inspectImage(ref, { ...registryOptions(values), ...signalOf(io), platform });
    if (values.raw) {
      if (io.write) io.write(seen.raw);
      else io.out(new TextDecoder().decode(seen.raw));
      return 0;
    }
    const json = (value: unknown): void => io.out(JSON.stringify(value, null, 2));
    switch (seen.kind) {
      case 'index':
        json({ Digest: seen.digest, MediaType: seen.mediaType, Manifests: seen.manifests });
        return 0;
      case 'artifact':
        // Not a container image: its config is not an image config, so it is described, not parsed.
        if (values.config) throw new OcibuildError('ERR_UNSUPPORTED', `${ref} is an OCI artifact (${seen.artifactType}), not an image: it has no image config`);
        json({
          Digest: seen.digest,
          MediaType: seen.mediaType,
          Artifact: true,
          ArtifactType: seen.artifactType,
          Config: seen.config,
          Layers: seen.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          ...(seen.annotations ? { Annotations: seen.annotations } : {}),
        });
        return 0;
      case 'image': {
        const { config } = seen;
        if (values.config) {
          json(config);
          return 0;
        }
        json({
          Digest: seen.digest,
          MediaType: seen.mediaType,
          Created: config.created,
          Architecture: config.architecture,
          Os: config.os,
          ...(config.variant ? { Variant: config.variant } : {}),
          Layers: seen.layers.map((l) => l.digest),
          Env: config.config?.Env ?? [],
          Entrypoint: config.config?.Entrypoint ?? null,
          Cmd: config.config?.Cmd ?? null,
          Labels: config.config?.Labels ?? {},
        });
        return 0;
      }
    }
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
    for (const tag of await listTags(positionals[0] as string, { ...registryOptions(values), ...signalOf(io) })) io.out(tag);
    return 0;
  },
};
