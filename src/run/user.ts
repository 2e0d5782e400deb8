/**
 * Resolving a Dockerfile `USER` (`name`, `uid`, `name:group`, `uid:gid`) against the rootfs's
 * /etc/passwd and /etc/group, with Docker's (runc's) rules: a numeric uid missing from passwd is
 * allowed with gid 0 and HOME `/`; a missing name is an error. The group list the process gets
 * is BuildKit's (containerd `WithAdditionalGIDs`): the primary gid first, then, only when USER
 * names no group, every group of /etc/group that lists the user's name; so root in `wheel` has
 * `groups=0(root),10(wheel)` and `USER app:staff` has only `staff`.
 * @module
 */
import * as fs from 'node:fs';
import { OcibuildError } from '../errors.ts';
import { resolveInRoot } from './paths.ts';
import { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from './passwd.ts';

export { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from './passwd.ts';

/** A resolved container user. */
export interface ExecUser {
  /** Container-side uid. */
  uid: number;
  /** Container-side primary gid. */
  gid: number;
  /** The process's group list: the primary gid first, then the supplementary ones. */
  groups: number[];
  /** Home directory from passwd, else `/`. */
  home: string;
}

const NUMERIC = /^[0-9]+$/;

/**
 * Resolves `spec` with already-parsed passwd and group tables. Throws `ERR_RUN` naming the
 * user or group that does not exist.
 */
export function resolveUserSpec(spec: string | undefined, passwd: PasswdEntry[], group: GroupEntry[]): ExecUser {
  const trimmed = (spec ?? '').trim();
  const [userPart = '', groupPart] = trimmed === '' ? ['root'] : trimmed.split(':', 2);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (entry === undefined) {
      if (userPart === 'root') entry = { name: 'root', uid: 0, gid: 0, home: '/root' };
      else throw new OcibuildError('ERR_RUN', `unable to find user ${userPart}: no matching entries in /etc/passwd`);
    }
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) {
      gid = Number(groupPart);
    } else {
      const g = group.find((x) => x.name === groupPart);
      if (g === undefined) throw new OcibuildError('ERR_RUN', `unable to find group ${groupPart}: no matching entries in /etc/group`);
      gid = g.gid;
    }
  }
  const groups: number[] = [gid];
  // `USER name:group` means exactly that group (containerd skips /etc/group then).
  if (entry !== undefined && (groupPart === undefined || groupPart === '')) {
    const name = entry.name;
    for (const g of group) {
      if (g.members.includes(name) && g.gid !== gid && !groups.includes(g.gid)) groups.push(g.gid);
    }
  }
  const home = entry?.home !== undefined && entry.home !== '' ? entry.home : '/';
  return { uid, gid, groups, home };
}

function readInRoot(rootfs: string, file: string): string {
  const resolved = resolveInRoot(rootfs, file, { followFinal: true });
  try {
    return fs.readFileSync(resolved.hostPath, 'utf8');
  } catch {
    // No passwd/group in the image is normal for scratch-like images.
    return '';
  }
}

/** Resolves `spec` against `rootfs`'s /etc/passwd and /etc/group (symlinks followed inside the root). */
export function resolveUser(rootfs: string, spec: string | undefined): ExecUser {
  return resolveUserSpec(spec, parsePasswd(readInRoot(rootfs, '/etc/passwd')), parseGroup(readInRoot(rootfs, '/etc/group')));
}
