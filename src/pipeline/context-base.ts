/**
 * `FROM name` of a named directory build context: BuildKit makes a root file system of the
 * directory (its own `.dockerignore` applied). Here it becomes a base image of one layer holding
 * the directory's files, with an empty config.
 * @module
 */
import type { LayerSpec, BuiltLayer } from '../layer/types.ts';
import type { Platform } from '../oci/types.ts';
import type { Image } from '../image/model.ts';
import { newImage } from '../image/mutate.ts';
import { builtLayer } from '../image/open.ts';
import { collectContextSources, placeItems } from '../dockerfile/copy.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { scratchConfig } from './base.ts';

/** Builds the base image of directory `dir` (context `name`) with `writeLayer`. */
export async function directoryContextBase(
  name: string,
  dir: string,
  platform: Platform,
  created: number,
  writeLayer: (spec: LayerSpec) => Promise<BuiltLayer>,
): Promise<Image> {
  const ignoreFile = await loadDockerignore(dir);
  const ignore = ignoreFile.patterns.length > 0 ? createIgnoreMatcher(ignoreFile.patterns) : undefined;
  const where = { file: `context ${name}`, line: 1 };
  const items = await collectContextSources(['.'], { dir, ignore }, { location: where, what: `FROM ${name}`, exclude: [], parents: false });
  const entries = await placeItems(items, { dest: '/', owner: undefined, chmod: undefined, destFs: undefined, extracted: new Map() });
  const layer = await writeLayer({ entries });
  const config = scratchConfig(platform);
  config.rootfs.diff_ids = [layer.diffId];
  config.history = [{ created: new Date(created * 1000).toISOString(), created_by: `context ${name}` }];
  return newImage(config, [builtLayer(layer)]);
}
