/**
 * Filesystem snapshots of a rootfs and the diff between two of them as layer entries: new and
 * changed files, directories, symlinks and hardlinks, deletions as whiteouts and replaced
 * directories as opaque markers. `/proc`, `/sys`, `/dev` and other mounted filesystems are
 * never part of a snapshot. Owners are translated back to container ids.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayerEntry } from '../layer/types.ts';
import { hostGidToContainer, hostUidToContainer, IDENTITY_MAPPING } from './idmap.ts';
import type { IdMapping } from './types.ts';

/** What a snapshot knows about one path. */
export interface SnapshotEntry {
  /** Kind of entry. */
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  /** Host uid. */
  uid: number;
  /** Host gid. */
  gid: number;
  /** Size in bytes. */
  size: number;
  /** Modification time, nanoseconds. */
  mtimeNs: bigint;
  /** Status-change time, nanoseconds (catches rewrites that keep size and mtime). */
  ctimeNs: bigint;
  /** Inode number (identity, but file systems reuse freed numbers at once). */
  ino: bigint;
  /** Creation time in nanoseconds where the file system records it (statx), else 0. */
  birthtimeNs: bigint;
  /** Link count (hardlink groups). */
  nlink: number;
  /** Symlink target. */
  linkTarget?: string;
}

/** A rootfs at one moment: root-relative POSIX path (no leading slash) → entry. */
export interface Snapshot {
  /** The host directory. */
  root: string;
  /** Entries, keyed by relative path. */
  entries: Map<string, SnapshotEntry>;
  /**
   * Directories whose listing was refused (EACCES): rootless, a directory another container user
   * made private. Their contents are missing until `completeSnapshot` adds them.
   */
  unreadable?: string[];
}

/** Options of {@link takeSnapshot}. */
export interface SnapshotOptions {
  /** Extra root-relative paths to leave out (with everything below them). */
  exclude?: string[];
}

/** Top-level paths never snapshotted: kernel filesystems and the sandbox's private /dev. */
export const ALWAYS_EXCLUDED = ['proc', 'sys', 'dev'];

function kindOf(st: fs.BigIntStats): SnapshotEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/**
 * Walks `root` with lstat (never following symlinks) and records every entry. Directories on
 * another device (mount points) are skipped with their contents.
 */
export function takeSnapshot(root: string, options: SnapshotOptions = {}): Snapshot {
  const rootAbs = path.resolve(root);
  const excluded = new Set([...ALWAYS_EXCLUDED, ...(options.exclude ?? []).map((p) => p.replace(/^\/+|\/+$/g, ''))]);
  const entries = new Map<string, SnapshotEntry>();
  const rootDev = fs.lstatSync(rootAbs, { bigint: true }).dev;
  const stack: string[] = [''];
  const unreadable: string[] = [];
  while (stack.length > 0) {
    const dirRel = stack.pop() ?? '';
    const dirHost = dirRel === '' ? rootAbs : `${rootAbs}/${dirRel}`;
    let names: string[];
    try {
      names = fs.readdirSync(dirHost);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') unreadable.push(dirRel);
      continue;
    }
    for (const name of names) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      if (excluded.has(rel)) continue;
      const host = `${dirHost}/${name}`;
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(host, { bigint: true });
      } catch {
        continue;
      }
      if (st.dev !== rootDev) continue;
      const type = kindOf(st);
      const entry: SnapshotEntry = {
        type,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: Number(st.size),
        mtimeNs: st.mtimeNs,
        ctimeNs: st.ctimeNs,
        ino: st.ino,
        birthtimeNs: st.birthtimeNs,
        nlink: Number(st.nlink),
      };
      if (type === 'symlink') entry.linkTarget = fs.readlinkSync(host);
      entries.set(rel, entry);
      if (type === 'directory') stack.push(rel);
    }
  }
  return unreadable.length > 0 ? { root: rootAbs, entries, unreadable } : { root: rootAbs, entries };
}

/** Options of {@link diffSnapshots}. */
export interface DiffOptions {
  /** How host owners map to container owners (default identity, i.e. running as root). */
  mapping?: IdMapping;
  /**
   * Clamp every mtime to at most this (the build's creation time), for reproducible RUN layers:
   * BuildKit's `rewrite-timestamp` rule, which lowers later times and keeps earlier ones.
   */
  clampMtime?: Date;
}

/** True when `b` differs from `a` in anything a layer records (or might have changed content). */
function changed(a: SnapshotEntry, b: SnapshotEntry): boolean {
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if (a.type === 'symlink') return a.linkTarget !== b.linkTarget || a.ino !== b.ino;
  if (a.type === 'directory') return a.mtimeNs !== b.mtimeNs;
  // A file rewritten in place with its size and mtime kept still moves ctime; a replaced one
  // gets a new inode; a new hardlink changes nlink. The old content is gone by now, so such a
  // file is taken as changed rather than hashed against nothing.
  return a.size !== b.size || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.ino !== b.ino || a.nlink !== b.nlink;
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

function underAny(rel: string, prefixes: Set<string>): boolean {
  for (let p = parentOf(rel); p !== ''; p = parentOf(p)) if (prefixes.has(p)) return true;
  return false;
}

/**
 * Computes the layer entries that turn `before` into `after` (both of the same rootfs):
 * entries sorted by path, ancestors of every change included with their real metadata,
 * hardlink groups written once as a file and then as hardlinks, deleted paths as whiteouts
 * (only the topmost of a deleted tree), replaced directories as `opaque` plus their contents.
 * An empty array means nothing changed (the caller records an `empty_layer` history entry).
 */
export function diffSnapshots(before: Snapshot, after: Snapshot, options: DiffOptions = {}): LayerEntry[] {
  const mapping = options.mapping ?? IDENTITY_MAPPING;
  const clamp = options.clampMtime?.getTime();
  const emit = new Set<string>();
  const opaque = new Set<string>();
  const replaced = new Set<string>();
  for (const [rel, b] of after.entries) {
    const a = before.entries.get(rel);
    if (a === undefined || changed(a, b)) emit.add(rel);
    // Inode numbers alone miss a directory deleted and recreated (the number is reused); the
    // birth time catches it. Where neither changes, deleted children still get whiteouts.
    if (a !== undefined && (a.type !== b.type || a.ino !== b.ino || a.birthtimeNs !== b.birthtimeNs)) {
      replaced.add(rel);
      if (a.type === 'directory' && b.type === 'directory') opaque.add(rel);
    }
  }
  // Everything under a replaced directory is new content.
  if (opaque.size > 0) for (const rel of after.entries.keys()) if (underAny(rel, opaque)) emit.add(rel);
  const whiteouts: string[] = [];
  const gone = new Set<string>();
  for (const rel of before.entries.keys()) {
    if (after.entries.has(rel)) continue;
    gone.add(rel);
    if (underAny(rel, gone) || underAny(rel, opaque) || underAny(rel, replaced)) continue;
    whiteouts.push(rel);
  }
  // Whiteouts are collected in walk order; drop any whose ancestor was also deleted.
  const topWhiteouts = whiteouts.filter((rel) => !underAny(rel, gone));
  // Hardlink groups: every member of a changed group, so the tar can link to a file it contains.
  const byInode = new Map<bigint, string[]>();
  for (const [rel, b] of after.entries) {
    if (b.type !== 'file' || b.nlink < 2) continue;
    let group = byInode.get(b.ino);
    if (group === undefined) byInode.set(b.ino, (group = []));
    group.push(rel);
  }
  for (const group of byInode.values()) if (group.some((rel) => emit.has(rel))) for (const rel of group) emit.add(rel);
  for (const rel of [...emit, ...topWhiteouts]) for (let p = parentOf(rel); p !== ''; p = parentOf(p)) emit.add(p);
  const out: LayerEntry[] = [];
  const firstOfInode = new Map<bigint, string>();
  const toDate = (ns: bigint): Date => {
    const ms = Number(ns / 1_000_000n);
    return new Date(clamp !== undefined && ms > clamp ? clamp : ms);
  };
  const sorted = [...emit].sort();
  for (const rel of sorted) {
    const b = after.entries.get(rel);
    if (b === undefined || b.type === 'other') continue;
    const meta = {
      path: `/${rel}`,
      mode: b.mode,
      uid: hostUidToContainer(mapping, b.uid) ?? 65534,
      gid: hostGidToContainer(mapping, b.gid) ?? 65534,
      mtime: toDate(b.mtimeNs),
    };
    if (b.type === 'directory') {
      if (opaque.has(rel)) out.push({ type: 'opaque', path: `/${rel}` });
      out.push({ type: 'directory', ...meta });
    } else if (b.type === 'symlink') {
      out.push({ type: 'symlink', target: b.linkTarget ?? '', ...meta });
    } else if (b.nlink > 1 && firstOfInode.has(b.ino)) {
      out.push({ type: 'hardlink', target: `/${firstOfInode.get(b.ino) ?? ''}`, ...meta });
    } else {
      if (b.nlink > 1) firstOfInode.set(b.ino, rel);
      out.push({ type: 'file', source: `${after.root}/${rel}`, ...meta });
    }
  }
  for (const rel of topWhiteouts) out.push({ type: 'whiteout', path: `/${rel}` });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
