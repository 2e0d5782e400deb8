/**
 * Where ocibuild keeps its files between runs.
 * @module
 */
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The cache directory: `options.dir`, else `OCIBUILD_CACHE_DIR`, else `$XDG_CACHE_HOME/ocibuild`,
 * else `~/.cache/ocibuild`. Pure path logic: nothing is created.
 * @example
 * ```ts
 * import { defaultCacheDir } from 'ocibuild';
 *
 * defaultCacheDir(); // $OCIBUILD_CACHE_DIR, else ~/.cache/ocibuild
 * ```
 * @category Cache
 */
export function defaultCacheDir(options: { dir?: string } = {}, env: NodeJS.ProcessEnv = process.env): string {
  if (options.dir !== undefined && options.dir !== '') return path.resolve(options.dir);
  if (env.OCIBUILD_CACHE_DIR !== undefined && env.OCIBUILD_CACHE_DIR !== '') return path.resolve(env.OCIBUILD_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && xdg !== '' ? xdg : path.join(os.homedir(), '.cache'), 'ocibuild');
}
