/**
 * `ocibuild warm REF...`: fill the local cache with base images (manifests, configs, layers)
 * so later builds can run with `--offline` (the kaniko warmer's job).
 * @module
 */
import { openCache, openSource, warmCache } from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { platformList, REGISTRY_HELP, registryFlags, registryOptions } from './shared.ts';
import { humanBytes, progressFlags, progressMode } from '../progress.ts';

const help = `Usage: ocibuild warm REF... [--platform OS/ARCH]... [--cache-dir DIR]

Stores each image (a registry reference, oci:PATH[:TAG] or docker-archive:PATH) in the local
cache: its manifests, configs and layers. Builds then find it with --offline, under the same
name as their --from. Prints one line per image: REF DIGEST.

  --platform OS/ARCH       platforms to fetch from a multi-platform image (default all)
  --cache-dir DIR          cache directory (default OCIBUILD_CACHE_DIR, else ~/.cache/ocibuild)
${REGISTRY_HELP}
  --progress MODE          plain/tty: one line per blob; json: one JSON object per image on stdout; quiet
  --json                   same as --progress json
  -q, --quiet              same as --progress quiet`;

/** The `warm` command. */
export const warm: Command = {
  name: 'warm',
  summary: 'fill the local cache with base images for offline builds',
  help,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, {
      platform: { type: 'string', multiple: true },
      'cache-dir': { type: 'string' },
      ...progressFlags,
      ...registryFlags,
    });
    if (positionals.length === 0) throw new UsageError('name at least one image to warm');
    const dir = str(values, 'cache-dir');
    const cache = await openCache(dir !== undefined ? { dir } : {});
    const platforms = platformList(values);
    const mode = progressMode(values, io);
    const transportOptions = registryOptions(values);
    for (const ref of positionals) {
      const source = openSource(ref, transportOptions);
      try {
        const result = await warmCache(source.transport, source.reference ?? '', ref, cache, {
          ...(platforms.length ? { platforms } : {}),
          ...signalOf(io),
          onBlob: (d, already) => {
            if (mode === 'plain' || mode === 'tty') io.err(`${already ? 'cached ' : 'fetched'} ${d.digest} ${humanBytes(d.size)}`);
          },
        });
        if (mode === 'json') io.out(JSON.stringify({ ref, ...result }));
        else io.out(`${ref} ${result.digest}`);
      } finally {
        await source.transport.close?.();
      }
    }
    return 0;
  },
};
