/**
 * The upload of an s2i build: one tar holding `src/` (the source, minus exclusions) and
 * `scripts/NAME` for every script that does not live in the builder, extracted in
 * DESTINATION before `assemble` runs.
 * @module
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listLayerEntries } from '../../layer/entries.ts';
import type { LayerEntry, LayerSpec } from '../../layer/types.ts';
import { tarStream } from '../../layer/write.ts';
import type { ScriptLocation, ScriptName } from './scripts.ts';
import type { PreparedSource } from './source.ts';

/** Options of {@link writeUpload}. */
export interface UploadOptions {
  /** Directory to write `upload.tar` into (made readable to every user: the script's user extracts it). */
  dir: string;
  /** The source, when there is one (`usage` has none). */
  source?: PreparedSource | undefined;
  /** Every located script; the uploaded ones go to `scripts/`. */
  scripts: ReadonlyMap<ScriptName, ScriptLocation>;
  /** Creation time of the entries, seconds. */
  mtime: number;
  /** Aborts writing. */
  signal?: AbortSignal | undefined;
}

/** Writes `DIR/upload.tar`; returns false (and writes nothing) when there is nothing to upload. */
export async function writeUpload(options: UploadOptions): Promise<boolean> {
  const entries: LayerEntry[] = [];
  for (const [name, location] of options.scripts) {
    if (location.kind === 'upload') entries.push({ type: 'file', path: `/scripts/${name}`, source: location.content, mode: 0o755 });
  }
  const spec: LayerSpec = { entries, mtime: new Date(options.mtime * 1000) };
  const { source } = options;
  if (source !== undefined) spec.directories = [{ source: source.dir, destination: '/src', filter: (p) => source.include(p) }];
  if (entries.length === 0 && source === undefined) return false;
  await fs.chmod(options.dir, 0o755);
  const file = path.join(options.dir, 'upload.tar');
  const signal = options.signal ? { signal: options.signal } : {};
  await pipeline(Readable.from(tarStream(listLayerEntries(spec, signal), undefined, options.signal)), createWriteStream(file, { mode: 0o644 }));
  return true;
}
