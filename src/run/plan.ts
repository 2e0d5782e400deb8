/**
 * Plans one sandboxed run: the bubblewrap options (what is mounted where in the step's mount
 * namespace), the host sources handed over as open descriptors, the owner fixes the launcher
 * makes first, the mount-point stubs to remove afterwards, and the command. Every container path
 * goes through `resolveInRoot` and reaches bwrap with its symlinks already resolved inside the
 * rootfs, so nothing the image contains (symlinks, `..`) can point a mount or a stub at the host:
 * bwrap resolves destinations while the host's tree is still its root.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import type { HostInfo } from './host.ts';
import { containerGidToHost, containerUidToHost } from './idmap.ts';
import { resolveInRoot } from './paths.ts';
import type { SandboxOp } from './sandbox-script.ts';
import type { Mount, RunOptions } from './types.ts';
import type { ExecUser } from './user.ts';

/**
 * The step's hostname, BuildKit's default (moby/buildkit `executor/oci/hosts.go`
 * `defaultHostname`), set in the step's own UTS namespace. As in BuildKit, `/etc/hostname` is
 * left as the image has it (BuildKit binds only resolv.conf and hosts): a step may change it and
 * the change is part of the layer.
 */
export const SANDBOX_HOSTNAME = 'buildkitsandbox';

/** Docker's default PATH, added when the step's environment has none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The bounding set of a root step: Docker's default set (moby `oci/caps/defaults.go`) minus
 * CAP_SYS_CHROOT, which only the classic chroot-in-a-subdirectory escape needs. No CAP_SYS_ADMIN
 * (mount, pivot_root), so no step can change what bwrap mounted.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** /proc files runc and crun hide (bound over with /dev/null) when the kernel has them. */
const MASKED_PROC_FILES = ['kcore', 'keys', 'latency_stats', 'timer_list', 'timer_stats', 'sched_debug'];
/** /proc and /sys directories runc and crun hide under an empty read-only tmpfs. */
const MASKED_DIRS = ['/proc/acpi', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'];

/** Inputs of {@link planRun} besides the run options. */
export interface PlanContext {
  /** Host facts. */
  host: HostInfo;
  /** The resolved USER. */
  user: ExecUser;
  /**
   * A private per-run host directory for copies of resolv.conf, hosts and secrets. For a root
   * caller it must be searchable (0711) by the sandbox's
   * ids: bwrap runs as one of them.
   */
  scratch: string;
}

/** A planned run. */
export interface RunPlan {
  /** Owner and directory fixes the launcher makes before bwrap starts (ids of its namespace). */
  pre: SandboxOp[];
  /** bwrap options, without the command (they go to bwrap's `--args` file, never to an argv). */
  bwrap: string[];
  /** The command. */
  argv: string[];
  /** Container ids of the step: uid, gid and the full group list (gid included). */
  ids: { uid: number; gid: number; groups: number[] };
  /**
   * Stub removals (`rmfile`, `rmdir`) and parent mtime restores (`mtime`), for after the sandbox
   * has exited: its mounts went with its mount namespace, so nothing needs unmounting.
   */
  teardown: SandboxOp[];
}

/** Ids as the launcher's namespace sees them: host ids for root callers, container ids rootless. */
export function launcherUid(host: HostInfo, uid: number): number {
  if (!host.root) return uid;
  const mapped = containerUidToHost(host.mapping, uid);
  if (mapped === undefined) throw new OcibuildError('ERR_RUN', `uid ${uid} is outside the sandbox's id range (0-${(host.subuid?.count ?? 65536) - 1})`);
  return mapped;
}

/** See {@link launcherUid}. */
export function launcherGid(host: HostInfo, gid: number): number {
  if (!host.root) return gid;
  const mapped = containerGidToHost(host.mapping, gid);
  if (mapped === undefined) throw new OcibuildError('ERR_RUN', `gid ${gid} is outside the sandbox's id range (0-${(host.subgid?.count ?? 65536) - 1})`);
  return mapped;
}

class Planner {
  readonly pre: SandboxOp[] = [];
  readonly args: string[] = [];
  private staged = 0;
  readonly stubs: SandboxOp[] = [];
  /** Parents whose mtime the stubs disturb, with the mtime to put back. */
  readonly restore = new Map<string, string>();
  constructor(
    readonly rootfs: string,
    readonly host: HostInfo,
    readonly scratch: string,
  ) {}

  /**
   * The path bwrap binds `source` from. bwrap resolves sources by path as the step's (host)
   * uid; a root caller's sources sit below root-only directories, so the launcher, still host
   * root in a private mount namespace, first binds each one under the searchable scratch dir.
   */
  source(source: string, kind: 'dir' | 'file'): string {
    if (!this.host.root) return source;
    const staged = path.join(this.scratch, 'src', String(this.staged++));
    this.pre.push({ op: 'stage', source, path: staged, kind });
    return staged;
  }

  owner(uid: number, gid: number): string {
    return `${launcherUid(this.host, uid)}:${launcherGid(this.host, gid)}`;
  }

  /**
   * Resolves container path `target` inside the rootfs (symlinks followed inside it) and returns
   * the symlink-free container path for bwrap. What is missing bwrap creates as a mount point;
   * with `stub` it is removed again after the run (mount points never reach a layer). `kept`:
   * created here, owned by root, and left in place (a missing WORKDIR, as Docker does).
   */
  target(target: string, kind: 'dir' | 'file', how: 'stub' | 'kept', mode = 0o755): string {
    const r = resolveInRoot(this.rootfs, target, { followFinal: true });
    if (r.exists) {
      const st = fs.statSync(r.hostPath);
      if (kind === 'dir' ? !st.isDirectory() : st.isDirectory()) {
        throw new OcibuildError('ERR_RUN', `cannot mount on ${target}: it exists and is ${st.isDirectory() ? 'a directory' : 'not a directory'}`);
      }
      return `/${r.relative}`;
    }
    const first = r.missing[0];
    if (how === 'stub' && first !== undefined) {
      const parent = path.dirname(first);
      if (!this.restore.has(parent)) {
        const ns = fs.lstatSync(parent, { bigint: true }).mtimeNs;
        this.restore.set(parent, `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`);
      }
    }
    r.missing.forEach((p, i) => {
      const last = i === r.missing.length - 1;
      if (how === 'kept') this.pre.push({ op: 'mkdir', path: p, mode, owner: this.owner(0, 0) });
      else this.stubs.push(last && kind === 'file' ? { op: 'rmfile', path: p } : { op: 'rmdir', path: p });
    });
    return `/${r.relative}`;
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

/** True when container `dest` lies on one of the sandbox's own file systems (not in the rootfs). */
function onSandboxFs(dest: string): boolean {
  return /^\/(dev|proc)(\/|$)/.test(dest);
}

function planSystem(p: Planner): void {
  const proc = p.target('/proc', 'dir', 'stub');
  p.args.push('--proc', proc);
  // bwrap itself makes /proc/sys, sysrq-trigger, irq and bus read-only, as runc does.
  for (const name of MASKED_PROC_FILES) if (fs.existsSync(`/proc/${name}`)) p.args.push('--ro-bind', '/dev/null', `${proc}/${name}`);
  const dev = p.target('/dev', 'dir', 'stub');
  // bwrap's /dev: a tmpfs with null zero full random urandom tty, devpts (pts, ptmx) and the fd links.
  p.args.push('--dev', dev, '--perms', '1777', '--tmpfs', `${dev}/shm`);
  const sys = p.target('/sys', 'dir', 'stub');
  // A fresh sysfs needs privileges over the network namespace; the host's, read-only, is what
  // rootless podman shows too. Its writable knobs are read-only, the firmware tables hidden.
  p.args.push('--ro-bind', '/sys', sys);
  for (const dir of MASKED_DIRS) {
    if (!fs.existsSync(dir)) continue;
    const where = dir.startsWith('/proc/') ? `${proc}${dir.slice(5)}` : `${sys}${dir.slice(4)}`;
    p.args.push('--tmpfs', where, '--remount-ro', where);
  }
}

function planNetworkFiles(p: Planner, scratch: string, hostname: string, extraHosts: Readonly<Record<string, string>>): void {
  for (const name of ['resolv.conf', 'hosts']) {
    const r = resolveInRoot(p.rootfs, `/etc/${name}`);
    // A symlinked or odd resolv.conf is left alone rather than followed somewhere surprising.
    if (r.exists && !fs.lstatSync(r.hostPath).isFile()) continue;
    // A private copy: the step sees a file ocibuild owns, never a host path it could swap.
    const file = copyPrivate(`/etc/${name}`, scratch, name, 0o644);
    // BuildKit's lines first (`127.0.0.1 localhost HOSTNAME`, `::1 localhost ...`, its
    // executor/oci/hosts.go), then the host's own: a step on the host's network still finds the
    // names the host (a CI pod's hostAliases, say) maps.
    if (name === 'hosts') {
      const extra = Object.entries(extraHosts).map(([host, ip]) => `${ip}\t${host}\n`).join('');
      fs.writeFileSync(file, `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n${extra}${fs.readFileSync(file, 'utf8')}`);
    }
    const dest = p.target(`/etc/${name}`, 'file', 'stub');
    p.args.push('--ro-bind', file, dest);
  }
}

/** Extra hosts a step may be given: host names mapped to IPv4 or IPv6 addresses. */
function checkExtraHosts(hosts: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  for (const [host, ip] of Object.entries(hosts ?? {})) {
    checkHostname(host, 'host name');
    if (net.isIP(ip) === 0) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(ip)} for host ${host} (an --add-host entry is NAME:IP)`);
  }
  return hosts ?? {};
}

/** A hostname a step may be given: RFC 1123 labels, at most 64 characters (the kernel's limit). */
function checkHostname(name: string, what = 'sandbox hostname'): string {
  if (name.length === 0 || name.length > 64 || !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(name)) {
    throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(name)}: letters, digits, '-' and '.', at most 64 characters`);
  }
  return name;
}

function planMount(p: Planner, m: Mount, index: number, scratch: string): void {
  if (!m.target.startsWith('/')) throw new InvalidArgumentError(`mount target must be absolute: ${m.target}`);
  const dest = (kind: 'dir' | 'file'): string => (onSandboxFs(path.posix.normalize(m.target)) ? path.posix.normalize(m.target) : p.target(m.target, kind, 'stub'));
  switch (m.type) {
    case 'tmpfs': {
      const target = dest('dir');
      p.args.push('--perms', '1777', ...(m.size !== undefined ? ['--size', String(m.size)] : []), '--tmpfs', target);
      if (m.readonly === true) p.args.push('--remount-ro', target);
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
      const readonly = m.readonly ?? m.type === 'bind';
      const target = dest(st.isDirectory() ? 'dir' : 'file');
      // A root caller's step is not host root: a writable source it did not create is handed to
      // the step's root once (caches and private rw copies; the contract allows changing them).
      if (p.host.root && !readonly && containerUidToHostReverse(p.host, st.uid) === undefined) p.pre.push({ op: 'chownr', owner: p.owner(0, 0), path: m.source });
      if (m.type === 'cache' && st.isDirectory() && fs.readdirSync(m.source).length === 0) {
        // Owner and mode apply to a fresh cache only, as BuildKit does.
        if (m.uid !== undefined || m.gid !== undefined) p.pre.push({ op: 'chown', owner: p.owner(m.uid ?? 0, m.gid ?? 0), path: m.source });
        if (m.mode !== undefined) p.pre.push({ op: 'chmod', mode: m.mode, path: m.source });
      }
      p.args.push(readonly ? '--ro-bind' : '--bind', p.source(m.source, st.isDirectory() ? 'dir' : 'file'), target);
      return;
    }
    case 'secret': {
      const copy = copyPrivate(m.source, scratch, `secret-${index}`, m.mode ?? 0o400);
      const owner = p.owner(m.uid ?? 0, m.gid ?? 0);
      if (p.host.root || owner !== '0:0') p.pre.push({ op: 'chown', owner, path: copy });
      p.args.push(m.readonly ?? true ? '--ro-bind' : '--bind', copy, dest('file'));
      return;
    }
    case 'ssh': {
      if (!fs.statSync(m.source, { throwIfNoEntry: false })?.isSocket()) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `ssh mount source is not a socket: ${m.source}`);
      // The socket is the caller's own fresh one: the step's ids get it, with the mount's mode.
      p.pre.push({ op: 'chown', owner: p.owner(m.uid ?? 0, m.gid ?? 0), path: m.source });
      p.pre.push({ op: 'chmod', mode: m.mode ?? 0o600, path: m.source });
      p.args.push('--bind', p.source(m.source, 'file'), dest('file'));
      return;
    }
  }
}

/** The container uid a host uid stands for in a root caller's sandbox, if any. */
function containerUidToHostReverse(host: HostInfo, hostUid: number): number | undefined {
  const r = host.mapping.uids[0];
  if (r === undefined) return hostUid;
  return hostUid >= r.outside && hostUid < r.outside + r.count ? hostUid - r.outside : undefined;
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

/** Plans the sandbox for `options`. Throws `ERR_RUN`/`ERR_INVALID_ARGUMENT` for impossible requests. */
export function planRun(options: RunOptions, ctx: PlanContext): RunPlan {
  const rootfs = path.resolve(options.rootfs);
  if (!options.workdir.startsWith('/')) throw new InvalidArgumentError(`workdir must be absolute: ${options.workdir}`);
  if (options.argv.length === 0) throw new InvalidArgumentError('RUN argv is empty');
  const { host, user } = ctx;
  const p = new Planner(rootfs, host, ctx.scratch);
  p.args.push('--unshare-user', '--userns-block-fd', '6', '--info-fd', '7', '--json-status-fd', '3');
  p.args.push('--unshare-pid', '--unshare-ipc', ...(options.network === 'none' ? ['--unshare-net'] : []));
  // Its own UTS namespace, so `hostname` gives BuildKit's name and sethostname reaches no host.
  const hostname = checkHostname(options.hostname ?? SANDBOX_HOSTNAME);
  p.args.push('--unshare-uts', '--hostname', hostname);
  // --die-with-parent: the step dies with the launcher (the launcher's PID namespace makes sure).
  // --new-session: no controlling terminal, so no TIOCSTI keystroke injection into the caller's.
  p.args.push('--die-with-parent', '--new-session');
  p.args.push('--bind', p.source(rootfs, 'dir'), '/');
  // WORKDIR stays in the image (Docker keeps it), so it is created here, root-owned, not stubbed.
  const workdir = p.target(options.workdir, 'dir', 'kept');
  planSystem(p);
  planNetworkFiles(p, ctx.scratch, hostname, checkExtraHosts(options.extraHosts));
  (options.mounts ?? []).forEach((m, i) => planMount(p, m, i, ctx.scratch));
  p.args.push('--chdir', workdir, '--clearenv');
  for (const entry of buildEnv(options.env, user)) {
    const eq = entry.indexOf('=');
    p.args.push('--setenv', entry.slice(0, eq), entry.slice(eq + 1));
  }
  p.args.push('--cap-drop', 'ALL');
  // Root gets Docker's default set; any other user starts with none (as after setuid in runc).
  if (user.uid === 0) for (const cap of DEFAULT_CAPABILITIES) p.args.push('--cap-add', cap);
  // Creating and removing stubs touches their parents' mtimes; put them back so an untouched
  // /etc does not show up as changed in the snapshot.
  const restore: SandboxOp[] = [...p.restore].map(([dir, stamp]) => ({ op: 'mtime', path: dir, stamp }));
  return {
    pre: p.pre,
    bwrap: p.args,
    argv: options.argv,
    ids: { uid: user.uid, gid: user.gid, groups: user.groups },
    teardown: [...p.stubs.reverse(), ...restore],
  };
}
