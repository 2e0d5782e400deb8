/**
 * What the Linux executor needs from the host: tools (bubblewrap, util-linux `unshare` and
 * `setpriv`, coreutils, shadow's `newuidmap`/`newgidmap`), kernel settings for user namespaces,
 * and the subordinate id range the sandbox's ids map onto (the caller's own range when rootless;
 * for root, `root`'s or `containers`' range in /etc/subuid, else {@link DEFAULT_ROOT_RANGE}).
 * `probeHost` checks them all and says what to enable when one is missing.
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findSubordinateRange, IDENTITY_MAPPING, rootlessMapping, rootMapping, type SubordinateRange } from './idmap.ts';
import type { IdMapping, ProbeResult } from './types.ts';

/** The PATH the sandbox's init script runs with (host tools only). */
export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Host facts the executor uses; computed once per executor. */
export interface HostInfo {
  /**
   * True when the caller is real root. Steps still run in a user namespace, mapped onto
   * {@link subuid}/{@link subgid} (never onto host root), and ocibuild writes the maps itself.
   */
  root: boolean;
  /** Absolute paths of the host tools, `undefined` when missing. */
  tools: Record<'unshare' | 'env' | 'chroot' | 'sh' | 'mount' | 'newuidmap' | 'newgidmap' | 'bwrap' | 'setpriv', string | undefined>;
  /** Subordinate uid range: the caller's (rootless), or the range container ids 0..count-1 map onto (root). */
  subuid: SubordinateRange | undefined;
  /** Subordinate gid range; see {@link subuid}. */
  subgid: SubordinateRange | undefined;
  /** The mapping between container and host ids for files created in the sandbox. */
  mapping: IdMapping;
  /** Caller's login name, when known. */
  userName: string | undefined;
}

/** Finds `name` in the standard PATH directories. */
export function findTool(name: string): string | undefined {
  for (const dir of HOST_PATH.split(':')) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Try the next directory.
    }
  }
  return undefined;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Where a root caller's sandbox ids go when /etc/subuid has no range for `root` (or podman's
 * `containers` user): 65,536 ids from 2^30, far above the 100000+ ranges `useradd` hands out, so
 * no login user's subordinate ids ever own a root-built rootfs.
 */
export const DEFAULT_ROOT_RANGE: SubordinateRange = { start: 1_073_741_824, count: 65_536 };

/** The range a root caller's sandbox maps container ids 0..count-1 onto. */
export function rootRange(text: string): SubordinateRange {
  const found = findSubordinateRange(text, 'root', 0) ?? findSubordinateRange(text, 'containers', -1);
  // Container ids above 65535 are not supported rootless either; keep the two modes alike.
  return found === undefined ? DEFAULT_ROOT_RANGE : { start: found.start, count: Math.min(found.count, 65_536) };
}

/** Collects {@link HostInfo} for the current process. */
export function inspectHost(): HostInfo {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const root = uid === 0;
  let userName: string | undefined;
  try {
    userName = os.userInfo().username;
  } catch {
    userName = undefined;
  }
  const tools = {
    unshare: findTool('unshare'),
    env: findTool('env'),
    chroot: findTool('chroot'),
    sh: fs.existsSync('/bin/sh') ? '/bin/sh' : findTool('sh'),
    mount: findTool('mount'),
    newuidmap: findTool('newuidmap'),
    newgidmap: findTool('newgidmap'),
    bwrap: findTool('bwrap'),
    setpriv: findTool('setpriv'),
  };
  const subuid = root ? rootRange(readText('/etc/subuid') ?? '') : findSubordinateRange(readText('/etc/subuid') ?? '', userName, uid);
  const subgid = root ? rootRange(readText('/etc/subgid') ?? '') : findSubordinateRange(readText('/etc/subgid') ?? '', userName, uid);
  let mapping: IdMapping = IDENTITY_MAPPING;
  if (root && subuid !== undefined && subgid !== undefined) mapping = rootMapping(subuid, subgid);
  else if (subuid !== undefined && subgid !== undefined) mapping = rootlessMapping(uid, gid, subuid, subgid);
  return { root, tools, subuid, subgid, mapping, userName };
}

/**
 * The namespaces every `unshare` of the executor makes: a private mount namespace, and a PID
 * namespace whose init dies with unshare (`--kill-child`), taking everything below it along.
 */
export const PRIVATE_NAMESPACES = ['--mount', '--propagation=private', '--pid', '--fork', '--kill-child'] as const;

/**
 * The `unshare` options of the rootless helper sessions (owners, reading, clean-up): a user
 * namespace where the caller is root and its subordinate range is ids 1..N. Root callers need
 * no such session (they chown and read directly) and get no user namespace here.
 */
export function namespaceFlags(host: HostInfo, network: boolean): string[] {
  const flags: string[] = [];
  if (!host.root && host.subuid !== undefined && host.subgid !== undefined) {
    flags.push(
      '--user',
      '--map-root-user',
      `--map-users=${host.subuid.start},1,${host.subuid.count}`,
      `--map-groups=${host.subgid.start},1,${host.subgid.count}`,
    );
  }
  flags.push(...PRIVATE_NAMESPACES);
  if (network) flags.push('--net');
  return flags;
}

function fail(reason: string, hint: string): ProbeResult {
  return { ok: false, reason, hint };
}

/**
 * Checks everything the executor needs, then starts one empty sandbox (`unshare ... true`) to
 * catch what static checks cannot see (seccomp filters, AppArmor, container runtimes).
 */
export function probeHost(host: HostInfo): ProbeResult {
  if (process.platform !== 'linux') {
    return fail(`RUN needs Linux namespaces; this is ${process.platform}`, 'build on Linux (or in a Linux VM/container), or use a Dockerfile without RUN');
  }
  for (const tool of ['unshare', 'setpriv', 'env', 'sh'] as const) {
    if (host.tools[tool] === undefined) return fail(`${tool} not found in ${HOST_PATH}`, 'install util-linux and coreutils');
  }
  if (host.tools.bwrap === undefined) return fail(`bwrap not found in ${HOST_PATH}`, 'install bubblewrap (`apt-get install bubblewrap`), which sets up the RUN sandbox');
  if (!host.root) {
    const clone = readText('/proc/sys/kernel/unprivileged_userns_clone')?.trim();
    if (clone === '0') {
      return fail('unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)', 'run `sysctl -w kernel.unprivileged_userns_clone=1` as root');
    }
    const max = readText('/proc/sys/user/max_user_namespaces')?.trim();
    if (max === '0') {
      return fail('user namespaces are disabled (user.max_user_namespaces=0)', 'run `sysctl -w user.max_user_namespaces=15000` as root');
    }
    const apparmor = readText('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')?.trim();
    if (apparmor === '1') {
      return fail(
        'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)',
        'allow user namespaces for node with an AppArmor profile, or run `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` as root',
      );
    }
    const who = host.userName ?? String(process.getuid?.());
    if (host.subuid === undefined || host.subgid === undefined) {
      return fail(
        `no subordinate id range for ${who} in /etc/subuid and /etc/subgid`,
        `add one as root: \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${who}\``,
      );
    }
    if (host.tools.newuidmap === undefined || host.tools.newgidmap === undefined) {
      return fail('newuidmap/newgidmap not found', 'install the uidmap package (shadow-utils): `apt-get install uidmap`');
    }
  }
  // bwrap as it will run (user, mount and PID namespaces, fresh /proc) on a read-only view of /,
  // inside namespaces like the launcher's (its own PID namespace with a fresh /proc).
  const trialArgs = ['--unshare-user', '--unshare-pid', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', '/bin/sh', '-c', 'exit 0'];
  const trial = spawnSync(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), '--mount-proc', host.tools.bwrap ?? 'bwrap', ...trialArgs], {
    env: { PATH: HOST_PATH },
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (trial.status !== 0) {
    const detail = (trial.stderr ?? trial.error?.message ?? '').trim().split('\n').slice(-2).join(' ');
    return fail(`cannot create the sandbox namespaces: ${detail}`, 'allow user and mount namespaces (not available inside some containers without --privileged or a seccomp/AppArmor change)');
  }
  return { ok: true };
}
