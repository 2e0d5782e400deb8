/**
 * Stat-only change detection for computed layers: a record, per layer spec, of the `lstat` of
 * every host path the layer's directory walk keeps, and the layer key those inputs gave. When a
 * later build finds every such path with the same inode, size, mode, owner, link count, mtime
 * and ctime (and the spec and writer settings unchanged), the key is taken from the record: the
 * walk through the promise API, the per-file memo lookups and the hashing are all skipped (the
 * production `node_modules` of a one-file rebuild: about 4,000 paths).
 *
 * Why nothing stale can be reused:
 * - Content changes update mtime and ctime; ctime cannot be set back from user space, and an
 *   inode reused after a delete gets a new ctime too.
 * - A record is only written when every path it holds was last changed
 *   {@link RACY_WINDOW_NS} before the snapshot (git's "racy" rule), so a write in the same
 *   clock tick as the snapshot cannot go unseen; the snapshot is taken before the layer is
 *   listed and hashed, so a change during the build leaves the record older than the key's
 *   content, which the next build sees as a change.
 * - Added or removed paths change the set of kept paths; each directory's names are read again.
 * - The spec's filters are functions, so they are not fingerprinted but called again on every
 *   name: a filter that now decides otherwise (a dependency dropped from package.json) changes
 *   the set of kept paths.
 * - Only specs made of host directories without include/exclude globs, plus plain explicit
 *   entries (no host files), take part; anything else goes the full way.
 * @module
 */
import { createHash } from 'node:crypto';
import { constants, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { LayerSpec } from '../layer/types.ts';
import { LAYER_KEY_VERSION, type LayerWriterSettings } from './key.ts';

/** Version of the record; bump it when the directory listing or the record's meaning changes. */
export const LAYER_INPUTS_VERSION = 'ocibuild-layer-inputs/2';

/** A path changed within this long before the snapshot might change again unseen in the same clock tick. */
export const RACY_WINDOW_NS = 2_000_000_000n;

/** Most paths one snapshot takes (past it the layer goes the full way, unrecorded). */
export const MAX_RECORDED_PATHS = 200_000;

/** What is stored under `inputs/<name>.json`. */
export interface LayerInputsRecord {
  /** {@link LAYER_INPUTS_VERSION}. */
  version: string;
  /** The spec's and settings' fingerprint ({@link inputsFingerprint}). */
  fingerprint: string;
  /** The layer key the inputs gave. */
  key: string;
  /** {@link InputsSnapshot.digest} of the inputs. */
  inputs: string;
}

/** The current stat lines of a spec's inputs. */
export interface InputsSnapshot {
  /** How many paths were taken (the walked roots included). */
  count: number;
  /** SHA-256 over every `path NUL statLine` pair, sorted by path: equal digests mean equal inputs. */
  digest: string;
  /** True when some path changed within {@link RACY_WINDOW_NS} of the snapshot: it must not be recorded. */
  racy: boolean;
}

/**
 * The stat fields that change with any change of an inode (content, metadata, replacement).
 * Plain-number stats, not BigInt ones (which cost twice as much per path, in conversions and
 * collections): times are milliseconds with a fraction (sub-microsecond at today's dates),
 * enough because a record only holds paths last changed {@link RACY_WINDOW_NS} before its
 * snapshot, so any later change carries a time at least that much later.
 */
export function statLine(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.mode}:${s.nlink}:${s.uid}:${s.gid}:${s.rdev}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/**
 * A fingerprint of everything but the host files that decides the layer (the spec's data, the
 * writer settings, the default mtime), or undefined when the spec cannot take part: no
 * directories, include/exclude globs, explicit file entries (their content is not walked) or a
 * prebuilt layer.
 */
export function inputsFingerprint(spec: LayerSpec, settings: LayerWriterSettings, defaultMtime: number | undefined): string | undefined {
  const directories = spec.directories ?? [];
  if (directories.length === 0 || spec.prebuilt !== undefined) return undefined;
  if (directories.some((d) => (d.include?.length ?? 0) > 0 || (d.exclude?.length ?? 0) > 0)) return undefined;
  if ((spec.entries ?? []).some((e) => e.type === 'file')) return undefined;
  const data = {
    directories: directories.map((d) => ({ source: path.resolve(d.source), destination: d.destination, metadata: d.metadata, filter: d.filter !== undefined })),
    entries: spec.entries,
    parents: spec.parents,
    normalizeModes: spec.normalizeModes ?? false,
    mtime: spec.mtime,
  };
  return JSON.stringify([LAYER_INPUTS_VERSION, LAYER_KEY_VERSION, settings, defaultMtime ?? null, data]);
}

/**
 * Takes the stat lines of every path the listing of `spec` keeps (as `walkDirectory` decides:
 * never following symlinks below a root, a filter rejecting a directory pruning it), with
 * synchronous calls: thousands of small `lstat`s through the promise API cost ten times more
 * in thread-pool round trips. Undefined when the walk meets something the listing would warn
 * about (a socket), a root that is gone, or more than {@link MAX_RECORDED_PATHS} paths: the
 * full listing then reports it.
 */
export function snapshotInputs(spec: LayerSpec, now: bigint = BigInt(Date.now()) * 1_000_000n): InputsSnapshot | undefined {
  const lines: string[] = [];
  let newestMs = 0;
  const note = (absolute: string, s: Stats): void => {
    lines.push(`${absolute}\0${statLine(s)}`);
    const changed = s.mtimeMs > s.ctimeMs ? s.mtimeMs : s.ctimeMs;
    if (changed > newestMs) newestMs = changed;
  };
  const visit = (dir: string, relativeDir: string, filter: ((rel: string) => boolean) | undefined): boolean => {
    for (const name of readdirSync(dir)) {
      const relative = relativeDir === '' ? name : `${relativeDir}/${name}`;
      if (filter !== undefined && !filter(relative)) continue;
      // `dir` is absolute and normalised, a name holds no '/': no path.join (4,000 calls of it show).
      const absolute = dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
      const s = lstatSync(absolute);
      const type = s.mode & constants.S_IFMT;
      if (type === constants.S_IFSOCK || lines.length >= MAX_RECORDED_PATHS) return false;
      note(absolute, s);
      if (type === constants.S_IFDIR && !visit(absolute, relative, filter)) return false;
    }
    return true;
  };
  try {
    (spec.directories ?? []).forEach((source, i) => {
      const root = path.resolve(source.source);
      // The listing follows a root that is a symlink: what it names counts (its children are taken below).
      note(`${i}\0${root}`, statSync(root));
      if (!visit(root, '', source.filter)) throw new Error('not recordable');
    });
  } catch {
    return undefined;
  }
  // A NUL cannot occur in a path, so the sorted lines encode the inputs unambiguously.
  lines.sort();
  // One update of every `line\n`, the same bytes as one update per line.
  const digest = createHash('sha256').update(lines.length === 0 ? '' : `${lines.join('\n')}\n`).digest('hex');
  return { count: lines.length, digest: `sha256:${digest}`, racy: Number(now) / 1e6 - newestMs < Number(RACY_WINDOW_NS) / 1e6 };
}

/** True when `record` was made from exactly these inputs (same fingerprint, same paths with the same stat lines). */
export function matchesRecord(record: LayerInputsRecord | undefined, fingerprint: string, snapshot: InputsSnapshot): record is LayerInputsRecord {
  return (
    record !== undefined &&
    record !== null &&
    record.version === LAYER_INPUTS_VERSION &&
    record.fingerprint === fingerprint &&
    typeof record.key === 'string' &&
    record.inputs === snapshot.digest
  );
}

/** The record of `snapshot` giving `key`. */
export function inputsRecord(fingerprint: string, key: string, snapshot: InputsSnapshot): LayerInputsRecord {
  return { version: LAYER_INPUTS_VERSION, fingerprint, key, inputs: snapshot.digest };
}
