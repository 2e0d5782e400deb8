/**
 * `FROM name` of a named directory build context: BuildKit makes a root file system of the
 * directory (its own `.dockerignore` applied). Here it becomes a base image of one layer holding
 * the directory's files, with an empty config, read through a small read-only transport.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import type { LayerSpec, BuiltLayer } from '../layer/types.ts';
import type { Platform } from '../oci/types.ts';
import type { Transport } from '../transports/types.ts';
import { collectContextSources, placeItems } from '../dockerfile/copy.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { scratchConfig, type ResolvedBase } from './base.ts';

/** Builds the base image of directory `dir` (context `name`) with `writeLayer`. */
export async function directoryContextBase(
  name: string,
  dir: string,
  platform: Platform,
  created: number,
  writeLayer: (spec: LayerSpec) => Promise<BuiltLayer>,
): Promise<ResolvedBase> {
  const ignoreFile = await loadDockerignore(dir);
  const ignore = ignoreFile.patterns.length > 0 ? createIgnoreMatcher(ignoreFile.patterns) : undefined;
  const where = { file: `context ${name}`, line: 1 };
  const items = await collectContextSources(['.'], { dir, ignore }, { location: where, what: `FROM ${name}`, exclude: [], parents: false });
  const entries = await placeItems(items, { dest: '/', owner: undefined, chmod: undefined, destFs: undefined, extracted: new Map() });
  const layer = await writeLayer({ entries });
  const config = scratchConfig(platform);
  config.rootfs.diff_ids = [layer.diffId];
  config.history = [{ created: new Date(created * 1000).toISOString(), created_by: `context ${name}` }];
  const refuse = (): Promise<never> => Promise.reject(new OcibuildError('ERR_UNSUPPORTED', `context ${name} is read-only and has only its layer`));
  const transport: Transport = {
    description: `context ${name} (${dir})`,
    getManifest: refuse,
    putManifest: refuse,
    putBlob: refuse,
    hasBlob: async (d) => d.digest === layer.descriptor.digest,
    getBlob: async (d) => {
      if (d.digest !== layer.descriptor.digest) return refuse();
      return layer.open();
    },
  };
  return { config, layers: [layer.descriptor], transport, digest: undefined, manifestDigest: undefined, manifest: undefined };
}
