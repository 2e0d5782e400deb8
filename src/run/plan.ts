/**
 * Plans one sandboxed run: which mount points exist or must be stubbed (and removed again), what
 * to mount where, and the final command line. Every container path goes through
 * `resolveInRoot`, so nothing the image contains (symlinks, `..`) can point a mount at the host.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import type { HostInfo } from './host.ts';
import { resolveInRoot } from './paths.ts';
import type { SandboxOp } from './sandbox-script.ts';
import type { Mount, RunOptions } from './types.ts';
import type { ExecUser } from './user.ts';

/** Docker's default PATH, added when the step's environment has none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Device nodes bound from the host into the sandbox's private /dev. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/** Inputs of {@link planRun} besides the run options. */
export interface PlanContext {
  /** Host facts. */
  host: HostInfo;
  /** The resolved USER. */
  user: ExecUser;
  /** A private per-run host directory for copies of resolv.conf, hosts and secrets. */
  scratch: string;
}

/** A planned run: ops for the init script, and the clean-up the caller does after it. */
export interface RunPlan {
  /** Set-up ops, then the run op. */
  ops: SandboxOp[];
  /**
   * Stub removals (`rmfile`, `rmdir`) and parent mtime restores (`mtime`), for after the sandbox
   * has exited: its mounts went with its mount namespace, so nothing needs unmounting, and doing
   * this from the caller saves a process per op inside the sandbox.
   */
  teardown: SandboxOp[];
}

class Planner {
  readonly setup: SandboxOp[] = [];
  readonly stubs: SandboxOp[] = [];
  /** Parents whose mtime the stubs disturb, with the mtime to put back. */
  readonly restore = new Map<string, string>();
  constructor(readonly rootfs: string) {}

  /**
   * Makes sure container path `target` exists as `kind`, creating missing components; returns
   * its host path. `stub`: remove what was created after the run (mount points never reach a layer).
   */
  ensure(target: string, kind: 'dir' | 'file', stub: boolean, mode = 0o755): string {
    const r = resolveInRoot(this.rootfs, target, { followFinal: true });
    if (r.exists) {
      const st = fs.statSync(r.hostPath);
      if (kind === 'dir' ? !st.isDirectory() : st.isDirectory()) {
        throw new OcibuildError('ERR_RUN', `cannot mount on ${target}: it exists and is ${st.isDirectory() ? 'a directory' : 'not a directory'}`);
      }
      return r.hostPath;
    }
    const first = r.missing[0];
    if (stub && first !== undefined) {
      const parent = path.dirname(first);
      if (!this.restore.has(parent)) {
        const ns = fs.lstatSync(parent, { bigint: true }).mtimeNs;
        this.restore.set(parent, `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`);
      }
    }
    r.missing.forEach((p, i) => {
      const last = i === r.missing.length - 1;
      const op: SandboxOp = last && kind === 'file' ? { op: 'touch', path: p } : { op: 'mkdir', path: p, mode };
      this.setup.push(op);
      if (stub) this.stubs.push(op.op === 'touch' ? { op: 'rmfile', path: p } : { op: 'rmdir', path: p });
    });
    return r.hostPath;
  }
}

function copyPrivate(source: string, scratch: string, name: string, mode: number): string {
  const dest = path.join(scratch, name);
  try {
    fs.copyFileSync(source, dest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    fs.writeFileSync(dest, '');
  }
  fs.chmodSync(dest, mode);
  return dest;
}

function planDev(p: Planner, scratch: string): void {
  const dev = p.ensure('/dev', 'dir', true);
  // The skeleton (device mount points, pts, shm, the usual symlinks) is made here and copied in
  // with one `cp -a`: one process in the sandbox instead of one per entry.
  const skeleton = path.join(scratch, 'dev');
  fs.mkdirSync(skeleton, { mode: 0o755 });
  const devices = DEVICES.filter((name) => fs.existsSync(`/dev/${name}`));
  for (const name of devices) fs.writeFileSync(path.join(skeleton, name), '', { mode: 0o644 });
  fs.mkdirSync(path.join(skeleton, 'pts'));
  fs.mkdirSync(path.join(skeleton, 'shm'));
  fs.chmodSync(path.join(skeleton, 'pts'), 0o755);
  fs.chmodSync(path.join(skeleton, 'shm'), 0o1777);
  const links: [string, string][] = [
    ['/proc/self/fd', 'fd'],
    ['/proc/self/fd/0', 'stdin'],
    ['/proc/self/fd/1', 'stdout'],
    ['/proc/self/fd/2', 'stderr'],
    ['pts/ptmx', 'ptmx'],
  ];
  for (const [linkTarget, name] of links) fs.symlinkSync(linkTarget, path.join(skeleton, name));
  // A private tmpfs: nothing written to /dev during RUN can reach the rootfs or the host.
  p.setup.push({ op: 'tmpfs', target: dev, options: 'mode=755,nosuid,size=65536k' });
  p.setup.push({ op: 'copytree', source: skeleton, target: dev });
  for (const name of devices) p.setup.push({ op: 'rbind', source: `/dev/${name}`, target: `${dev}/${name}` });
  p.setup.push({ op: 'devpts', target: `${dev}/pts` });
  p.setup.push({ op: 'tmpfs', target: `${dev}/shm`, options: 'mode=1777,nosuid,nodev' });
}

function planNetworkFiles(p: Planner, scratch: string): void {
  for (const name of ['resolv.conf', 'hosts']) {
    const r = resolveInRoot(p.rootfs, `/etc/${name}`);
    // A symlinked or odd resolv.conf is left alone rather than followed somewhere surprising.
    if (r.exists && !fs.lstatSync(r.hostPath).isFile()) continue;
    const copy = copyPrivate(`/etc/${name}`, scratch, name, 0o644);
    const target = p.ensure(`/etc/${name}`, 'file', true);
    p.setup.push({ op: 'rbind', source: copy, target });
    p.setup.push({ op: 'ro', target });
  }
}

function planMount(p: Planner, m: Mount, index: number, scratch: string): void {
  if (!m.target.startsWith('/')) throw new OcibuildError('ERR_INVALID_ARGUMENT', `mount target must be absolute: ${m.target}`);
  switch (m.type) {
    case 'tmpfs': {
      const target = p.ensure(m.target, 'dir', true);
      const options = ['mode=1777', ...(m.size !== undefined ? [`size=${m.size}`] : [])].join(',');
      p.setup.push({ op: 'tmpfs', target, options });
      if (m.readonly === true) p.setup.push({ op: 'ro', target });
      return;
    }
    case 'bind':
    case 'cache': {
      let st: fs.Stats;
      try {
        st = fs.statSync(m.source);
      } catch (error) {
        throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `${m.type} mount source not found: ${m.source}`, { cause: error });
      }
      const target = p.ensure(m.target, st.isDirectory() ? 'dir' : 'file', true);
      if (m.type === 'cache' && st.isDirectory() && fs.readdirSync(m.source).length === 0) {
        // Owner and mode apply to a fresh cache only, as BuildKit does; inside the namespace so ids map.
        if (m.uid !== undefined || m.gid !== undefined) p.setup.push({ op: 'chown', owner: `${m.uid ?? 0}:${m.gid ?? 0}`, path: m.source });
        if (m.mode !== undefined) p.setup.push({ op: 'chmod', mode: m.mode, path: m.source });
      }
      p.setup.push({ op: 'rbind', source: m.source, target });
      // BuildKit bind mounts are read-only unless `rw`; caches are writable.
      if (m.readonly ?? m.type === 'bind') p.setup.push({ op: 'ro', target });
      return;
    }
    case 'secret': {
      const copy = copyPrivate(m.source, scratch, `secret-${index}`, m.mode ?? 0o400);
      if ((m.uid ?? 0) !== 0 || (m.gid ?? 0) !== 0) p.setup.push({ op: 'chown', owner: `${m.uid ?? 0}:${m.gid ?? 0}`, path: copy });
      const target = p.ensure(m.target, 'file', true);
      p.setup.push({ op: 'rbind', source: copy, target });
      if (m.readonly ?? true) p.setup.push({ op: 'ro', target });
      return;
    }
  }
}

/** Builds the environment: the step's env, plus PATH and HOME as Docker adds them when missing. */
export function buildEnv(env: string[], user: ExecUser): string[] {
  const valid = env.filter((e) => e.indexOf('=') > 0);
  const has = (key: string): boolean => valid.some((e) => e.startsWith(`${key}=`));
  const out = [...valid];
  if (!has('PATH')) out.push(DEFAULT_PATH);
  if (!has('HOME')) out.push(`HOME=${user.home}`);
  return out;
}

function commandLine(options: RunOptions, ctx: PlanContext, rootfs: string, sh: boolean): string[] {
  const { host, user } = ctx;
  const env = [host.tools.env ?? 'env', '-i', ...buildEnv(options.env, user)];
  // Docker, BuildKit and buildah give a non-root user its primary gid as a supplementary group
  // too (the 2023 "supplementary groups are not set up properly" fixes), so `id` lists it.
  const groups = user.uid === 0 && user.gid === 0 ? user.groups : [user.gid, ...user.groups.filter((g) => g !== user.gid)];
  if (groups.length > 0 && sh && host.tools.chroot !== undefined) {
    // util-linux `unshare --setgid` drops supplementary groups; coreutils chroot can set them but
    // always starts in `/`, so the image's own sh changes to the workdir.
    return [
      ...env,
      host.tools.chroot,
      `--userspec=${user.uid}:${user.gid}`,
      `--groups=${groups.join(',')}`,
      rootfs,
      '/bin/sh',
      '-c',
      'cd -- "$1" && shift && exec "$@"',
      'sh',
      options.workdir,
      ...options.argv,
    ];
  }
  const ids = user.uid === 0 && user.gid === 0 ? [] : [`--setgid=${user.gid}`, `--setuid=${user.uid}`];
  return [...env, host.tools.unshare ?? 'unshare', `--root=${rootfs}`, `--wd=${options.workdir}`, ...ids, '--', ...options.argv];
}

/** Plans the sandbox for `options`. Throws `ERR_RUN`/`ERR_INVALID_ARGUMENT` for impossible requests. */
export function planRun(options: RunOptions, ctx: PlanContext): RunPlan {
  const rootfs = path.resolve(options.rootfs);
  if (!options.workdir.startsWith('/')) throw new OcibuildError('ERR_INVALID_ARGUMENT', `workdir must be absolute: ${options.workdir}`);
  if (options.argv.length === 0) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'RUN argv is empty');
  const p = new Planner(rootfs);
  // WORKDIR stays in the image (Docker keeps it), so it is not a stub.
  p.ensure(options.workdir, 'dir', false);
  const proc = p.ensure('/proc', 'dir', true);
  p.setup.push({ op: 'proc', target: proc });
  const sys = p.ensure('/sys', 'dir', true);
  p.setup.push({ op: 'sys', target: sys });
  planDev(p, ctx.scratch);
  planNetworkFiles(p, ctx.scratch);
  (options.mounts ?? []).forEach((m, i) => planMount(p, m, i, ctx.scratch));
  if (options.network === 'none') p.setup.push({ op: 'lo' });
  const sh = resolveInRoot(rootfs, '/bin/sh', { followFinal: true }).exists;
  const run: SandboxOp = { op: 'run', argv: commandLine(options, ctx, rootfs, sh) };
  // Creating and removing stubs touches their parents' mtimes; put them back so an untouched
  // /etc does not show up as changed in the snapshot.
  const restore: SandboxOp[] = [...p.restore].map(([dir, stamp]) => ({ op: 'mtime', path: dir, stamp }));
  return { ops: [...p.setup, run], teardown: [...p.stubs.reverse(), ...restore] };
}
