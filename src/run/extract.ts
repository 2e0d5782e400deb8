/**
 * Materialises image layers into a root filesystem directory: whiteouts and opaque directories
 * applied, files, directories, symlinks and hardlinks created with their modes and mtimes, and
 * ownership either set (as root) or recorded for `applyRecordedOwners` (rootless: the caller cannot
 * chown to subordinate ids from outside the namespace). Nothing can be written outside the root:
 * member names are normalised, `..` components are refused, parents are resolved inside the root
 * (a symlink is never followed out), hardlinks must point inside, device nodes are skipped.
 * @module
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcibuildError } from '../errors.ts';
import { guardTarStream, type TarLimits } from '../layer/tar-guard.ts';
import { containerGidToHost, containerUidToHost } from './idmap.ts';
import { isWithin, resolveInRoot } from './paths.ts';
import type { IdMapping } from './types.ts';
import type { UndoRecorder } from './undo.ts';

/**
 * Ownership (and set-id mode) an entry should have, keyed by root-relative path.
 * @category Images
 */
export interface RecordedOwner {
  /** Container-side uid. */
  uid: number;
  /** Container-side gid. */
  gid: number;
  /** Mode to re-apply after chown when it has setuid/setgid bits (chown clears them). */
  mode?: number;
}

/** Options of {@link extractLayer}. */
export interface ExtractOptions {
  /**
   * `chown`: lchown every entry (needs root; ids used as they are). `record`: put non-root owners
   * into `owners` for a later chown inside the namespace. Default: `chown` as root, else `record`.
   */
  ownership?: 'chown' | 'record';
  /**
   * `chown` mode: container ids → host ids (a root caller's sandbox maps them onto a subordinate
   * range). Identity when absent; ids outside the mapping become the overflow id 65534's host id.
   */
  idMapping?: IdMapping;
  /** Side table filled in `record` mode (and kept consistent on deletions in both modes). */
  owners?: Map<string, RecordedOwner>;
  /** Called for entries skipped on purpose (device nodes, fifos, unknown types). */
  onWarning?: (message: string) => void;
  /** Receives what the layer added and the old metadata of directories it changed (see `undo.ts`). */
  undo?: UndoRecorder;
  /** Bounds on the tar (see `guardTarStream`); defaults in `DEFAULT_TAR_LIMITS`. */
  limits?: Partial<TarLimits>;
  /** The layer's diffID: the tar must hash to it, or the extraction fails (and must not be used). */
  diffId?: string;
}

/** What one layer extraction did. */
export interface ExtractResult {
  /** Entries applied (whiteouts included). */
  entries: number;
  /** Warnings (also passed to `onWarning`). */
  warnings: string[];
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** Normalises a member name to root-relative components; throws `ERR_PATH_ESCAPE` on `..`. */
function memberComponents(name: string, what: string): string[] {
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new OcibuildError('ERR_PATH_ESCAPE', `layer ${what} ${JSON.stringify(name)} has a '..' component`);
  return parts;
}

function removeTree(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

function forgetOwners(owners: Map<string, RecordedOwner> | undefined, rel: string): void {
  if (owners === undefined || owners.size === 0) return;
  const prefix = rel + '/';
  for (const key of owners.keys()) if (key === rel || key.startsWith(prefix)) owners.delete(key);
}

class LayerApplier {
  readonly warnings: string[] = [];
  /** Root-relative paths this layer created (an opaque marker must keep them). */
  private readonly seen = new Set<string>();
  /** Directory metadata, applied last so children do not disturb mtimes and 0555 dirs stay writable. */
  private readonly dirs: { host: string; mode: number; mtime: Date }[] = [];
  private readonly ownership: 'chown' | 'record';
  /**
   * Parent directories already resolved inside the root (by member path). Cleared whenever a
   * directory or symlink is removed or a symlink created, so a cached parent never goes through
   * something that changed since it was checked.
   */
  private readonly parents = new Map<string, { hostPath: string; relative: string }>();

  constructor(
    private readonly root: string,
    private readonly options: ExtractOptions,
  ) {
    this.ownership = options.ownership ?? (process.getuid?.() === 0 ? 'chown' : 'record');
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.options.onWarning?.(message);
  }

  /** Host path of the parent (resolved inside the root, created when missing) and the final name. */
  private locate(parts: string[]): { parentHost: string; parentRel: string; host: string; rel: string; base: string } {
    const base = parts[parts.length - 1] ?? '';
    const key = parts.slice(0, -1).join('/');
    let parent = this.parents.get(key);
    if (parent === undefined) {
      const resolved = resolveInRoot(this.root, key, { followFinal: true });
      const undo = this.options.undo;
      const first = resolved.missing[0];
      if (undo !== undefined && first !== undefined) undo.directory(path.relative(this.root, path.dirname(first)));
      for (const missing of resolved.missing) {
        fs.mkdirSync(missing, { mode: 0o755 });
        undo?.addedPath(path.relative(this.root, missing));
      }
      undo?.directory(resolved.relative);
      if (resolved.exists && !fs.statSync(resolved.hostPath).isDirectory()) {
        throw new OcibuildError('ERR_LAYER', `layer entry ${parts.join('/')}: parent is not a directory`);
      }
      parent = { hostPath: resolved.hostPath, relative: resolved.relative };
      this.parents.set(key, parent);
    }
    const host = path.join(parent.hostPath, base);
    if (!isWithin(this.root, host)) throw new OcibuildError('ERR_PATH_ESCAPE', `layer entry ${parts.join('/')} resolves outside the rootfs`);
    const rel = parent.relative === '' ? base : `${parent.relative}/${base}`;
    return { parentHost: parent.hostPath, parentRel: parent.relative, host, rel, base };
  }

  whiteout(parts: string[], name: string): void {
    this.parents.clear();
    const { parentHost, parentRel, base } = this.locate(parts);
    if (base === OPAQUE) {
      this.opaque(parentHost, parentRel);
      return;
    }
    const victim = base.slice(WHITEOUT.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.includes('/')) {
      throw new OcibuildError('ERR_PATH_ESCAPE', `layer whiteout ${JSON.stringify(name)} names an invalid entry`);
    }
    if (this.options.undo !== undefined && fs.lstatSync(path.join(parentHost, victim), { throwIfNoEntry: false }) !== undefined) {
      this.options.undo.lossy = true;
    }
    removeTree(path.join(parentHost, victim));
    forgetOwners(this.options.owners, parentRel === '' ? victim : `${parentRel}/${victim}`);
  }

  /** Removes what lower layers had in `dirHost`, keeping what this layer already wrote. */
  private opaque(dirHost: string, dirRel: string): void {
    let children: fs.Dirent[];
    try {
      children = fs.readdirSync(dirHost, { withFileTypes: true });
    } catch {
      return;
    }
    for (const child of children) {
      const rel = dirRel === '' ? child.name : `${dirRel}/${child.name}`;
      const host = path.join(dirHost, child.name);
      if (!this.seen.has(rel)) {
        if (this.options.undo !== undefined) this.options.undo.lossy = true;
        removeTree(host);
        forgetOwners(this.options.owners, rel);
      } else if (child.isDirectory()) {
        this.opaque(host, rel);
      }
    }
  }

  /** Clears the way for a new entry of `kind` at `host`; a directory stays when a directory comes. */
  private clear(host: string, rel: string, keepDir: boolean): boolean {
    const st = fs.lstatSync(host, { throwIfNoEntry: false });
    const undo = this.options.undo;
    if (st === undefined) {
      undo?.addedPath(rel);
      return false;
    }
    if (st.isDirectory() && keepDir) {
      undo?.directory(rel);
      return true;
    }
    // Replacing what a lower layer (or this one) wrote cannot be undone.
    if (undo !== undefined && !undo.isAdded(rel)) undo.lossy = true;
    if (st.isDirectory() || st.isSymbolicLink()) this.parents.clear();
    if (st.isDirectory()) removeTree(host);
    else fs.unlinkSync(host);
    forgetOwners(this.options.owners, rel);
    return false;
  }

  private hostUid(uid: number): number {
    const m = this.options.idMapping;
    return m === undefined ? uid : (containerUidToHost(m, uid) ?? containerUidToHost(m, 65534) ?? uid);
  }

  private hostGid(gid: number): number {
    const m = this.options.idMapping;
    return m === undefined ? gid : (containerGidToHost(m, gid) ?? containerGidToHost(m, 65534) ?? gid);
  }

  private own(host: string, rel: string, uid: number, gid: number, mode: number | undefined, symlink: boolean): void {
    if (this.ownership === 'chown') {
      fs.lchownSync(host, this.hostUid(uid), this.hostGid(gid));
      return;
    }
    if (uid !== 0 || gid !== 0) {
      const setId = mode !== undefined && !symlink && (mode & 0o6000) !== 0 ? mode : undefined;
      this.options.owners?.set(rel, setId === undefined ? { uid, gid } : { uid, gid, mode: setId });
    } else {
      this.options.owners?.delete(rel);
    }
  }

  async entry(header: tar.Headers, stream: Readable): Promise<void> {
    const parts = memberComponents(header.name, 'entry');
    if (parts.length === 0) {
      // The root itself ("./"): only its metadata could change; keep the rootfs as it is.
      stream.resume();
      return;
    }
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith(WHITEOUT)) {
      stream.resume();
      this.whiteout(parts, header.name);
      return;
    }
    const { host, rel } = this.locate(parts);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mtime = header.mtime ?? new Date(0);
    switch (header.type) {
      case 'directory': {
        // A new directory is 0700 until finish() gives it its mode: writable for its children.
        if (!this.clear(host, rel, true)) {
          fs.mkdirSync(host, { mode: 0o700 });
        } else {
          // Rootless owners are set later inside the namespace; an undo could not give them back.
          if (this.options.undo !== undefined && this.ownership === 'record' && (uid !== 0 || gid !== 0)) this.options.undo.lossy = true;
          fs.chmodSync(host, 0o700 | mode);
        }
        this.own(host, rel, uid, gid, mode, false);
        this.dirs.push({ host, mode, mtime });
        stream.resume();
        break;
      }
      case 'file':
      case 'contiguous-file':
      case undefined:
      case null: {
        this.clear(host, rel, false);
        // O_EXCL after unlink: never write through an existing hardlink or symlink.
        const fd = fs.openSync(host, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of stream) fs.writeSync(fd, chunk as Uint8Array);
          // Metadata through the descriptor: no more path lookups. Owner before mode (chown clears set-id bits).
          if (this.ownership === 'chown') fs.fchownSync(fd, this.hostUid(uid), this.hostGid(gid));
          else this.own(host, rel, uid, gid, mode, false);
          fs.fchmodSync(fd, mode);
          fs.futimesSync(fd, mtime, mtime);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        stream.resume();
        this.clear(host, rel, false);
        this.parents.clear();
        fs.symlinkSync(header.linkname ?? '', host);
        this.own(host, rel, uid, gid, undefined, true);
        fs.lutimesSync(host, mtime, mtime);
        break;
      }
      case 'link': {
        stream.resume();
        const targetParts = memberComponents(header.linkname ?? '', `hardlink target of ${header.name}:`);
        const target = resolveInRoot(this.root, targetParts.slice(0, -1).join('/'), { followFinal: true });
        const targetHost = path.join(target.hostPath, targetParts[targetParts.length - 1] ?? '');
        if (targetParts.length === 0 || !isWithin(this.root, targetHost) || targetHost === this.root) {
          throw new OcibuildError('ERR_PATH_ESCAPE', `layer hardlink ${header.name} points outside the rootfs`);
        }
        const st = fs.lstatSync(targetHost, { throwIfNoEntry: false });
        if (st === undefined || st.isDirectory()) {
          throw new OcibuildError('ERR_LAYER', `layer hardlink ${header.name}: target ${header.linkname} is missing or a directory`);
        }
        if (targetHost === host) break;
        this.clear(host, rel, false);
        fs.linkSync(targetHost, host);
        const targetRel = target.relative === '' ? targetParts[targetParts.length - 1] : `${target.relative}/${targetParts[targetParts.length - 1]}`;
        const recorded = targetRel === undefined ? undefined : this.options.owners?.get(targetRel);
        if (recorded !== undefined) this.options.owners?.set(rel, recorded);
        break;
      }
      default: {
        stream.resume();
        this.warn(`skipped ${header.type} ${header.name}: device nodes and fifos are not created in a rootfs`);
        return;
      }
    }
    this.seen.add(rel);
  }

  finish(): void {
    // Deepest first so setting a parent's mtime is not undone by finishing a child.
    for (const d of this.dirs.reverse()) {
      fs.chmodSync(d.host, d.mode);
      fs.utimesSync(d.host, d.mtime, d.mtime);
    }
  }
}

/**
 * Applies one uncompressed layer tar to `rootfs` (which must exist). Throws `ERR_PATH_ESCAPE`
 * for members that try to leave the root, `ERR_LAYER` for malformed ones, `ERR_LIMIT_EXCEEDED`
 * past a tar bound and `ERR_DIGEST_MISMATCH` when the tar does not hash to `options.diffId`;
 * after any error the rootfs holds a partial layer and MUST be discarded (`StageRootfs` removes
 * it). Skips device nodes and fifos with a warning.
 */
export async function extractLayer(rootfs: string, tarStream: AsyncIterable<Uint8Array>, options: ExtractOptions = {}): Promise<ExtractResult> {
  const root = path.resolve(rootfs);
  await fsp.mkdir(root, { recursive: true });
  const applier = new LayerApplier(root, options);
  const extract = tar.extract();
  let entries = 0;
  const consume = (async () => {
    for await (const entry of extract) {
      await applier.entry(entry.header, entry);
      entries++;
    }
  })();
  const guarded = guardTarStream(tarStream, { where: `layer for ${root}`, limits: options.limits, diffId: options.diffId });
  const [piped, consumed] = await Promise.allSettled([pipeline(Readable.from(guarded), extract), consume]);
  // A bound or diffID error of the guard says more than the premature close it causes.
  if (piped.status === 'rejected' && piped.reason instanceof OcibuildError) throw piped.reason;
  // The applier's own error (an escape, say) matters more than the premature close it causes.
  if (consumed.status === 'rejected') throw consumed.reason;
  if (piped.status === 'rejected') throw new OcibuildError('ERR_LAYER', `cannot read layer tar for ${root}: ${String(piped.reason)}`, { cause: piped.reason });
  applier.finish();
  return { entries, warnings: applier.warnings };
}
