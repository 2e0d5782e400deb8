/**
 * Extended builds (`--runtime-image`): after `assemble`, the runtime artifacts are taken out of
 * the builder's rootfs and put in the runtime image's working directory, where
 * `assemble-runtime` runs as the runtime image's user; the output image is the runtime image
 * plus that one layer. As documented in s2i's docs/runtime_image.md: `SRC[:DEST]` mappings
 * (else the runtime image's `io.openshift.s2i.assemble-input-files` label, `;`-separated), SRC
 * absolute without wildcards, DEST a relative directory; directories and executables get 0755,
 * other files 0644.
 * @module
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listLayerEntries } from '../../layer/entries.ts';
import type { DirectorySource, LayerEntry, LayerSpec } from '../../layer/types.ts';
import { tarStream } from '../../layer/write.ts';
import { S2iError } from './errors.ts';
import { resolveInImage } from './builder.ts';

/** Label of a runtime image giving its default artifact mappings. */
export const ASSEMBLE_INPUT_FILES_LABEL = 'io.openshift.s2i.assemble-input-files';

/** One `--runtime-artifact`: a path in the builder, copied into a directory under the runtime image's working directory. */
export interface ArtifactMapping {
  /** Absolute path in the builder after `assemble`. */
  source: string;
  /** Directory relative to the runtime image's working directory (`.` by default). */
  destination: string;
}

/** Parses `SRC[:DEST]` mappings; `what` names the flag or label in errors. */
export function parseArtifactMappings(list: readonly string[], what: string): ArtifactMapping[] {
  return list.map((item) => {
    const colon = item.indexOf(':');
    const source = colon < 0 ? item : item.slice(0, colon);
    const destination = colon < 0 ? '.' : item.slice(colon + 1) || '.';
    const bad = (why: string): never => {
      throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(item)}: ${why}`);
    };
    if (!source.startsWith('/')) bad('the source must be an absolute path');
    if (/[*?[]/.test(source)) bad('wildcards are not supported');
    if (destination.startsWith('/')) bad('the destination must be a relative path');
    const normal = path.posix.normalize(destination);
    if (normal === '..' || normal.startsWith('../')) bad('the destination must not start with ..');
    return { source: path.posix.normalize(source).replace(/(.)\/+$/, '$1'), destination: normal };
  });
}

/** The mappings of a build: the flag's, else the runtime image's label. Throws when there are none. */
export function artifactMappings(flag: readonly string[] | undefined, labels: Readonly<Record<string, string>>, runtimeImage: string): ArtifactMapping[] {
  if (flag !== undefined && flag.length > 0) return parseArtifactMappings(flag, '--runtime-artifact');
  const label = (labels[ASSEMBLE_INPUT_FILES_LABEL] ?? '').split(';').map((s) => s.trim()).filter((s) => s !== '');
  if (label.length === 0) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: no runtime artifacts: give runtimeArtifacts (--runtime-artifact) or set label ${ASSEMBLE_INPUT_FILES_LABEL} on ${runtimeImage}`);
  }
  return parseArtifactMappings(label, `label ${ASSEMBLE_INPUT_FILES_LABEL}`);
}

/** Writes `file`, a tar of every mapped artifact taken from the builder's rootfs at `rootfs`, laid out relative to the working directory. */
export async function writeRuntimeArtifacts(rootfs: string, mappings: readonly ArtifactMapping[], file: string, mtime: number, signal?: AbortSignal): Promise<void> {
  const directories: DirectorySource[] = [];
  const entries: LayerEntry[] = [];
  for (const { source, destination } of mappings) {
    const host = await resolveInImage(rootfs, source);
    if (host === undefined) throw new S2iError('ERR_NOT_FOUND', `s2i: runtime artifact ${source} does not exist in the builder after assemble`);
    const into = path.posix.join('/', destination, path.posix.basename(source));
    const stat = await fs.stat(host);
    if (stat.isDirectory()) directories.push({ source: host, destination: into });
    else entries.push({ type: 'file', path: into, source: host, mode: stat.mode & 0o111 ? 0o755 : 0o644 });
  }
  const spec: LayerSpec = { directories, entries, normalizeModes: true, mtime: new Date(mtime * 1000) };
  await pipeline(Readable.from(tarStream(listLayerEntries(spec, signal ? { signal } : {}), undefined, signal)), createWriteStream(file, { mode: 0o644 }));
}
