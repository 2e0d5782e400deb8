/**
 * `ocibuild build`: build a Dockerfile (kaniko/buildah style), with kaniko's flag spellings
 * accepted as aliases.
 * @module
 */
import { resolve } from 'node:path';
import { buildImage, parseTarget } from '../../index.ts';
import { keyValues, list, parseFlags, signalOf, str, UsageError, type Command, type CommandIO } from '../util.ts';
import { compressionOptions, COMPRESSION_HELP, formatFlag, platformList, PROGRESS_HELP, REGISTRY_HELP, OUTPUT_FILES_HELP, outputFlags, registryFlags, registryOptions, startProgress, finishProgress, digestLines } from './shared.ts';
import { ciOptions, parseCacheFlags, parseSecrets, parseSsh } from './ci-flags.ts';
import { ATTEST_HELP, attestFlags, attestOptions, normalizeAttestArgs } from './sbom.ts';
import { translateKanikoArgs } from './kaniko-flags.ts';
import { buildxTargets } from './buildx-outputs.ts';

const help = `Usage: ocibuild build [CONTEXT] [-f Dockerfile] [OPTIONS] --to TARGET...

Builds the Dockerfile in CONTEXT (default .) and writes the image to every target.
Prints the image digest.

  -f, --file FILE          Dockerfile (default CONTEXT/Dockerfile; - reads standard input); alias --dockerfile
  --context DIR            build context (alias of the CONTEXT argument)
  --build-arg K=V          build argument (repeatable); --build-arg K takes K's value from the
                           environment, and is left out when K is not set (as docker build)
  --target STAGE           stage to build (default the last)
  --build-context NAME=VALUE  named context for FROM/COPY --from/RUN --mount=from: DIR,
                           oci-layout://PATH[:TAG] or docker-image://REF (repeatable)
  --platform OS/ARCH[/V]   platform(s) to build (repeatable or comma-separated)
  --label K=V              label added to the image (repeatable)
  -t, --to TARGET          registry reference, oci:PATH[:TAG], docker-archive:PATH[:REF]; alias --destination
  --tag TAG                extra tag for every registry/oci target (repeatable)
  --tar PATH               also write a docker-archive tarball; alias --tar-path
  --no-push                do not push to registries (other targets are still written)
  --pull                   accepted (buildx): every build asks the registry what the base's tag names now
  --push, --load, -o, --output TYPE...  buildx's outputs: with any of them, -t names the image and
                           is pushed only with --push, loaded into Docker with --load; -o
                           type=local,dest=DIR | type=tar,dest=FILE | type=docker[,dest=FILE] |
                           type=oci,dest=DIR,tar=false | type=registry[,name=REF] (see docs/cli.md)
  --keep-run-mtimes        keep the file times RUN steps write (default: clamped to the
                           creation time, SOURCE_DATE_EPOCH or 0, so builds are reproducible)
  --format oci|docker      manifest format (default oci)
${COMPRESSION_HELP}
  --digest-file FILE       write the digest to FILE
  --image-name-with-digest-file FILE  write REPOSITORY@DIGEST of each registry target (kaniko)
  --load-platform OS/ARCH  the platform a docker-daemon:/podman: target loads from a
                           multi-platform build (default: this host's)
${ATTEST_HELP}
${OUTPUT_FILES_HELP}
  --secret id=ID[,src=FILE|env=VAR]  secret for RUN --mount=type=secret,id=ID (repeatable; never printed)
  --ssh ID[=PATH[,PATH]]   SSH agent for RUN --mount=type=ssh,id=ID: an agent socket or private key
                           files (loaded into a private ssh-agent); \`--ssh default\` uses $SSH_AUTH_SOCK (repeatable)
  --add-host NAME:IP       an /etc/hosts entry for every RUN step, as docker build (also NAME=IP; repeatable)
  --cache-dir DIR          step and layer cache (default OCIBUILD_CACHE_DIR, else ~/.cache/ocibuild when a cache flag is given)
  --cache-repo REF         registry repository shared by machines for step results (e.g. registry.example/team/cache)
  --cache-ttl DURATION     ignore cached steps older than this (seconds, or 30m, 6h, 7d)
  --no-push-cache          use the cache repo but do not push new step results to it
  --cache-from SPEC        type=registry,ref=REPO (or REPO): read step results from REPO; type=local,src=DIR
  --cache-to SPEC          type=registry,ref=REPO: also push new step results there; type=local,dest=DIR
  --no-cache               build every step (no step cache read or written)
  -v, --verbose            also show cache misses on a cold cache and steps that cannot be cached
${REGISTRY_HELP}
${PROGRESS_HELP}

kaniko's executor flags are accepted too: --context dir://PATH, --custom-platform,
--oci-layout-path DIR, --registry-certificate REG=FILE (as --ca), --insecure (plain HTTP to the
destinations' registries), --cache[=true] (the cache repo, DESTINATION/cache unless
--cache-repo names one); --reproducible, --snapshot-mode, --use-new-run, --single-snapshot,
--cleanup and the like change nothing here (see docs/cli.md).`;

/** The `build` command. */
export const build: Command = {
  name: 'build',
  summary: 'build a Dockerfile',
  help,
  async run(argv, io) {
    // A kaniko executor command line runs as it is (kaniko-flags.ts).
    const kaniko = translateKanikoArgs(argv);
    const { values, positionals } = parseFlags(normalizeAttestArgs(kaniko.argv), {
      ...attestFlags,
      file: { type: 'string', short: 'f' },
      dockerfile: { type: 'string' },
      context: { type: 'string' },
      'build-arg': { type: 'string', multiple: true },
      'build-context': { type: 'string', multiple: true },
      target: { type: 'string' },
      label: { type: 'string', multiple: true },
      destination: { type: 'string', multiple: true, short: 'd' },
      tar: { type: 'string' },
      'tar-path': { type: 'string' },
      'no-push': { type: 'boolean' },
      push: { type: 'boolean' },
      load: { type: 'boolean' },
      // buildx's --pull: every build already asks the registry what the base's tag names now.
      pull: { type: 'boolean' },
      output: { type: 'string', multiple: true, short: 'o' },
      'image-name-with-digest-file': { type: 'string' },
      'keep-run-mtimes': { type: 'boolean' },
      'cache-dir': { type: 'string' },
      'cache-repo': { type: 'string' },
      'cache-ttl': { type: 'string' },
      'no-push-cache': { type: 'boolean' },
      'cache-from': { type: 'string', multiple: true },
      'cache-to': { type: 'string', multiple: true },
      'no-cache': { type: 'boolean' },
      secret: { type: 'string', multiple: true },
      ssh: { type: 'string', multiple: true },
      'add-host': { type: 'string', multiple: true },
      verbose: { type: 'boolean', short: 'v' },
      ...outputFlags,
      ...registryFlags,
    });
    if (positionals.length > 1) throw new UsageError(`expected at most one CONTEXT, got ${positionals.length}`);
    const context = resolve(str(values, 'context') ?? positionals[0] ?? '.');
    const dockerfile = str(values, 'file') ?? str(values, 'dockerfile') ?? 'Dockerfile';
    let to = [...list(values, 'to'), ...list(values, 'destination')];
    // buildx's --push, --load and -o: -t then names the image, as in buildx (buildx-outputs.ts).
    const buildx = buildxTargets({ to, outputs: list(values, 'output'), push: values.push === true, load: values.load === true });
    if (buildx !== undefined) {
      to = buildx;
      if (to.length === 0) io.err('note: no output (no --push, --load or writing --output): the image is built and not written');
    }
    const tar = str(values, 'tar') ?? str(values, 'tar-path');
    if (values['no-push']) to = to.filter((t) => parseTarget(t).kind !== 'registry');
    if (tar !== undefined) to.push(tar.startsWith('docker-archive:') ? tar : `docker-archive:${tar}`);
    if (to.length === 0 && !values['no-push'] && buildx === undefined) {
      throw new UsageError('--to TARGET is required (or --no-push to build without writing)');
    }
    const format = formatFlag(values);
    const platforms = platformList(values);
    const labels = keyValues(list(values, 'label'), '--label');
    const target = str(values, 'target');
    const digestFile = str(values, 'digest-file');
    const cacheFlags = parseCacheFlags(list(values, 'cache-from'), list(values, 'cache-to'));
    const cacheDir = str(values, 'cache-dir') ?? cacheFlags.dir;
    // kaniko's --cache without --cache-repo keeps step results in DESTINATION/cache.
    const registryTargets = to.map((t) => parseTarget(t)).filter((t) => t.kind === 'registry' && t.ref !== undefined);
    const inferredRepo = kaniko.cache && registryTargets[0]?.ref !== undefined ? `${registryTargets[0].ref.withoutTag().withoutDigest().toString()}/cache` : undefined;
    const cacheRepo = str(values, 'cache-repo') ?? cacheFlags.repo ?? inferredRepo;
    // kaniko's --insecure: plain HTTP to the destinations' registries.
    if (kaniko.insecure) values['insecure-registry'] = [...list(values, 'insecure-registry'), ...registryTargets.map((t) => t.ref?.registry as string)];
    if (kaniko.ignored.length > 0 && !values.quiet && str(values, 'progress') !== 'quiet') {
      io.err(`note: kaniko flags with no effect here: ${kaniko.ignored.join(', ')} (docs/cli.md, "kaniko's flags")`);
    }
    const imageNameWithDigestFile = str(values, 'image-name-with-digest-file');
    const cacheTtl = str(values, 'cache-ttl');
    const noPushCache = values['no-push-cache'] === true || (str(values, 'cache-repo') === undefined && cacheFlags.push === false);
    const useCache = kaniko.cache || cacheDir !== undefined || cacheRepo !== undefined || cacheTtl !== undefined || noPushCache;
    if (values['no-cache'] && useCache) throw new UsageError('--no-cache cannot be combined with cache flags');
    const secrets = parseSecrets(list(values, 'secret'));
    const ssh = parseSsh(list(values, 'ssh'));
    const addHosts = parseAddHosts(list(values, 'add-host'));
    const show = startProgress(values, io);
    const result = await finishProgress(show, buildImage({
      // `-f -`: the Dockerfile from standard input, as docker build and buildah read it.
      dockerfile: dockerfile === '-' ? { text: await readDockerfileFromStdin(io) } : resolve(context, dockerfile),
      context,
      buildArgs: buildArgs(list(values, 'build-arg'), process.env),
      ...(list(values, 'build-context').length ? { contexts: keyValues(list(values, 'build-context'), '--build-context') } : {}),
      ...(target !== undefined ? { target } : {}),
      ...(platforms.length ? { platforms } : {}),
      ...(Object.keys(labels).length ? { config: { labels } } : {}),
      ...(format ? { format } : {}),
      ...compressionOptions(values),
      ...(digestFile !== undefined ? { digestFile } : {}),
      ...(imageNameWithDigestFile !== undefined ? { imageNameWithDigestFile } : {}),
      ...(values['keep-run-mtimes'] ? { keepRunMtimes: true } : {}),
      ...attestOptions(values),
      ...ciOptions(values),
      ...(Object.keys(secrets).length ? { secrets } : {}),
      ...(Object.keys(ssh).length ? { ssh } : {}),
      ...(Object.keys(addHosts).length ? { addHosts } : {}),
      tags: list(values, 'tag'),
      to,
      ...registryOptions(values),
      ...(values['no-cache'] ? { cache: false as const } : {}),
      ...(useCache
        ? {
            cache: {
              ...(cacheDir !== undefined ? { dir: cacheDir } : {}),
              ...(cacheRepo !== undefined ? { repo: cacheRepo } : {}),
              ...(cacheTtl !== undefined ? { ttl: cacheTtl } : {}),
              ...(noPushCache ? { push: false } : {}),
            },
          }
        : {}),
      onEvent: (event) => {
        if (event.type === 'attach-skipped') io.err(`warning: ${event.message}`);
        show.onEvent(event);
      },
      ...signalOf(io),
    }));
    io.out(digestLines(result));
    return 0;
  },
};

/**
 * `--build-arg K=V` values; `--build-arg K` takes the value of the environment variable K, and
 * leaves the argument out when K is not set (the Dockerfile's default applies), as `docker
 * build`, buildx and kaniko do.
 */
export function buildArgs(items: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0 || item === '') throw new UsageError(`--build-arg expects KEY=VALUE or KEY, got ${JSON.stringify(item)}`);
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (env[item] !== undefined) out[item] = env[item] as string;
  }
  // As buildx: the SOURCE_DATE_EPOCH variable is also the build arg (ARG SOURCE_DATE_EPOCH sees it).
  if (out['SOURCE_DATE_EPOCH'] === undefined && env['SOURCE_DATE_EPOCH'] !== undefined && env['SOURCE_DATE_EPOCH'] !== '') out['SOURCE_DATE_EPOCH'] = env['SOURCE_DATE_EPOCH'];
  return out;
}

/** Most bytes of a Dockerfile read from standard input (`-f -`). */
export const MAX_STDIN_DOCKERFILE_BYTES = 4 * 1024 * 1024;

/** Reads `-f -`'s Dockerfile: all of standard input, at most {@link MAX_STDIN_DOCKERFILE_BYTES}; a terminal is refused (nothing would end it). */
export async function readDockerfileFromStdin(io: CommandIO, input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<string> {
  if (input.isTTY === true) throw new UsageError('-f - reads the Dockerfile from standard input, which is a terminal: pipe the Dockerfile in (ocibuild build -f - . < Dockerfile)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_STDIN_DOCKERFILE_BYTES) throw new UsageError(`-f -: the Dockerfile on standard input is larger than ${MAX_STDIN_DOCKERFILE_BYTES} bytes`);
    chunks.push(buffer);
    if (io.signal?.aborted) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `--add-host NAME:IP` (or `NAME=IP`), as docker build: the name ends at the first `=`, else at
 * the first `:` (an IPv6 address follows it whole, brackets allowed: `db:[::1]`). The sandbox
 * checks the name and the address.
 */
export function parseAddHosts(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const at = eq >= 0 ? eq : entry.indexOf(':');
    if (at <= 0 || at === entry.length - 1) throw new UsageError(`--add-host expects NAME:IP, got ${JSON.stringify(entry)}`);
    out[entry.slice(0, at)] = entry.slice(at + 1).replace(/^\[(.*)\]$/, '$1');
  }
  return out;
}
