/**
 * Applies ownership recorded during rootless extraction: one short user-namespace session runs
 * `chown -h` (batched by `xargs`) for every non-root owner, so container id N lands on host id
 * `subuid_start + N - 1` exactly as if the files had been created inside the sandbox.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { OcibuildError, UnsupportedError } from '../errors.ts';
import type { RecordedOwner } from './extract.ts';
import { HOST_PATH, inspectHost, namespaceFlags, probeHost, type HostInfo } from './host.ts';
import { containerGidToHost, containerUidToHost } from './idmap.ts';
import { resolveInRoot } from './paths.ts';

const APPLY_SCRIPT = String.raw`
while [ $# -gt 0 ]; do
  case $1 in
    chown) xargs -0 -r -a "$3" chown -h "$2" || exit 1; shift 3 ;;
    chmod) xargs -0 -r -n 2 -a "$2" chmod || exit 1; shift 2 ;;
  esac
done
`;

/**
 * Chowns every recorded entry of `rootfs` to its container-side owner (inside the namespace when
 * rootless, directly as root). Entries whose path no longer exists or now runs through a symlink
 * are skipped, so a later layer cannot redirect a chown.
 */
export async function applyRecordedOwners(rootfs: string, owners: Map<string, RecordedOwner>, host: HostInfo = inspectHost()): Promise<void> {
  if (owners.size === 0) return;
  const root = path.resolve(rootfs);
  const byOwner = new Map<string, string[]>();
  const modes: string[] = [];
  for (const [rel, owner] of owners) {
    const resolved = resolveInRoot(root, rel);
    if (!resolved.exists || resolved.relative !== rel) continue;
    const key = `${owner.uid}:${owner.gid}`;
    let list = byOwner.get(key);
    if (list === undefined) byOwner.set(key, (list = []));
    list.push(resolved.hostPath);
    if (owner.mode !== undefined) modes.push(owner.mode.toString(8), resolved.hostPath);
  }
  if (host.root) {
    for (const [key, paths] of byOwner) {
      const [uid = 0, gid = 0] = key.split(':').map(Number);
      // Container ids land where the sandbox maps them (a subordinate range, never host root).
      const hostUid = containerUidToHost(host.mapping, uid) ?? containerUidToHost(host.mapping, 65534) ?? uid;
      const hostGid = containerGidToHost(host.mapping, gid) ?? containerGidToHost(host.mapping, 65534) ?? gid;
      for (const p of paths) await fs.lchown(p, hostUid, hostGid);
    }
    for (let i = 0; i + 1 < modes.length; i += 2) await fs.chmod(modes[i + 1] ?? '', Number.parseInt(modes[i] ?? '0', 8));
    return;
  }
  const probe = probeHost(host);
  if (!probe.ok) throw new UnsupportedError(`cannot set image file owners: ${probe.reason}; ${probe.hint}`);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-owners-'));
  try {
    const args: string[] = [];
    let n = 0;
    for (const [key, paths] of byOwner) {
      const list = path.join(scratch, `owner-${n++}`);
      await fs.writeFile(list, paths.join('\0') + '\0');
      args.push('chown', key, list);
    }
    if (modes.length > 0) {
      const list = path.join(scratch, 'modes');
      await fs.writeFile(list, modes.join('\0') + '\0');
      args.push('chmod', list);
    }
    const flags = namespaceFlags(host, false);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(host.tools.unshare ?? 'unshare', [...flags, host.tools.sh ?? '/bin/sh', '-c', APPLY_SCRIPT, 'ocibuild-owners', ...args], {
        env: { PATH: HOST_PATH, LC_ALL: 'C' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new OcibuildError('ERR_RUN', `setting file owners in ${root} failed (exit ${code}): ${stderr.trim()}`));
      });
    });
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Deletes a rootfs (or any tree) that may hold files owned by subordinate ids, which the caller
 * cannot remove from outside the namespace. Missing paths are fine.
 */
export async function removeRootfs(dir: string, host: HostInfo = inspectHost()): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
    return;
  } catch (error) {
    // Anything but root may be stopped by a subordinate-owned directory; retry inside.
    if (host.root) throw error;
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), 'rm', '-rf', '--', path.resolve(dir)], {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new OcibuildError('ERR_RUN', `cannot remove ${dir} (exit ${code})`))));
  });
}
