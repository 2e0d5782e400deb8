/**
 * Undo records: how to take one layer back off a live rootfs. A layer that only *added* paths
 * (and touched the metadata of directories that were already there) is undone exactly by
 * deleting what it added and putting the old directory metadata back. A layer that replaced,
 * modified or deleted anything that existed before is "lossy" (`null`): the old content is gone,
 * and the rootfs can only be rebuilt from the layers below.
 *
 * This is what lets a rebuild after a source change reuse a rootfs: the Node-app pattern
 * (`COPY package*.json` → `RUN npm ci` → `COPY src` → `RUN build`) adds files in its upper layers,
 * so the next build rewinds the last two layers instead of extracting thousands of files again.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import { resolveInRoot } from './paths.ts';
import type { Snapshot } from './snapshot.ts';

/** Metadata of a directory before a layer changed it. */
export interface DirMeta {
  /** Root-relative path (`''` is the root). */
  path: string;
  /** Permission bits. */
  mode: number;
  /** Host uid. */
  uid: number;
  /** Host gid. */
  gid: number;
  /** Modification time in nanoseconds, as a decimal string (JSON has no bigint). */
  mtimeNs: string;
}

/** How to undo one layer; `null` where a layer cannot be undone. */
export interface LayerUndo {
  /** Top-most root-relative paths the layer created (their contents were created by it too). */
  added: string[];
  /** Directories that existed before and whose metadata the layer changed, with the old values. */
  dirs: DirMeta[];
}

/** Collects an undo record while a layer is extracted. */
export class UndoRecorder {
  private readonly added = new Set<string>();
  private readonly dirs = new Map<string, DirMeta>();
  /** Set once the layer changed something it cannot give back. */
  lossy = false;

  constructor(private readonly root: string) {}

  /** Notes that `rel` did not exist and was created by the layer. */
  addedPath(rel: string): void {
    this.added.add(rel);
  }

  /** True when the layer created `rel` itself. */
  isAdded(rel: string): boolean {
    return this.added.has(rel);
  }

  /** Remembers the metadata of existing directory `rel` before its first change by the layer. */
  directory(rel: string): void {
    if (this.lossy || this.added.has(rel) || this.dirs.has(rel)) return;
    const st = fs.lstatSync(rel === '' ? this.root : path.join(this.root, rel), { bigint: true, throwIfNoEntry: false });
    if (st === undefined || !st.isDirectory()) {
      this.lossy = true;
      return;
    }
    this.dirs.set(rel, { path: rel, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() });
  }

  /** The record, or null when the layer was lossy. */
  result(): LayerUndo | null {
    if (this.lossy) return null;
    return { added: topMost(this.added), dirs: [...this.dirs.values()] };
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

/** Paths of `set` whose ancestors are not in it. */
function topMost(set: Set<string>): string[] {
  const out: string[] = [];
  for (const p of set) {
    let covered = false;
    for (let q = parentOf(p); q !== ''; q = parentOf(q)) {
      if (set.has(q)) {
        covered = true;
        break;
      }
    }
    if (!covered) out.push(p);
  }
  return out.sort();
}

/**
 * The undo record of a RUN step from the snapshots before and after it: `null` when the step
 * modified, replaced or deleted anything that existed before, or changed a directory's owner.
 */
export function undoFromSnapshots(before: Snapshot, after: Snapshot): LayerUndo | null {
  if ((before.unreadable?.length ?? 0) > 0 || (after.unreadable?.length ?? 0) > 0) return null;
  const added = new Set<string>();
  const dirs: DirMeta[] = [];
  for (const [rel, a] of after.entries) {
    const b = before.entries.get(rel);
    if (b === undefined) {
      added.add(rel);
      continue;
    }
    if (a.type !== b.type || a.uid !== b.uid || a.gid !== b.gid) return null;
    if (a.type === 'directory') {
      if (a.mode !== b.mode || a.mtimeNs !== b.mtimeNs) dirs.push({ path: rel, mode: b.mode, uid: b.uid, gid: b.gid, mtimeNs: b.mtimeNs.toString() });
    } else if (a.ino !== b.ino || a.size !== b.size || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.mode !== b.mode || a.linkTarget !== b.linkTarget) {
      return null;
    }
  }
  for (const rel of before.entries.keys()) if (!after.entries.has(rel)) return null;
  return { added: topMost(added), dirs };
}

/**
 * Takes one layer back off `root`: deletes what it added, then restores the old directory
 * metadata (deepest first). Refuses (`ERR_LAYER`) a recorded path that now runs through a
 * symlink, so a stale or forged record cannot delete outside the rootfs. As root, owners are
 * restored too; rootless callers get EPERM/EACCES on subordinate-owned directories and rebuild.
 */
export function undoLayer(root: string, undo: LayerUndo, asRoot: boolean): void {
  const check = (rel: string): string => {
    const resolved = resolveInRoot(root, rel);
    if (resolved.relative !== rel) throw new OcibuildError('ERR_LAYER', `cannot undo layer in ${root}: ${rel} now resolves to ${resolved.relative}`);
    return resolved.hostPath;
  };
  for (const rel of undo.added) {
    if (rel === '' || rel.split('/').includes('..')) throw new OcibuildError('ERR_LAYER', `cannot undo layer in ${root}: bad path ${JSON.stringify(rel)}`);
    fs.rmSync(check(rel), { recursive: true, force: true });
  }
  const dirs = [...undo.dirs].sort((a, b) => b.path.split('/').length - a.path.split('/').length || (a.path < b.path ? 1 : -1));
  for (const d of dirs) {
    const host = d.path === '' ? root : check(d.path);
    if (asRoot) fs.lchownSync(host, d.uid, d.gid);
    fs.chmodSync(host, d.mode);
    const ns = BigInt(d.mtimeNs);
    // utimes takes seconds as a number: keep the whole seconds exact and the fraction to about a microsecond.
    const seconds = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
    fs.utimesSync(host, seconds, seconds);
  }
}
