/**
 * Rootless layer writing needs to read every changed file, but files a RUN step gave to another
 * container user with a private mode (`chown 1000 f && chmod 600 f`) belong to a subordinate id
 * on the host and the caller cannot open them. Such files are copied once, inside the user
 * namespace (where the caller is root), into a private scratch directory, and the layer entry
 * reads the copy; owner and mode in the layer stay those of the original. Likewise directories
 * the caller cannot list are walked by GNU `find` inside the namespace to complete a snapshot.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import type { LayerEntry } from '../layer/types.ts';
import { HOST_PATH, namespaceFlags, type HostInfo } from './host.ts';
import { containerGidToHost, containerUidToHost } from './idmap.ts';
import type { Snapshot, SnapshotEntry } from './snapshot.ts';

const COPY_SCRIPT = String.raw`
while [ $# -gt 1 ]; do
  cat -- "$1" > "$2" || exit 1
  shift 2
done
`;

function runInNamespace(host: HostInfo, argv: string[], what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), ...argv], {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new OcibuildError('ERR_RUN', `${what} failed (exit ${code}): ${stderr.trim()}`))));
  });
}

/** `find -printf` fields, NUL-separated: path, type, mode, uid, gid, size, mtime, ctime, inode, links, link target. */
const FIND_FORMAT = '%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%T@\\0%C@\\0%i\\0%n\\0%l\\0';
const FIELDS = 11;

function secondsToNs(text: string): bigint {
  const [whole = '0', frac = ''] = text.split('.');
  return BigInt(whole) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
}

/**
 * Adds the contents of the snapshot's unreadable directories (rootless: private directories of
 * other container users), listed by GNU `find` inside the namespace where the caller may read
 * them. Ids come back as container ids and are stored as host ids, like the rest of the snapshot.
 */
export async function completeSnapshot(snapshot: Snapshot, host: HostInfo): Promise<void> {
  const dirs = snapshot.unreadable ?? [];
  if (dirs.length === 0 || host.root) return;
  const hostDirs = dirs.map((d) => (d === '' ? snapshot.root : path.join(snapshot.root, d)));
  // One find per directory keeps the prefix of each output path known.
  for (const [i, dirHost] of hostDirs.entries()) {
    const out = await runInNamespace(host, ['find', dirHost, '-mindepth', '1', '-printf', FIND_FORMAT], `listing ${dirHost}`);
    const fields = out.toString('utf8').split('\0');
    const prefix = dirs[i] === '' ? '' : `${dirs[i]}/`;
    for (let f = 0; f + FIELDS <= fields.length; f += FIELDS) {
      const [rel = '', y = '', mode = '0', uid = '0', gid = '0', size = '0', mtime = '0', ctime = '0', ino = '0', nlink = '1', link = ''] = fields.slice(f, f + FIELDS);
      const type: SnapshotEntry['type'] = y === 'f' ? 'file' : y === 'd' ? 'directory' : y === 'l' ? 'symlink' : 'other';
      const entry: SnapshotEntry = {
        type,
        mode: Number.parseInt(mode, 8),
        uid: containerUidToHost(host.mapping, Number(uid)) ?? Number(uid),
        gid: containerGidToHost(host.mapping, Number(gid)) ?? Number(gid),
        size: Number(size),
        mtimeNs: secondsToNs(mtime),
        ctimeNs: secondsToNs(ctime),
        ino: BigInt(ino),
        birthtimeNs: 0n,
        nlink: Number(nlink),
      };
      if (type === 'symlink') entry.linkTarget = link;
      snapshot.entries.set(`${prefix}${rel}`, entry);
    }
  }
  snapshot.unreadable = [];
}

/**
 * Points every `file` entry whose `source` the caller cannot read at a readable copy made inside
 * the namespace (rootless only; as root everything is readable). `scratch` must be a private
 * directory that lives until the layer is written.
 */
export async function ensureReadable(entries: LayerEntry[], host: HostInfo, scratch: string): Promise<number> {
  if (host.root) return 0;
  const pending: { entry: Extract<LayerEntry, { type: 'file' }>; copy: string }[] = [];
  for (const entry of entries) {
    if (entry.type !== 'file' || typeof entry.source !== 'string') continue;
    try {
      fs.accessSync(entry.source, fs.constants.R_OK);
    } catch {
      pending.push({ entry, copy: path.join(scratch, `readable-${pending.length}`) });
    }
  }
  if (pending.length === 0) return 0;
  const args = pending.flatMap((p) => [p.entry.source as string, p.copy]);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), host.tools.sh ?? '/bin/sh', '-c', COPY_SCRIPT, 'ocibuild-read', ...args], {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new OcibuildError('ERR_RUN', `cannot read ${pending.length} changed file(s) owned by other container users (exit ${code}): ${stderr.trim()}`)),
    );
  });
  for (const p of pending) p.entry.source = p.copy;
  return pending.length;
}
