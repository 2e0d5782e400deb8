/**
 * Keeps stage root filesystems between builds, in `CACHE/rootfs/`, so a rebuild does not extract
 * thousands of files again. A tree is never shared or copied: a build *moves* a finished stage's
 * rootfs into the store (`rename`, O(1)), and a later build moves it back out before using it,
 * so exactly one build owns a tree at any time and RUN may change files in place. Copies were
 * the alternative: ext4 has no reflinks, a full copy creates as many inodes as an extraction,
 * and a hardlink farm is unsafe because RUN modifies files in place.
 *
 * Protocol (lock-free, many processes): an entry is a directory `e-RANDOM` holding `tree/` and
 * `meta.json` (layer chain, undo records, owner identity). It appears complete by one rename of
 * a staging directory; a build claims it by renaming it to `taken-RANDOM` (only one rename can
 * win; a loser sees ENOENT and tries the next candidate). The tree is then renamed to the stage
 * directory, which must be on the same filesystem: stage directories live under the store.
 * The tree is trusted like the rest of the cache directory (keep it private to the user).
 * @module
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { HostInfo } from './host.ts';
import { makePrivateTempDir, removeStaleTemps } from '../temp.ts';
import { removeRootfs } from './owners.ts';
import type { LayerUndo } from './undo.ts';

/** A tree's state: the layers it holds (bottom first) and how to undo each (`null`: cannot). */
export interface StoredRootfs {
  /** Layer keys, bottom first. */
  chain: string[];
  /** One undo record per layer. */
  undo: (LayerUndo | null)[];
}

interface Meta extends StoredRootfs {
  schema: 'ocibuild.rootfs/1';
  identity: string;
  stored: string;
}

/** Options of {@link RootfsStore}. */
export interface RootfsStoreOptions {
  /** The store directory (created when needed). */
  dir: string;
  /** Host facts: owners on disk depend on root vs rootless and the subordinate ranges. */
  host: HostInfo;
  /** Trees kept at most (oldest evicted first). Default 4. */
  keep?: number;
}

const STALE_MS = 24 * 3600 * 1000;

function token(): string {
  return randomBytes(8).toString('hex');
}

/** How many layers of `stored` a build needing `chain` keeps: the common prefix, if everything above it can be undone. */
export function usablePrefix(stored: StoredRootfs, chain: readonly string[]): number {
  let k = 0;
  while (k < stored.chain.length && k < chain.length && stored.chain[k] === chain[k]) k++;
  for (let i = k; i < stored.undo.length; i++) if (stored.undo[i] === null) return 0;
  return k;
}

/** The store of reusable stage root filesystems (see the module comment for the protocol). */
export class RootfsStore {
  readonly dir: string;
  private readonly host: HostInfo;
  private readonly keep: number;

  constructor(options: RootfsStoreOptions) {
    this.dir = path.resolve(options.dir);
    this.host = options.host;
    this.keep = options.keep ?? 4;
  }

  /** Who the owners on disk belong to: a tree made by another user or mapping is never taken. */
  get identity(): string {
    return `${process.getuid?.() ?? -1}:${JSON.stringify(this.host.mapping)}`;
  }

  /** Creates a private directory for a build's live trees, on the store's filesystem. */
  async liveDir(): Promise<string> {
    // Named after this process (temp.ts): a killed build's live trees go at the next build.
    await removeStaleTemps(this.dir, 'live-', { remove: (dir) => removeRootfs(dir, this.host), unjudgedAfterMs: STALE_MS });
    return makePrivateTempDir(this.dir, 'live-');
  }

  /**
   * Claims the stored tree that keeps the most layers of `chain` and renames it to `target`
   * (which must not exist). Returns its state, or undefined when none fits or the move failed.
   */
  async take(chain: readonly string[], target: string): Promise<StoredRootfs | undefined> {
    const candidates: { name: string; meta: Meta; usable: number }[] = [];
    for (const { name, meta } of await this.entries()) {
      const usable = usablePrefix(meta, chain);
      if (usable > 0) candidates.push({ name, meta, usable });
    }
    candidates.sort((a, b) => b.usable - a.usable || a.meta.chain.length - b.meta.chain.length);
    for (const { name, meta } of candidates) {
      const claimed = path.join(this.dir, `taken-${token()}`);
      try {
        await fs.rename(path.join(this.dir, name), claimed);
      } catch {
        continue; // Another build took it first.
      }
      try {
        await fs.rename(path.join(claimed, 'tree'), target);
      } catch {
        await removeRootfs(claimed, this.host).catch(() => {});
        return undefined;
      }
      await fs.rm(claimed, { recursive: true, force: true }).catch(() => {});
      return { chain: meta.chain, undo: meta.undo };
    }
    return undefined;
  }

  /**
   * Moves `tree` (a finished, consistent stage rootfs) into the store with its state; evicts the
   * oldest entries beyond `keep`. On any failure the tree is deleted instead. Returns true when kept.
   */
  async put(tree: string, state: StoredRootfs): Promise<boolean> {
    if (this.keep <= 0) {
      await removeRootfs(tree, this.host);
      return false;
    }
    const staging = path.join(this.dir, `tmp-${token()}`);
    try {
      await fs.mkdir(staging, { mode: 0o700 });
      await fs.rename(tree, path.join(staging, 'tree'));
      const meta: Meta = { schema: 'ocibuild.rootfs/1', identity: this.identity, stored: new Date().toISOString(), chain: state.chain, undo: state.undo };
      await fs.writeFile(path.join(staging, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
      await fs.rename(staging, path.join(this.dir, `e-${token()}`));
    } catch {
      await removeRootfs(tree, this.host).catch(() => {});
      await removeRootfs(staging, this.host).catch(() => {});
      return false;
    }
    await this.evict();
    return true;
  }

  private async entries(): Promise<{ name: string; meta: Meta }[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const out: { name: string; meta: Meta }[] = [];
    for (const name of names) {
      if (!name.startsWith('e-')) continue;
      try {
        const meta = JSON.parse(await fs.readFile(path.join(this.dir, name, 'meta.json'), 'utf8')) as Meta;
        const valid = meta.schema === 'ocibuild.rootfs/1' && meta.identity === this.identity && Array.isArray(meta.chain) && Array.isArray(meta.undo) && meta.chain.length === meta.undo.length;
        if (valid) out.push({ name, meta });
      } catch {
        // Taken in between, or not ours: skip.
      }
    }
    return out;
  }

  private async evict(): Promise<void> {
    const entries = (await this.entries()).sort((a, b) => (a.meta.stored < b.meta.stored ? -1 : 1));
    for (const { name } of entries.slice(0, Math.max(0, entries.length - this.keep))) {
      const doomed = path.join(this.dir, `del-${token()}`);
      try {
        await fs.rename(path.join(this.dir, name), doomed);
      } catch {
        continue;
      }
      await removeRootfs(doomed, this.host).catch(() => {});
    }
    // Leftovers of crashed builds (half-moved entries, live trees of older versions) once they
    // are a day old; tagged live trees are judged by their process in liveDir().
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (!/^(live-[^-]*$|(taken|tmp|del)-)/.test(name)) continue;
      const st = await fs.lstat(path.join(this.dir, name)).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > STALE_MS) await removeRootfs(path.join(this.dir, name), this.host).catch(() => {});
    }
  }
}
