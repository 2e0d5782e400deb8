/**
 * `ocibuild append`: add layers from files to a base image and write it (Jib/crane append style).
 * @module
 */
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { buildImage, type LayerSpec } from '../../index.ts';
import { list, parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { ciOptions } from './ci-flags.ts';
import { COMPRESSION_HELP, PROGRESS_HELP, REGISTRY_HELP, configFlags, configOptions, outputFlags, outputOptions, registryFlags, registryOptions, startProgress, finishProgress, digestLines, OUTPUT_FILES_HELP, HEALTHCHECK_HELP } from './shared.ts';

const help = `Usage: ocibuild append [--from BASE] --layer SRC[:DEST]... [CONFIG FLAGS] --to TARGET...

Adds one layer per --layer to BASE (default scratch) and writes the image to every target.
Prints the image digest.

  --from REF               base image: scratch, a registry reference, oci:PATH[:TAG], docker-archive:PATH
  --layer SRC[:DEST]       host directory or file SRC placed at DEST in the image (default /)
  --entrypoint JSON|STR    entrypoint, a JSON array or a string split on spaces
  --cmd JSON|STR           default arguments
  --env K=V                environment variable (repeatable)
  --workdir DIR            working directory
  --user USER              user (name, uid, uid:gid)
  --expose PORT[/PROTO]    exposed port (repeatable)
  --label K=V              label (repeatable)
  --volume PATH            volume (repeatable)
  --stop-signal SIG        stop signal
${HEALTHCHECK_HELP}
  --to TARGET              registry reference, oci:PATH[:TAG], docker-archive:PATH[:REF] (repeatable)
  --tag TAG                extra tag for every target (repeatable)
  --format oci|docker      manifest format (default oci)
${COMPRESSION_HELP}
  --platform OS/ARCH       platform(s) to build (repeatable; "all" = every platform of the base)
  --digest-file FILE       write the digest to FILE
  --load-platform OS/ARCH  the platform a docker-daemon:/podman: target loads from a
                           multi-platform build (default: this host's)
${OUTPUT_FILES_HELP}
${REGISTRY_HELP}
${PROGRESS_HELP}`;

/** Splits `SRC[:DEST]`; a colon followed by `/` starts DEST. */
export function parseLayerFlag(value: string, cwd = process.cwd()): LayerSpec {
  const at = value.lastIndexOf(':/');
  const src = at > 0 ? value.slice(0, at) : value;
  const dest = at > 0 ? value.slice(at + 1) : '/';
  if (src === '') throw new UsageError(`--layer ${JSON.stringify(value)}: empty source`);
  const source = isAbsolute(src) ? src : resolve(cwd, src);
  return { directories: [{ source, destination: dest }], createdBy: `ocibuild append --layer ${historySource(source, cwd)}:${dest}` };
}

/**
 * The source as the history records it: relative to the working directory, or its name alone
 * when outside it; never the absolute host path, so the same command run from another checkout
 * (or by another user) gives the same image.
 */
function historySource(source: string, cwd: string): string {
  const rel = relative(cwd, source);
  if (rel === '') return '.';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return basename(source) || '/';
  return rel.split(sep).join('/');
}

/** The `append` command. */
export const append: Command = {
  name: 'append',
  summary: 'add layers from files to a base image (no Dockerfile)',
  help,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { from: { type: 'string' }, layer: { type: 'string', multiple: true }, ...configFlags, ...outputFlags, ...registryFlags }, false);
    void positionals;
    const layers = list(values, 'layer').map((v) => parseLayerFlag(v));
    const show = startProgress(values, io);
    const result = await finishProgress(show, buildImage({
      from: str(values, 'from') ?? 'scratch',
      layers,
      config: configOptions(values),
      ...outputOptions(values),
      ...ciOptions(values),
      ...registryOptions(values),
      onEvent: show.onEvent,
      ...signalOf(io),
    }));
    io.out(digestLines(result));
    return 0;
  },
};
