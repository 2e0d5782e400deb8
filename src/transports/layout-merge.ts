/**
 * Adding a staged new layout to one that another process created first (two writers racing
 * to create the same `oci:` target): its blobs are moved in, then its tags are added to
 * `index.json` under the layout's lock by the caller.
 * @module
 */
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** True when `path` holds an OCI layout (its `oci-layout` file). */
export async function isLayout(path: string): Promise<boolean> {
  return stat(join(path, 'oci-layout')).then(
    (info) => info.isFile(),
    () => false,
  );
}

/** Moves every blob of a staging `blobs/` folder that `to` lacks into it (same file system). */
export async function moveBlobs(from: string, to: string): Promise<void> {
  for (const algorithm of await readdir(from)) {
    await mkdir(join(to, algorithm), { recursive: true });
    for (const name of await readdir(join(from, algorithm))) {
      const target = join(to, algorithm, name);
      // An existing blob has the same digest, so the same bytes: keep it.
      if (await stat(target).then(() => true, () => false)) continue;
      await rename(join(from, algorithm, name), target);
    }
  }
}
