/**
 * `ocibuild node [DIR]`: build a Node.js app image (the Node preset), Jib style: no
 * Dockerfile, options from flags or package.json `"ocibuild"`.
 * @module
 */
import { resolve } from 'node:path';
import { buildImage, createSession, nodeApp, watchNodeApp, type NodeAppOptions } from '../../index.ts';
import { list, parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import {
  configFlags,
  configOptions,
  formatFlag,
  compressionOptions,
  COMPRESSION_HELP,
  outputFlags,
  platformsFlag,
  PROGRESS_HELP,
  REGISTRY_HELP,
  OUTPUT_FILES_HELP,
  registryFlags,
  registryOptions,
  setDefined,
  startProgress,
  digestLines,
  HEALTHCHECK_HELP,
} from './shared.ts';
import { progressMode } from '../progress.ts';
import { ciOptions } from './ci-flags.ts';
import { ATTEST_HELP, attestFlags, attestOptions, normalizeAttestArgs } from './sbom.ts';

const help = `Usage: ocibuild node [DIR] [--from REF] [--to TARGET...] [OPTIONS]

Builds the Node.js app in DIR (default .) on BASE: production node_modules in one layer (what
npm, pnpm, Yarn or Bun installed, dev dependencies left out; per platform with --platform, the
other platforms' native packages fetched as the npm, pnpm or Yarn 1 lockfile records them),
workspace packages it uses in
another, the app's files on top (.dockerignore, else package.json "files"; never .git, .env*),
in /app (a workspace package keeps its path under /app), owned by the user; NODE_ENV=production;
entrypoint from the start script, else main, bin, server.js, index.js (docs/node.md);
org.opencontainers.image.* labels from package.json and git. Every option can also be set in
package.json under "ocibuild" (flags win). Prints the digest.

  --from REF               base image (default docker.io/library/node:<major>-slim)
  --to TARGET              registry reference, oci:PATH[:TAG], docker-archive:PATH[:REF] (repeatable)
  --tag TAG                extra tag for every target (repeatable)
  --entrypoint JSON|STR    entrypoint (default: the start script, else node MAIN/BIN/server.js/index.js)
  --cmd JSON|STR           default arguments
  --env K=V                environment variable (repeatable)
  --workdir DIR            where the app goes and runs (default /app)
  --user USER              user (default: the base's "node" user if it has one)
  --expose PORT[/PROTO]    exposed port (repeatable)
  --label K=V              label (repeatable)
  --volume PATH            volume (repeatable)
  --stop-signal SIG        signal that stops the container
${HEALTHCHECK_HELP}
  --format oci|docker      manifest format (default oci)
${COMPRESSION_HELP}
  --platform OS/ARCH       platform(s) to build (repeatable; "all" = every platform of the base)
  --creation-time T        EPOCH (default), USE_CURRENT_TIMESTAMP, ISO-8601 or seconds
  --deps-dir [PLATFORM=]DIR  a prepared production node_modules (e.g. from npm ci --omit=dev),
                           for every platform, or for one (repeatable: linux/arm64=DIR)
  --no-project-metadata    no org.opencontainers.image.* labels and annotations
  --watch                  rebuild on every change (debounced), print each digest; Ctrl-C stops
  --include-dev            keep devDependencies
  --extra-dir SRC:DEST     extra directory layer (repeatable)
  --digest-file FILE       write the digest to FILE
  --load-platform OS/ARCH  the platform a docker-daemon:/podman: target loads from a
                           multi-platform build (default: this host's)
${ATTEST_HELP}
                           (SBOM from the lockfile and provenance are on by default here)
  --image-name-with-digest-file FILE   write REPOSITORY@DIGEST per registry target
${OUTPUT_FILES_HELP}
  --cache-dir DIR          cache directory (default OCIBUILD_CACHE_DIR, else ~/.cache/ocibuild)
  --cache-max-size BYTES   evict least recently used cache blobs beyond this size
  --no-cache               do not use the local cache
  --offline                build from the cache only (see ocibuild warm); oci:/docker-archive: targets
${REGISTRY_HELP}
${PROGRESS_HELP}`;

const nodeFlags = {
  from: { type: 'string' },
  'creation-time': { type: 'string' },
  'deps-dir': { type: 'string', multiple: true },
  'no-project-metadata': { type: 'boolean' },
  watch: { type: 'boolean' },
  'include-dev': { type: 'boolean' },
  'extra-dir': { type: 'string', multiple: true },
  'image-name-with-digest-file': { type: 'string' },
  'cache-dir': { type: 'string' },
  'cache-max-size': { type: 'string' },
  'no-cache': { type: 'boolean' },
  offline: { type: 'boolean' },
} as const;

/** Turns parsed flags into preset options (only what was given, so package.json fills the rest). */
export function nodeOptionsFromFlags(values: Record<string, unknown>): NodeAppOptions {
  const o: NodeAppOptions = {};
  const set = setDefined(o);
  set('from', str(values, 'from'));
  const to = list(values, 'to');
  if (to.length) o.to = to;
  const tags = list(values, 'tag');
  if (tags.length) o.tags = tags;
  // The preset names some config fields differently.
  const config = configOptions(values);
  set('entrypoint', config.entrypoint);
  set('cmd', config.cmd);
  set('env', config.env);
  set('workdir', config.workingDir);
  set('user', config.user);
  set('ports', config.exposedPorts);
  set('labels', config.labels);
  set('volumes', config.volumes);
  set('format', formatFlag(values));
  const compression = compressionOptions(values);
  set('compression', compression.compression);
  set('compressionLevel', compression.compressionLevel);
  set('encoder', compression.encoder);
  set('platforms', platformsFlag(values));
  set('creationTime', str(values, 'creation-time'));
  const depsDirs = list(values, 'deps-dir');
  const perPlatform = depsDirs.filter((v) => /^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?=/.test(v));
  const shared = depsDirs.filter((v) => !perPlatform.includes(v));
  if (shared.length > 1 || (shared.length === 1 && perPlatform.length > 0)) throw new UsageError('--deps-dir: give one PATH for every platform, or PLATFORM=PATH for each');
  if (shared[0] !== undefined) o.depsDir = shared[0];
  else if (perPlatform.length > 0) o.depsDir = Object.fromEntries(perPlatform.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  if (values['no-project-metadata']) o.projectMetadata = false;
  set('stopSignal', config.stopSignal);
  set('healthcheck', config.healthcheck);
  if (values['include-dev']) o.includeDevDependencies = true;
  const extra = list(values, 'extra-dir').map((v) => {
    const at = v.lastIndexOf(':/');
    if (at <= 0) throw new UsageError(`--extra-dir ${JSON.stringify(v)}: expected SRC:/DEST`);
    return { from: v.slice(0, at), into: v.slice(at + 1) };
  });
  if (extra.length) o.extraDirectories = extra;
  set('digestFile', str(values, 'digest-file'));
  set('imageNameWithDigestFile', str(values, 'image-name-with-digest-file'));
  const maxSize = str(values, 'cache-max-size');
  if (maxSize !== undefined && !/^\d+$/.test(maxSize)) throw new UsageError('--cache-max-size expects a number of bytes');
  if (values['no-cache']) o.cache = false;
  else if (str(values, 'cache-dir') !== undefined || maxSize !== undefined) {
    o.cache = { ...(str(values, 'cache-dir') !== undefined ? { dir: str(values, 'cache-dir') as string } : {}), ...(maxSize !== undefined ? { maxBytes: Number(maxSize) } : {}) };
  }
  if (values.offline) o.offline = true;
  return o;
}

/** The `node` command. */
export const node: Command = {
  name: 'node',
  summary: 'build a Node.js app image (no Dockerfile; options from flags or package.json "ocibuild")',
  help,
  async run(argv, io) {
    const { values, positionals } = parseFlags(normalizeAttestArgs(argv), { ...nodeFlags, ...attestFlags, ...configFlags, ...outputFlags, ...registryFlags });
    if (positionals.length > 1) throw new UsageError(`expected at most one DIR, got ${positionals.length}`);
    const dir = resolve(positionals[0] ?? '.');
    if (values.watch) {
      // One line per build; progress bars would interleave with the rebuilds. Ctrl-C aborts the
      // command's signal (cli/interrupt.ts), which ends the watch after the build in flight.
      await watchNodeApp(dir, { ...nodeOptionsFromFlags(values), ...attestOptions(values), ...registryOptions(values), ...signalOf(io) }, (event) => {
        if (event.type === 'built') io.out(`${event.result.digest} ${Math.round(event.durationMs)} ms`);
        else io.err(`error: ${(event.error as Error).message ?? String(event.error)}`);
      });
      return 0;
    }
    const show = startProgress(values, io);
    const json = progressMode(values, io) === 'json';
    // One session for the preset's base lookups and the build: one registry client, so the
    // base's registry is probed and connected to once.
    await using session = createSession(registryOptions(values));
    try {
      const options = await nodeApp(dir, { ...nodeOptionsFromFlags(values), ...attestOptions(values), ...registryOptions(values), session, onEvent: show.onEvent, ...signalOf(io) });
      if (!values.quiet && !json) for (const note of options.nodeApp.notes) io.err(`note: ${note}`);
      const onEvent = options.onEvent;
      const result = await buildImage({
        ...options,
        ...ciOptions(values),
        onEvent: (event) => {
          if (event.type === 'attach-skipped' && !values.quiet && !json) io.err(`warning: ${event.message}`);
          onEvent?.(event);
        },
      });
      show.finish(false);
      if (json) io.err(JSON.stringify({ type: 'stats', ...result.stats }));
      io.out(digestLines(result));
      return 0;
    } catch (error) {
      show.finish(true);
      throw error;
    }
  },
};
