/**
 * Reading an OCI layout's `index.json` from disk, bounded, into the document `layout-index.ts`
 * edits.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { LimitExceededError, OcibuildError } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';
import type { IndexDocument } from './layout-index.ts';

/**
 * Reads the `index.json` at `file`: `LimitExceededError` (`maxIndexBytes`) when it is larger
 * than `max` bytes, `ERR_INVALID_MANIFEST` when it cannot be read or is not an image index.
 * `"manifests": null` (umoci's empty layout) reads as no manifests. `where` names the layout.
 */
export async function readIndexFile(file: string, max: number, where: string): Promise<IndexDocument> {
  let doc: unknown;
  try {
    const size = (await stat(file)).size;
    if (size > max) {
      throw new LimitExceededError('maxIndexBytes', max, `${where}: index.json is ${size} bytes, larger than maxIndexBytes (${max}); raise the ociLayout option maxIndexBytes if this is expected`);
    }
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (error instanceof LimitExceededError) throw error;
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: cannot read index.json`, { cause: error });
  }
  const manifests = (doc as { manifests?: unknown } | null)?.manifests;
  if (typeof doc !== 'object' || doc === null || (manifests != null && !Array.isArray(manifests))) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: index.json is not an image index`);
  }
  return { ...(doc as Record<string, unknown>), manifests: (manifests ?? []) as Descriptor[] };
}
