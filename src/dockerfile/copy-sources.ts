/**
 * COPY and ADD sources: resolving source words (wildcards, `--parents` pivots and `**`,
 * `--exclude`, `.dockerignore`) against the build context or another stage's files into
 * {@link CopyItem}s: trees whose contents are copied, or single nodes. Hardlinks between files
 * of a copied tree stay hardlinks, as BuildKit keeps link groups (fsutil's copier tracks inodes).
 * @module
 */

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import { createIgnoreMatcher } from './ignore.ts';
import type { IgnoreMatcher } from './ignore.ts';
import type { FsEntry, StageFilesystem } from './interpret-fs.ts';
import { compileDeepPattern, containsWildcards, expandPattern, unescapeSegment } from './copy-match.ts';

/** Where a source file's bytes come from. */
export type NodeContent = { kind: 'host'; path: string } | { kind: 'bytes'; data: Uint8Array } | { kind: 'fs'; entry: FsEntry };

/** One file-system node of a copy source, relative to its item. */
export interface SourceNode {
  /** Path relative to the item root (`''` for a single-file item). */
  rel: string;
  /** Node type; a `hardlink` names another node of the same item (`linkname`, item-relative). */
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  /** Permission bits. */
  mode: number;
  /** Owner as the source has it (0 for the build context). */
  uid: number;
  /** Group as the source has it. */
  gid: number;
  /** Symlink target, or the item-relative path a hardlink points to. */
  linkname?: string;
  /** File content. */
  content?: NodeContent;
}

/** One resolved source: a directory tree whose contents are copied, or a single node. */
export interface CopyItem {
  /** `tree` copies the contents of a directory; `single` copies one file or symlink. */
  kind: 'tree' | 'single';
  /** Base name used when the destination is a directory. */
  name: string;
  /** Metadata of the tree's root directory (for a newly created destination). */
  root?: SourceNode;
  /** The nodes (for `single`, exactly one with `rel === ''`). */
  nodes: SourceNode[];
  /** With `--parents`: the source's path to keep under the destination. */
  parentsRel?: string;
  /**
   * With `--parents`: the source's directories between the pivot and the match, outermost
   * first (`rel` below the destination), whose metadata the copies of them keep.
   */
  parentDirs?: SourceNode[];
}

/** Where context sources are read from. */
export interface ContextSource {
  /** Absolute build context directory. */
  dir: string;
  /** The `.dockerignore` matcher, if any. */
  ignore: IgnoreMatcher | undefined;
}

/** Options shared by the source collectors. */
export interface CollectOptions {
  /** Where errors point. */
  location: DockerfileLocation;
  /** Instruction name for messages (`COPY`, `ADD`). */
  what: string;
  /** `--exclude` patterns. */
  exclude: readonly string[];
  /** `--parents`. */
  parents: boolean;
}

/** Cleans a source word to a context/root-relative path; `..` never climbs above the root. */
export function cleanSourcePath(word: string): string {
  const out: string[] = [];
  for (const seg of word.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

function excludeMatcher(patterns: readonly string[]): IgnoreMatcher | undefined {
  return patterns.length > 0 ? createIgnoreMatcher(patterns) : undefined;
}

/** Splits `--parents` sources at the `/./` pivot: returns [root, pattern]. */
function pivot(word: string): [string, string] {
  const i = word.indexOf('/./');
  return i < 0 ? ['', word] : [word.slice(0, i), word.slice(i + 3)];
}

async function lstatOrUndefined(p: string) {
  try {
    return await fsp.lstat(p);
  } catch {
    return undefined;
  }
}

/** Resolves symlinks of a context path inside the context (a link never leads out of it). */
async function followInContext(ctx: string, rel: string): Promise<string> {
  let current = rel;
  for (let hops = 0; hops < 40; hops++) {
    const st = await lstatOrUndefined(path.join(ctx, current));
    if (!st?.isSymbolicLink()) return current;
    const link = await fsp.readlink(path.join(ctx, current));
    current = link.startsWith('/') ? cleanSourcePath(link) : cleanSourcePath(path.posix.join(path.posix.dirname(current), link));
  }
  return current;
}

/** One path a source word matched, with the part `--parents` keeps under the destination. */
interface SourceMatch {
  /** Root-relative path. */
  path: string;
  /** With `--parents`: the path below the pivot. */
  parentsRel?: string;
  /** True when the word has no wildcard, so the path must exist. */
  required: boolean;
}

type Lister = (dir: string) => Promise<string[] | undefined>;

function joinRel(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}/${b}`;
}

/**
 * Expands one source word to the paths it names. Without `--parents` a wildcard is expanded
 * one segment at a time (Go's filepath.Match, where `**` is `*`). With `--parents` the word is
 * split at its first `/./` like BuildKit does: the part before is the root (itself expanded
 * when it holds wildcards: `/a/b*\/./c` copies from every match), the part after is an include
 * pattern in which `**` crosses any number of directories, zero included.
 */
async function matchSources(word: string, parents: boolean, list: Lister, exists: (p: string) => Promise<boolean>): Promise<SourceMatch[]> {
  if (!parents) {
    const full = cleanSourcePath(word);
    if (!containsWildcards(full)) return [{ path: unescapeSegment(full), required: true }];
    return (await expandPattern(full, list, exists)).map((path) => ({ path, required: false }));
  }
  const [rootWord, patternWord] = pivot(word);
  const root = cleanSourcePath(rootWord);
  const pattern = cleanSourcePath(patternWord);
  const roots = containsWildcards(root) ? await expandPattern(root, list, exists) : [unescapeSegment(root)];
  const out: SourceMatch[] = [];
  for (const r of roots) {
    if (!containsWildcards(pattern)) {
      const rel = unescapeSegment(pattern);
      out.push({ path: joinRel(r, rel), parentsRel: rel, required: !containsWildcards(root) });
    } else if (!pattern.split('/').includes('**') && !pattern.includes('**')) {
      const found = await expandPattern(pattern, (d) => list(joinRel(r, d)), (p) => exists(joinRel(r, p)));
      for (const rel of found) out.push({ path: joinRel(r, rel), parentsRel: rel, required: false });
    } else {
      const re = compileDeepPattern(pattern);
      // A matched directory brings its whole tree, so nothing below it is matched again.
      const walk = async (dir: string): Promise<void> => {
        const names = await list(joinRel(r, dir));
        if (!names) return;
        for (const name of [...names].sort()) {
          const rel = joinRel(dir, name);
          if (re.test(rel)) out.push({ path: joinRel(r, rel), parentsRel: rel, required: false });
          else await walk(rel);
        }
      };
      await walk('');
    }
  }
  return out;
}

/**
 * Whether a context path is part of the context BuildKit receives: present and not excluded by
 * `.dockerignore`, or an excluded directory that still holds a re-included path (fsutil walks
 * into it and sends it as the parent of what `!pattern` brought back). So `!*\/sub1*` under an
 * excluded `subdir` gives the same files whether a COPY names `.` or `subdir`.
 */
async function visibleInContext(ctx: ContextSource, rel: string): Promise<boolean> {
  const st = await lstatOrUndefined(path.join(ctx.dir, rel));
  if (!st) return false;
  if (rel === '' || !ctx.ignore?.matches(rel)) return true;
  if (!st.isDirectory() || !ctx.ignore.mayReincludeUnder(rel)) return false;
  for (const name of await fsp.readdir(path.join(ctx.dir, rel))) {
    if (await visibleInContext(ctx, `${rel}/${name}`)) return true;
  }
  return false;
}

/** Collects the items of context sources (ignoring `.dockerignore`d paths). */
export async function collectContextSources(words: readonly string[], ctx: ContextSource, options: CollectOptions): Promise<CopyItem[]> {
  const items: CopyItem[] = [];
  const excluded = excludeMatcher(options.exclude);
  const ignored = (rel: string): boolean => ctx.ignore?.matches(rel) ?? false;
  const visible = (rel: string): Promise<boolean> => visibleInContext(ctx, rel);
  const list = async (dir: string): Promise<string[] | undefined> => {
    let names: string[];
    try {
      names = await fsp.readdir(path.join(ctx.dir, dir));
    } catch {
      return undefined;
    }
    const out: string[] = [];
    for (const n of names) if (await visible(joinRel(dir, n))) out.push(n);
    return out;
  };
  const exists = visible;
  for (const word of words) {
    for (const { path: match, parentsRel, required } of await matchSources(word, options.parents, list, exists)) {
      const parentDirs = async (): Promise<{ parentDirs?: SourceNode[] }> => {
        if (parentsRel === undefined) return {};
        const rootRel = match.slice(0, match.length - parentsRel.length).replace(/\/$/, '');
        const out: SourceNode[] = [];
        const parts = parentsRel.split('/').slice(0, -1);
        for (let n = 1; n <= parts.length; n++) {
          const rel = parts.slice(0, n).join('/');
          const st = await lstatOrUndefined(path.join(ctx.dir, joinRel(rootRel, rel)));
          if (st?.isDirectory()) out.push({ rel, type: 'directory', mode: st.mode & 0o7777, uid: 0, gid: 0 });
        }
        return { parentDirs: out };
      };
      if (required && match !== '' && !(await exists(match))) {
        const because = ctx.ignore?.matches(match) ? ' (excluded by .dockerignore)' : '';
        throw new DockerfileError(options.location, `${options.what} failed: source "/${match}" not found in the build context${because}`);
      }
      if (!required && !(await exists(match))) continue;
      const real = await followInContext(ctx.dir, match);
      const st = await lstatOrUndefined(path.join(ctx.dir, real));
      const name = match === '' ? '.' : path.posix.basename(match);
      if (excluded && match !== '' && (excluded.matches(match) || excluded.matches(path.posix.basename(match)))) {
        // An excluded directory still makes its destination, empty (see excludedDirectory).
        if (st?.isDirectory()) items.push(excludedDirectory(name, st.mode & 0o7777, 0, 0, parentsRel, await parentDirs()));
        continue;
      }
      if (!st) throw new DockerfileError(options.location, `${options.what} failed: source "/${match}" is a symlink to a missing file`);
      if (st.isDirectory()) {
        const nodes = await walkContext(ctx, real, excluded);
        const root: SourceNode = { rel: '', type: 'directory', mode: st.mode & 0o7777, uid: 0, gid: 0 };
        items.push({ kind: 'tree', name, root, nodes, parentsRel, ...(await parentDirs()) });
      } else {
        if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
          // BuildKit recreates these (mknod); ocibuild's context copy does not (docs/dockerfile-differences.md).
          const kind = st.isFIFO() ? 'a named pipe' : 'a device node';
          throw new DockerfileError(options.location, `${options.what} failed: source "/${match}" is ${kind}; COPY from the build context takes files, directories, symlinks and sockets`);
        }
        items.push({ kind: 'single', name, nodes: [hostNode(ctx.dir, real, '', st)], parentsRel, ...(await parentDirs()) });
      }
    }
  }
  return items;
}

/**
 * A directory source that `--exclude` leaves out as a whole, as BuildKit copies it: fsutil makes
 * the destination of a directory source before it filters what goes in (`prepareTargetDir`), so
 * the destination exists, empty (BuildKit's testExcludedFilesOnCopy: `ADD --exclude=* dir* /6`
 * gives an empty /6).
 */
function excludedDirectory(name: string, mode: number, uid: number, gid: number, parentsRel: string | undefined, extra: { parentDirs?: SourceNode[] }): CopyItem {
  return { kind: 'tree', name, root: { rel: '', type: 'directory', mode, uid, gid }, nodes: [], ...(parentsRel !== undefined ? { parentsRel } : {}), ...extra };
}

/** An empty file: what a socket in the build context becomes, as fsutil writes any type it does not know. */
const EMPTY: NodeContent = { kind: 'bytes', data: new Uint8Array(0) };

function hostNode(ctx: string, rel: string, nodeRel: string, st: Awaited<ReturnType<typeof fsp.lstat>>): SourceNode {
  const mode = Number(st.mode) & 0o7777;
  if (st.isSymbolicLink()) return { rel: nodeRel, type: 'symlink', mode: 0o777, uid: 0, gid: 0 };
  if (st.isDirectory()) return { rel: nodeRel, type: 'directory', mode, uid: 0, gid: 0 };
  // BuildKit copies a socket of the context as an empty regular file with its permission bits
  // (its testCopySocket); tar has no socket type.
  if (st.isSocket()) return { rel: nodeRel, type: 'file', mode, uid: 0, gid: 0, content: EMPTY };
  return { rel: nodeRel, type: 'file', mode, uid: 0, gid: 0, content: { kind: 'host', path: path.join(ctx, rel) } };
}

async function walkContext(ctx: ContextSource, rootRel: string, excluded: IgnoreMatcher | undefined): Promise<SourceNode[]> {
  const out: SourceNode[] = [];
  // Files with several links: the first path met (walk order) by inode, for later ones to name.
  const firstByInode = new Map<string, string>();
  const visit = async (dirRel: string, nodeRel: string): Promise<void> => {
    const names = (await fsp.readdir(path.join(ctx.dir, dirRel))).sort();
    for (const name of names) {
      const childRel = dirRel === '' ? name : `${dirRel}/${name}`;
      const childNode = nodeRel === '' ? name : `${nodeRel}/${name}`;
      const st = await fsp.lstat(path.join(ctx.dir, childRel));
      const skip = (ctx.ignore?.matches(childRel) ?? false) || (excluded?.matches(childNode) ?? false);
      if (skip) {
        // An excluded directory is still walked when an exception may re-include a child.
        if (st.isDirectory() && ctx.ignore?.mayReincludeUnder(childRel)) await visit(childRel, childNode);
        continue;
      }
      if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink() && !st.isSocket()) continue;
      const node = hostNode(ctx.dir, childRel, childNode, st);
      if (node.type === 'symlink') node.linkname = await fsp.readlink(path.join(ctx.dir, childRel));
      if (node.type === 'file' && st.nlink > 1) {
        const inode = `${st.dev}:${st.ino}`;
        const first = firstByInode.get(inode);
        if (first === undefined) firstByInode.set(inode, childNode);
        else {
          out.push({ rel: childNode, type: 'hardlink', mode: node.mode, uid: 0, gid: 0, linkname: first });
          continue;
        }
      }
      out.push(node);
      if (st.isDirectory()) await visit(childRel, childNode);
    }
  };
  await visit(rootRel, '');
  return out;
}

/** Collects the items of `COPY --from` sources read from another stage's (or image's) files. */
export async function collectFsSources(words: readonly string[], fs: StageFilesystem, options: CollectOptions): Promise<CopyItem[]> {
  const items: CopyItem[] = [];
  const excluded = excludeMatcher(options.exclude);
  const list = async (dir: string): Promise<string[] | undefined> => {
    const { path: real, entry } = await fs.resolve(dir, true);
    if (dir !== '' && entry?.type !== 'directory') return undefined;
    const prefix = real === '' ? '' : `${real}/`;
    return (await fs.listTree(real)).filter((e) => e.path.startsWith(prefix) && !e.path.slice(prefix.length).includes('/')).map((e) => e.path.slice(prefix.length));
  };
  const exists = async (p: string): Promise<boolean> => (await fs.resolve(p, false)).entry !== undefined;
  for (const word of words) {
    for (const { path: match, parentsRel, required } of await matchSources(word, options.parents, list, exists)) {
      if (required && !(await exists(match))) throw new DockerfileError(options.location, `${options.what} failed: source "/${match}" not found`);
      if (!required && !(await exists(match))) continue;
      const { path: real, entry } = await fs.resolve(match, true);
      const name = match === '' ? '.' : path.posix.basename(match);
      if (excluded && match !== '' && (excluded.matches(match) || excluded.matches(path.posix.basename(match)))) {
        if (entry?.type === 'directory') items.push(excludedDirectory(name, entry.mode, entry.uid, entry.gid, parentsRel, parentsRel !== undefined ? { parentDirs: [] } : {}));
        continue;
      }
      if (!entry) throw new DockerfileError(options.location, `${options.what} failed: source "/${match}" is a symlink to a missing file`);
      const extra: { parentsRel?: string; parentDirs?: SourceNode[] } = parentsRel !== undefined ? { parentsRel, parentDirs: [] } : {};
      if (parentsRel !== undefined) {
        const rootRel = match.slice(0, match.length - parentsRel.length).replace(/\/$/, '');
        const parts = parentsRel.split('/').slice(0, -1);
        for (let n = 1; n <= parts.length; n++) {
          const rel = parts.slice(0, n).join('/');
          const e = (await fs.resolve(joinRel(rootRel, rel), true)).entry;
          if (e?.type === 'directory') extra.parentDirs?.push({ rel, type: 'directory', mode: e.mode, uid: e.uid, gid: e.gid });
        }
      }
      if (entry.type === 'directory') {
        const prefix = real === '' ? '' : `${real}/`;
        const nodes: SourceNode[] = [];
        for (const e of await fs.listTree(real)) {
          if (e.path === real) continue;
          const rel = e.path.slice(prefix.length);
          if (excluded?.matches(rel)) continue;
          const node = fsNode(e, rel);
          // A hardlink to a file inside the copied tree stays a hardlink (BuildKit keeps link groups).
          if (node && e.type === 'hardlink' && e.linkname !== undefined && e.linkname.startsWith(prefix)) {
            nodes.push({ rel, type: 'hardlink', mode: e.mode, uid: e.uid, gid: e.gid, linkname: e.linkname.slice(prefix.length) });
          } else if (node) nodes.push(node);
        }
        items.push({ kind: 'tree', name, root: { rel: '', type: 'directory', mode: entry.mode, uid: entry.uid, gid: entry.gid }, nodes, ...extra });
      } else {
        const node = fsNode(entry, '');
        if (node) items.push({ kind: 'single', name, nodes: [node], ...extra });
      }
    }
  }
  return items;
}

function fsNode(e: FsEntry, rel: string): SourceNode | undefined {
  const base = { rel, mode: e.mode, uid: e.uid, gid: e.gid };
  switch (e.type) {
    case 'directory':
      return { ...base, type: 'directory' };
    case 'symlink':
      return { ...base, type: 'symlink', linkname: e.linkname ?? '' };
    case 'file':
    case 'hardlink':
      return { ...base, type: 'file', content: { kind: 'fs', entry: e } };
    default:
      return undefined;
  }
}
