/**
 * COPY and ADD placement: the explicit entries of one layer for resolved sources (see
 * copy-sources.ts), placed by Docker's destination rules: a directory source copies its
 * contents; a destination ending in `/` (or an existing directory) receives the sources by
 * their base names; otherwise a file is written at the destination path. Parent directories
 * that already exist in the stage keep their metadata; new ones are created with the copy's
 * directory mode and owned by `--chown`.
 * @module
 */

import { DockerfileError, InvalidArgumentError, OcibuildError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import type { LayerEntry } from '../layer/types.ts';
import type { FsEntry, StageFilesystem } from './interpret-fs.ts';
import { applyChmod, createdDirectoryMode, type ChmodSpec } from './chmod.ts';
import type { CopyItem, SourceNode } from './copy-sources.ts';

export * from './copy-sources.ts';

/** How the items are written. */
export interface PlaceOptions {
  /** Absolute destination (normalised, may end with `/`). */
  dest: string;
  /** `--chown` ids, if given. */
  owner: { uid: number; gid: number } | undefined;
  /** `--chmod`, if given: applied to every copied node and to the directories the copy makes. */
  chmod: ChmodSpec | undefined;
  /** The stage's file system for existing directories; undefined with `--link` (fresh parents). */
  destFs: StageFilesystem | undefined;
  /** Host files holding `fs` contents (from `StageFilesystem.extractFiles`). */
  extracted: ReadonlyMap<string, string>;
  /** Where errors point. */
  location?: DockerfileLocation;
}

/**
 * Below the destination nothing is resolved (fsutil copies with Lstat), so a source directory
 * that meets a symlink or file there cannot be merged: BuildKit fails with "cannot copy to
 * non-directory" (moby/buildkit#2626) rather than replace e.g. Debian's `/bin -> usr/bin`.
 */
async function refuseDirectoryOverNonDirectory(item: CopyItem, base: string, destFs: StageFilesystem, location: DockerfileLocation | undefined): Promise<void> {
  const join = (a: string, b: string): string => (a === '' ? b : `${a}/${b}`);
  for (const n of item.nodes) {
    if (n.type !== 'directory') continue;
    const target = join(base, n.rel);
    const existing = await destFs.lookup(target);
    if (existing === undefined || existing.type === 'directory') continue;
    throw placementError(location, `cannot copy to non-directory: /${target} is a ${existing.type} in the image`);
  }
}

function trimSlashes(p: string): string {
  return p.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

/**
 * Places the items at the destination and returns the layer's entries (parents included).
 *
 * Items are placed one after the other as fsutil's `Copy` does for each source of one COPY:
 * a destination that ends in `/` (or `.`), or is an existing directory, receives files by
 * their base names; otherwise a file source is written at the destination path itself, so
 * several file sources to such a destination each replace the previous one and the last one
 * stays (what current BuildKit does: moby/buildkit#1853, #4550). A directory source makes the
 * destination a directory; one after a file of the same COPY fails as fsutil does
 * ("cannot copy to non-directory").
 */
export async function placeItems(items: readonly CopyItem[], options: PlaceOptions): Promise<LayerEntry[]> {
  const { owner, chmod, destFs } = options;
  const premade = /\/$|(^|\/)\.{1,2}$/.test(options.dest);
  let dest = trimSlashes(options.dest);
  let destState: 'dir' | 'file' | 'none' = premade ? 'dir' : 'none';
  if (destFs && dest !== '') {
    // The destination is resolved like continuity's RootPath, which BuildKit uses: every
    // symlink is followed inside the root, the last component too, so copying onto a symlink
    // writes its target (even a missing one) and keeps the link (moby/buildkit#1260).
    const followed = await destFs.resolve(dest, true);
    dest = followed.path;
    if (followed.entry?.type === 'directory') destState = 'dir';
  }
  if (dest === '') destState = 'dir';
  const byPath = new Map<string, LayerEntry>();
  const join = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a}/${b}`);
  const ids = (n: SourceNode) => ({ uid: owner?.uid ?? n.uid, gid: owner?.gid ?? n.gid });
  // Directories the copy makes itself (the destination of a tree, parents) get --chmod too:
  // fsutil creates them with the copy's mode since tonistiigi/fsutil#228 (BuildKit's
  // testCopyChmod expects /parent 0777 after `COPY --chmod=777 foo /parent/foo`).
  const newDirMode = createdDirectoryMode(chmod);
  const put = (p: string, n: SourceNode, base = ''): void => {
    const mode = n.type === 'symlink' ? 0o777 : chmod ? applyChmod(chmod, n.mode, n.type === 'directory') : n.mode;
    const meta = { ...ids(n), mode };
    if (p === '') return;
    if (n.type === 'directory') byPath.set(p, { type: 'directory', path: p, ...meta });
    else if (n.type === 'hardlink') byPath.set(p, { type: 'hardlink', path: p, target: join(base, n.linkname ?? ''), ...meta });
    else if (n.type === 'symlink') byPath.set(p, { type: 'symlink', path: p, target: n.linkname ?? '', ...meta });
    else byPath.set(p, { type: 'file', path: p, source: contentOf(n, options.extracted), ...meta });
  };
  for (const item of items) {
    // --parents: the directories between the pivot and the match are copies of the source's,
    // made with its metadata when the destination lacks them (fsutil createParentDirs).
    for (const dir of item.parentDirs ?? []) {
      const p = join(dest, dir.rel);
      if (byPath.has(p) || (destFs && (await destFs.lookup(p))?.type === 'directory')) continue;
      put(p, dir);
    }
    if (item.kind === 'tree') {
      const base = item.parentsRel !== undefined ? join(dest, item.parentsRel) : dest;
      if (item.parentsRel === undefined && destState === 'file') {
        throw placementError(options.location, `cannot copy to non-directory: /${dest} was written as a file by an earlier source of this instruction`);
      }
      const existing = destFs && base !== '' ? await destFs.lookup(base) : undefined;
      // COPY copies a directory's contents, never the directory itself (moby/buildkit#1941): a
      // missing destination is made by fsutil's MkdirAll, owned by --chown (else root), with
      // the copy's directory mode whatever the source directory's owner and mode.
      if (base !== '' && existing?.type !== 'directory' && item.root && !byPath.has(base)) {
        // (--parents keeps the source directory's metadata, as before.)
        if (item.parentsRel !== undefined) put(base, item.root);
        else byPath.set(base, { type: 'directory', path: base, mode: newDirMode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
      }
      if ((base === '' || existing?.type === 'directory') && destFs) await refuseDirectoryOverNonDirectory(item, base, destFs, options.location);
      for (const n of item.nodes) put(join(base, n.rel), n, base);
      if (item.parentsRel === undefined) destState = 'dir';
    } else {
      const node = item.nodes[0] as SourceNode;
      const target = item.parentsRel !== undefined ? join(dest, item.parentsRel) : destState === 'dir' ? join(dest, item.name) : dest;
      if (target === '') continue;
      put(target, node);
      if (item.parentsRel === undefined && target === dest) destState = 'file';
    }
  }
  orderHardlinks(byPath);
  await addParents(byPath, destFs, owner, newDirMode);
  return [...byPath.values()];
}

function placementError(location: DockerfileLocation | undefined, message: string): OcibuildError {
  return location ? new DockerfileError(location, message) : new InvalidArgumentError(message);
}

/**
 * Layers are written in path order, and a hardlink must come after the file it names: in each
 * link group the first path (by bytes) holds the content and the others link to it.
 */
function orderHardlinks(byPath: Map<string, LayerEntry>): void {
  const groups = new Map<string, string[]>();
  for (const e of byPath.values()) {
    if (e.type !== 'hardlink') continue;
    const target = byPath.get(e.target);
    if (target?.type !== 'file') {
      byPath.delete(e.path);
      continue;
    }
    groups.set(e.target, [...(groups.get(e.target) ?? []), e.path]);
  }
  for (const [target, links] of groups) {
    const file = byPath.get(target);
    if (file?.type !== 'file') continue;
    const all = [target, ...links].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const first = all[0] as string;
    if (first === target) continue;
    const firstEntry = byPath.get(first) as LayerEntry & { uid?: number; gid?: number; mode?: number };
    byPath.set(first, { ...file, path: first });
    byPath.set(target, { type: 'hardlink', path: target, target: first, uid: firstEntry.uid ?? 0, gid: firstEntry.gid ?? 0, mode: file.mode ?? 0o644 });
    for (const link of links) if (link !== first) byPath.set(link, { ...(byPath.get(link) as LayerEntry), target: first } as LayerEntry);
  }
}

function contentOf(n: SourceNode, extracted: ReadonlyMap<string, string>): string | Uint8Array {
  const c = n.content;
  if (!c) return new Uint8Array();
  if (c.kind === 'host') return c.path;
  if (c.kind === 'bytes') return c.data;
  const host = extracted.get(c.entry.path);
  if (host === undefined) throw new Error(`internal: content of /${c.entry.path} was not extracted`);
  return host;
}

/** Gives every missing parent an explicit entry: existing metadata if the stage has it, else new. */
async function addParents(
  byPath: Map<string, LayerEntry>,
  destFs: StageFilesystem | undefined,
  owner: { uid: number; gid: number } | undefined,
  newDirMode: number,
): Promise<void> {
  const wanted = new Set<string>();
  for (const p of byPath.keys()) {
    for (let a = p.slice(0, Math.max(0, p.lastIndexOf('/'))); a !== ''; a = a.slice(0, Math.max(0, a.lastIndexOf('/')))) {
      if (!byPath.has(a)) wanted.add(a);
    }
  }
  for (const dir of wanted) {
    const existing = destFs ? await destFs.lookup(dir) : undefined;
    if (existing?.type === 'directory') {
      byPath.set(dir, { type: 'directory', path: dir, mode: existing.mode, uid: existing.uid, gid: existing.gid, mtime: new Date(existing.mtime * 1000) });
    } else {
      byPath.set(dir, { type: 'directory', path: dir, mode: newDirMode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
    }
  }
}

/** Collects fs-backed entries of items so their content can be extracted in one pass per layer. */
export function fsEntriesOf(items: readonly CopyItem[]): FsEntry[] {
  const out: FsEntry[] = [];
  for (const item of items) for (const n of item.nodes) if (n.content?.kind === 'fs') out.push(n.content.entry);
  return out;
}
