/**
 * `ocibuild warm REF...`: fill the local cache with base images (manifests, configs, layers)
 * so later builds can run with `--offline` (the kaniko warmer's job).
 * @module
 */
import { createSession, openCache, warmCache } from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { platformList, REGISTRY_HELP, registryFlags, registryOptions } from './shared.ts';
import { createProgress, humanBytes, progressFlags, progressMode } from '../progress.ts';

const help = `Usage: ocibuild warm REF... [--platform OS/ARCH]... [--cache-dir DIR]

Stores each image (a registry reference, oci:PATH[:TAG] or docker-archive:PATH) in the local
cache: its manifests, configs and layers. Builds then find it with --offline, under the same
name as their --from. Prints one line per image: REF DIGEST.

  --platform OS/ARCH       platforms to fetch from a multi-platform image (default all)
  --cache-dir DIR          cache directory (default OCIBUILD_CACHE_DIR, else ~/.cache/ocibuild)
${REGISTRY_HELP}
  --progress MODE          tty: a bar per blob downloaded; plain: a line per blob; json: download
                           events on stderr, one JSON object per image on stdout; quiet
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
    // One session for every image: one registry client, closed at the end.
    const session = createSession(registryOptions(values));
    // Downloads are shown by the progress renderer (bars in tty mode, lines in plain, events in json).
    const reporter = createProgress(mode, io, process.stderr, { summary: false });
    let failed = true;
    try {
      for (const ref of positionals) await warmOne(ref);
      failed = false;
    } finally {
      reporter.done(failed);
      await session.close();
    }
    return 0;

    async function warmOne(ref: string): Promise<void> {
      // Blobs downloaded from a registry are shown by the renderer; others (a layout, an archive) here.
      const downloaded = new Set<string>();
      const source = session.openSource(ref, {
        onEvent: (event) => {
          if (event.type === 'download') downloaded.add(event.digest);
          reporter.onEvent(event);
        },
      });
      try {
        const result = await warmCache(source.transport, source.reference ?? '', ref, cache, {
          ...(platforms.length ? { platforms } : {}),
          ...signalOf(io),
          onBlob: (d, already) => {
            if ((already || !downloaded.has(d.digest)) && (mode === 'plain' || mode === 'tty')) io.err(`${already ? 'cached ' : 'fetched'} ${d.digest} ${humanBytes(d.size)}`);
          },
        });
        if (mode === 'json') io.out(JSON.stringify({ ref, ...result }));
        else io.out(`${ref} ${result.digest}`);
      } finally {
        await source.transport.close?.();
      }
    }
  },
};
