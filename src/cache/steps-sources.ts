/**
 * The content part of COPY/ADD step keys: every source node after `.dockerignore` and
 * `--exclude` (its item, path, type, mode, uid/gid, link target and content digest; never
 * mtime), with file digests remembered by stat so an unchanged tree is not read again.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { throwIfAborted } from '../errors.ts';
import type { CopyItem, SourceNode } from '../dockerfile/copy.ts';
import { sourceNodeDigest } from './steps-key.ts';
import type { LocalCache } from './store.ts';

interface MemoRecord {
  /** `dev:ino:size:mtimeNs:ctimeNs`. */
  stat: string;
  digest: string;
}

/** A file changed within this long before it was hashed might change again unseen in the same clock tick (git's racy rule). */
const RACY_NS = 2_000_000_000n;
const HASH_CONCURRENCY = 16;

/**
 * Content digests of host files, remembered by stat (size, inode, mtime and ctime: the kernel
 * updates ctime on every write and it cannot be set back) in the cache's `memo/` directory.
 * A digest is only remembered for files last changed well before they were hashed.
 */
export class FileDigestMemo {
  #known: Record<string, MemoRecord> = {};
  readonly #seen: Record<string, MemoRecord> = {};
  #loaded = false;
  #dirty = false;

  constructor(
    private readonly cache: LocalCache | undefined,
    private readonly name: string,
  ) {}

  /** The `sha256:` digest of a host file. */
  async digest(file: string): Promise<string> {
    if (!this.#loaded && this.cache !== undefined) {
      this.#known = (await this.cache.readJson<Record<string, MemoRecord>>('memo', this.name)) ?? {};
    }
    this.#loaded = true;
    const st = await fs.lstat(file, { bigint: true });
    const stat = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = this.#seen[file] ?? this.#known[file];
    if (known !== undefined && known.stat === stat) {
      this.#seen[file] = known;
      return known.digest;
    }
    const started = BigInt(Date.now()) * 1_000_000n;
    const h = createHash('sha256');
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
    const digest = `sha256:${h.digest('hex')}`;
    const changed = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (started - changed > RACY_NS) {
      this.#seen[file] = { stat, digest };
      this.#dirty = true;
    }
    return digest;
  }

  /** Writes the files seen in this build back (dropping files no longer used). */
  async save(): Promise<void> {
    if (this.cache === undefined) return;
    const kept = Object.keys(this.#seen).length !== Object.keys(this.#known).length;
    if (!this.#dirty && !kept) return;
    await this.cache.writeJson('memo', this.name, this.#seen).catch(() => undefined);
  }
}

/** Memo file name of a build context. */
export function memoNameFor(contextDir: string): string {
  return `steps-${createHash('sha256').update(path.resolve(contextDir)).digest('hex')}`;
}

function displayPath(item: CopyItem, node: SourceNode, contextDir: string): string {
  if (node.content?.kind === 'host') {
    const rel = path.relative(contextDir, node.content.path);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel.split(path.sep).join('/');
  }
  return node.rel === '' ? item.name : `${item.name}/${node.rel}`;
}

function bytesDigest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * The key entries of resolved copy items, in order: one `[display path, node digest]` per
 * node, where the digest covers the item (index, kind, name, `--parents` path, root directory
 * metadata) and the node (path, type, mode, uid, gid, link target, content digest).
 */
export async function hashCopyItems(
  items: readonly CopyItem[],
  options: { contextDir: string; memo: FileDigestMemo; signal?: AbortSignal },
): Promise<[string, string][]> {
  const jobs: { item: CopyItem; index: number; node: SourceNode }[] = [];
  items.forEach((item, index) => {
    for (const node of item.nodes) jobs.push({ item, index, node });
  });
  const out: [string, string][] = new Array(jobs.length);
  let cursor = 0;
  const worker = async (): Promise<void> => {
    for (let i = cursor++; i < jobs.length; i = cursor++) {
      throwIfAborted(options.signal);
      const { item, index, node } = jobs[i] as (typeof jobs)[number];
      let content: string | undefined;
      if (node.content?.kind === 'host') content = await options.memo.digest(node.content.path);
      else if (node.content?.kind === 'bytes') content = bytesDigest(node.content.data);
      else if (node.content?.kind === 'fs') content = `fs:${node.content.entry.path}`;
      const root = item.root;
      const digest = sourceNodeDigest([
        index,
        item.kind,
        item.name,
        item.parentsRel,
        root?.mode,
        root?.uid,
        root?.gid,
        node.rel,
        node.type,
        node.mode,
        node.uid,
        node.gid,
        node.linkname,
        content,
      ]);
      out[i] = [displayPath(item, node, options.contextDir), digest];
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, jobs.length) }, worker));
  return out;
}
