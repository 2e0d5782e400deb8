/**
 * `ocibuild s2i SOURCE BUILDER [TAG] --to TARGET...`: a source-to-image build (`s2i build`'s
 * flags, same names), and `ocibuild s2i --usage BUILDER` (`s2i usage`). Scripts' output is
 * shown live on stderr, each line prefixed with the script's name.
 * @module
 */
import { buildImage, runS2iUsage, type NetworkMode, type OutputSink, type S2iOptions } from '../../index.ts';
import { keyValues, list, parseFlags, str, UsageError, type Command } from '../util.ts';
import { COMPRESSION_HELP, outputFlags, outputOptions, PROGRESS_HELP, REGISTRY_HELP, registryFlags, registryOptions, setDefined } from './shared.ts';
import { createProgress, progressMode } from '../progress.ts';

const help = `Usage: ocibuild s2i SOURCE BUILDER [TAG] --to TARGET... [OPTIONS]
       ocibuild s2i --usage BUILDER [-s URL] [-d DIR] [-e K=V]...

Builds SOURCE (a directory or Git URL) with the s2i builder image BUILDER, as "s2i build" does
but without a daemon and rootless: the builder's assemble script runs in the RUN sandbox as the
builder's user with the source in DESTINATION/src; the image is the builder plus one layer, Cmd
set to the run script. A local Git work tree is cloned (committed files only) unless --copy.
TAG, when given, is one more target. Prints the digest. See docs/s2i.md for every s2i flag.

  --to, -t TARGET          registry reference, oci:PATH[:TAG], docker-archive:PATH[:REF] (repeatable)
  -e, --env K=V            environment of assemble and of the image (repeatable)
  -E, --environment-file F file of K=V lines, like --env
  -s, --scripts-url URL    scripts location: image:///DIR, file:///DIR, DIR, http(s)://URL
  -d, --destination DIR    where sources and scripts go (default: label, else /tmp)
  --incremental            reuse save-artifacts output of the previous image (the first target)
  --incremental-from REF   the previous image for --incremental
  -u, --allowed-uids RANGE refuse builders whose user is not numeric inside RANGE (N-M[,N-M])
  --assemble-user USER     user to run assemble as
  -c, --copy               build the directory as it is, not its Git commit
  -r, --ref REF            Git branch, tag or commit to build
  --context-dir DIR        subdirectory of the source holding the application
  --exclude REGEX          source paths to leave out (default "(^|/)\\.git(/|$)")
  -i, --inject SRC:DEST    host directory visible (read-only) to assemble only (repeatable)
  -v, --volume SRC:DEST    host directory mounted read-write into assemble (repeatable)
  --ignore-submodules      do not clone Git submodules
  --runtime-image REF      extended build: the output is REF plus what its assemble-runtime makes
  -a, --runtime-artifact SRC[:DEST]  builder path copied into the runtime image's WORKDIR/DEST (repeatable)
  --assemble-runtime-user USER  user of assemble-runtime (default: the runtime image's)
  -n, --network MODE       default, none or host, for the scripts
  --description TEXT       io.k8s.description label
  --application-name TEXT  io.k8s.display-name label (default: the first target)
  --usage                  run the builder's usage script and exit
  --tag TAG                extra tag for every target (repeatable)
  --format oci|docker      manifest format (default oci)
${COMPRESSION_HELP}
  --platform OS/ARCH       platform to build
  --digest-file FILE       write the digest to FILE
  --load-platform OS/ARCH  the platform a docker-daemon:/podman: target loads from a
                           multi-platform build (default: this host's)
${REGISTRY_HELP}
${PROGRESS_HELP}`;

const s2iFlags = {
  env: { type: 'string', multiple: true, short: 'e' },
  'environment-file': { type: 'string', short: 'E' },
  'scripts-url': { type: 'string', short: 's' },
  destination: { type: 'string', short: 'd' },
  incremental: { type: 'boolean' },
  'incremental-from': { type: 'string' },
  'allowed-uids': { type: 'string', short: 'u' },
  'assemble-user': { type: 'string' },
  copy: { type: 'boolean', short: 'c' },
  ref: { type: 'string', short: 'r' },
  'context-dir': { type: 'string' },
  exclude: { type: 'string' },
  network: { type: 'string', short: 'n' },
  description: { type: 'string' },
  'application-name': { type: 'string' },
  'runtime-image': { type: 'string' },
  'runtime-artifact': { type: 'string', multiple: true, short: 'a' },
  'assemble-runtime-user': { type: 'string' },
  'ignore-submodules': { type: 'boolean' },
  inject: { type: 'string', multiple: true, short: 'i' },
  volume: { type: 'string', multiple: true, short: 'v' },
  usage: { type: 'boolean' },
} as const;

/** A sink passing whole lines to `write`, each prefixed with `prefix()`. */
function lineSink(write: (line: string) => void, prefix: () => string): { sink: OutputSink; flush: () => void } {
  let pending = '';
  const decoder = new TextDecoder();
  return {
    sink: (chunk) => {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) write(`${prefix()}${line}`);
    },
    flush: () => {
      if (pending !== '') write(`${prefix()}${pending}`);
      pending = '';
    },
  };
}

function networkFlag(values: Record<string, unknown>): NetworkMode | undefined {
  const v = str(values, 'network');
  if (v === undefined) return undefined;
  if (v === 'default' || v === 'none' || v === 'host') return v;
  throw new UsageError(`--network ${JSON.stringify(v)}: expected default, none or host`);
}

/** `SRC:DEST` of --inject and --volume (split at the last colon). */
function pathPair(value: string, flag: string): { source: string; destination: string } {
  const at = value.lastIndexOf(':');
  if (at <= 0 || at === value.length - 1) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected SRC:DEST`);
  return { source: value.slice(0, at), destination: value.slice(at + 1) };
}

/** The s2i options from flags (everything but the output sinks). */
function s2iOptions(values: Record<string, unknown>, source: string, builder: string): S2iOptions {
  const o: S2iOptions = { builder, source };
  const set = setDefined(o);
  const env = keyValues(list(values, 'env'), '--env');
  if (Object.keys(env).length > 0) o.env = env;
  set('environmentFile', str(values, 'environment-file'));
  set('scriptsUrl', str(values, 'scripts-url'));
  set('destination', str(values, 'destination'));
  if (values.incremental) o.incremental = true;
  set('previousImage', str(values, 'incremental-from'));
  set('allowedUids', str(values, 'allowed-uids'));
  set('assembleUser', str(values, 'assemble-user'));
  if (values.copy) o.copy = true;
  set('ref', str(values, 'ref'));
  set('contextDir', str(values, 'context-dir'));
  set('exclude', str(values, 'exclude'));
  set('network', networkFlag(values));
  set('description', str(values, 'description'));
  set('displayName', str(values, 'application-name'));
  if (values['ignore-submodules']) o.ignoreSubmodules = true;
  set('runtimeImage', str(values, 'runtime-image'));
  const artifacts = list(values, 'runtime-artifact');
  if (artifacts.length > 0) o.runtimeArtifacts = artifacts;
  set('assembleRuntimeUser', str(values, 'assemble-runtime-user'));
  const inject = list(values, 'inject').map((v) => pathPair(v, '--inject'));
  if (inject.length > 0) o.inject = inject;
  const volumes = list(values, 'volume').map((v) => pathPair(v, '--volume'));
  if (volumes.length > 0) o.volumes = volumes;
  return o;
}

/** The `s2i` command. */
export const s2i: Command = {
  name: 's2i',
  summary: 'build SOURCE with an s2i builder image (source-to-image, rootless)',
  help,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...s2iFlags, ...outputFlags, ...registryFlags });
    if (values.usage) {
      if (positionals.length !== 1) throw new UsageError(`--usage expects exactly one BUILDER, got ${positionals.length}`);
      const err = lineSink(io.err, () => 'usage: ');
      const out = lineSink(io.out, () => '');
      const env = keyValues(list(values, 'env'), '--env');
      try {
        await runS2iUsage({
          builder: positionals[0] as string,
          ...registryOptions(values),
          ...(str(values, 'scripts-url') !== undefined ? { scriptsUrl: str(values, 'scripts-url') as string } : {}),
          ...(str(values, 'destination') !== undefined ? { destination: str(values, 'destination') as string } : {}),
          ...(Object.keys(env).length > 0 ? { env } : {}),
          stdout: out.sink,
          stderr: err.sink,
        });
      } finally {
        err.flush();
        out.flush();
      }
      return 0;
    }
    if (positionals.length < 2 || positionals.length > 3) throw new UsageError(`expected SOURCE BUILDER [TAG], got ${positionals.length} argument(s)`);
    const [source, builder, tag] = positionals as [string, string, string | undefined];
    if (tag !== undefined) values.to = [...list(values, 'to'), tag];
    const reporter = createProgress(progressMode(values, io), io);
    // The script running now labels the lines; with --json each line is one more JSON event.
    let script = 'assemble';
    const json = (stream: string) => (line: string) => io.err(JSON.stringify({ type: 'output', script, stream, text: line }));
    const out = values.json ? lineSink(json('stdout'), () => '') : lineSink(io.err, () => `${script}: `);
    const err = values.json ? lineSink(json('stderr'), () => '') : lineSink(io.err, () => `${script}: `);
    const onScript = (name: string): void => {
      out.flush();
      err.flush();
      script = name;
    };
    const quiet = Boolean(values.quiet);
    try {
      const result = await buildImage({
        ...outputOptions(values),
        ...registryOptions(values),
        s2i: {
          ...s2iOptions(values, source, builder),
          ...(quiet ? {} : { stdout: out.sink, stderr: err.sink, onScript, onNote: (m: string) => io.err(values.json ? JSON.stringify({ type: 'note', message: m }) : `note: ${m}`) }),
        },
        onEvent: reporter.onEvent,
      });
      out.flush();
      err.flush();
      reporter.done();
      if (values.json) io.err(JSON.stringify({ type: 'stats', ...result.stats }));
      io.out(result.digest);
      return 0;
    } catch (error) {
      out.flush();
      err.flush();
      reporter.done();
      throw error;
    }
  },
};
