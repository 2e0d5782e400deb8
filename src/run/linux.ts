/**
 * The Linux executor: every RUN step runs under bubblewrap in fresh user, mount, PID and IPC
 * (and for `--network=none` network) namespaces. bwrap pivots into the rootfs and detaches the
 * old root before the command runs, mounts a fresh /proc, a minimal /dev and the step's mounts,
 * and stays pid 1 of the step's PID namespace. The user namespace maps container ids onto a
 * subordinate range, also for root callers: the step's root is never host root. See
 * docs/run.md for the picture and docs/security.md for what this does and does not stop.
 * @module
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { makePrivateTempDir } from '../temp.ts';
import { sweepRunScratch } from './scratch-sweep.ts';
import { OcibuildError, UnsupportedError, throwIfAborted } from '../errors.ts';
import { HOST_PATH, inspectHost, namespaceFlags, PRIVATE_NAMESPACES, probeHost, type HostInfo } from './host.ts';
import { isUnchangedPath } from './paths.ts';
import { launcherGid, launcherUid, planRun, type RunPlan } from './plan.ts';
import { ALIVE_CHECK_SCRIPT, encodeOps, MAP_WAIT_SCRIPT, PARENT_GUARD_SCRIPT, SANDBOX_SCRIPT, type SandboxOp } from './sandbox-script.ts';
import type { Executor, IdMapping, ProbeResult, RunOptions, RunResult } from './types.ts';
import { resolveUser } from './user.ts';

/**
 * Options of {@link linuxExecutor}.
 * @category Build
 */
export interface LinuxExecutorOptions {
  /** Bytes of stderr kept for {@link RunResult.stderrTail}. Default 4096. */
  stderrTailBytes?: number;
  /** Directory for per-run scratch files (resolv.conf, hosts and hostname files, secrets, fifos). Default `os.tmpdir()`. */
  tmpdir?: string;
}

/** Keeps the last `limit` bytes written to it. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - (this.chunks[0]?.length ?? 0) >= this.limit) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * Creates the Linux executor. Works as an unprivileged user with a subordinate id range and as
 * root; both run steps in a user namespace (a root caller's maps onto a subordinate range, see
 * docs/run.md).
 * @example
 * ```ts
 * import { buildImage, linuxExecutor } from 'ocibuild';
 *
 * const executor = linuxExecutor();
 * const probe = await executor.probe?.();
 * if (probe && !probe.ok) throw new Error(`RUN is not possible here: ${probe.reason} (${probe.hint})`);
 * await buildImage({ dockerfile: 'Dockerfile', context: '.', executor, to: 'oci:./out:app' });
 * ```
 * @category Build
 */
export function linuxExecutor(options: LinuxExecutorOptions = {}): Executor {
  let host: HostInfo | undefined;
  let probed: ProbeResult | undefined;
  const getHost = (): HostInfo => (host ??= inspectHost());
  const probe = async (): Promise<ProbeResult> => (probed ??= probeHost(getHost()));
  let swept: Promise<void> | undefined;
  return {
    probe,
    async ownerMapping(): Promise<IdMapping> {
      return getHost().mapping;
    },
    async run(runOptions: RunOptions): Promise<RunResult> {
      throwIfAborted(runOptions.signal);
      const status = await probe();
      if (!status.ok) throw new UnsupportedError(`RUN is not possible here: ${status.reason}; ${status.hint}`);
      // A root caller's bwrap runs as a subordinate id and must reach the staged sources in the
      // scratch directory, so that directory sits where every id may traverse (the OS temp dir),
      // never inside a private 0700 build folder.
      const parent = getHost().root ? await traversableTempDir() : (options.tmpdir ?? os.tmpdir());
      await (swept ??= sweepRunScratch(parent));
      const scratch = await makePrivateTempDir(parent, 'ocibuild-run-');
      try {
        if (getHost().root) await fs.chmod(scratch, 0o711);
        const user = resolveUser(runOptions.rootfs, runOptions.user);
        const plan = planRun(runOptions, { host: getHost(), user, scratch });
        try {
          return await runSandbox(getHost(), runOptions, plan, scratch, options.stderrTailBytes ?? 4096);
        } finally {
          await tearDown(getHost(), path.resolve(runOptions.rootfs), plan.teardown);
        }
      } finally {
        await fs.rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Where a root caller's scratch directory goes: the OS temp dir when every id may traverse it
 * (o+x on it and each parent), else `/tmp`. The sandbox runs as a subordinate id that must reach
 * its scratch directory by path; a private TMPDIR (0700, as CI jobs often set) would refuse it.
 */
async function traversableTempDir(): Promise<string> {
  const candidates = [path.resolve(os.tmpdir()), '/tmp'];
  for (const dir of candidates) {
    if (await everyoneMayTraverse(dir)) return dir;
  }
  throw new UnsupportedError(`RUN as root needs a temp dir every user may traverse; neither ${candidates.join(' nor ')} is: set TMPDIR to such a directory`);
}

async function everyoneMayTraverse(dir: string): Promise<boolean> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fs.stat(d).catch(() => undefined);
    if (st === undefined || !st.isDirectory() || (st.mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * Runs the launcher script with `args` as pid 1 of its own PID namespace (rootless: inside
 * unshare's user namespace too), with a /proc of that namespace so the pids bwrap reports are the
 * launcher's. Lifetime: `setpriv --pdeathsig KILL` ties unshare to ocibuild (even a SIGKILLed
 * ocibuild), `--kill-child` ties the launcher to unshare, and when the launcher (the namespace's
 * init) dies the kernel kills every process in the namespace and in the namespaces below it:
 * bwrap, the step, and anything the launcher forked. bwrap's own `--die-with-parent` is not
 * enough alone: it is set again after each credential change, and a parent that dies in between
 * (a window of a few milliseconds of every launch) leaves the step's pid 1 running for ever.
 * `--kill-child` has such a window too (set in unshare's child after the fork): the launcher's
 * watch of ocibuild's pipe (see SANDBOX_SCRIPT) ends the namespace whatever the signals did.
 */
function launcherArgv(host: HostInfo, args: string[]): { command: string; argv: string[] } {
  const sh = host.tools.sh ?? '/bin/sh';
  // Before unshare, a shell checks ocibuild is still its parent (see PARENT_GUARD_SCRIPT).
  const base = ['--pdeathsig', 'KILL', '--', sh, '-c', PARENT_GUARD_SCRIPT, 'ocibuild-launch', String(process.pid), host.tools.unshare ?? 'unshare'];
  const namespaces = [...PRIVATE_NAMESPACES, '--mount-proc'];
  const script = [sh, '-c', SANDBOX_SCRIPT, 'ocibuild-sandbox', ...args];
  if (host.root) {
    // The private mount namespace also holds the staging binds (see `Planner.source`).
    return { command: host.tools.setpriv ?? 'setpriv', argv: [...base, ...namespaces, '--', ...script] };
  }
  if (host.subuid === undefined || host.subgid === undefined) throw new UnsupportedError('RUN needs a subordinate id range');
  // No --map-root-user/--map-users: util-linux maps a range through a helper process it forks
  // first, which waits for ever when unshare is killed before it signals it (ocibuild SIGKILLed
  // in that millisecond). ocibuild writes the maps itself (`writeLauncherMaps`) when the
  // launcher asks; the launcher waits for them.
  return { command: host.tools.setpriv ?? 'setpriv', argv: [...base, '--user', ...namespaces, '--', sh, '-c', MAP_WAIT_SCRIPT, 'ocibuild-maps', sh, '-c', ALIVE_CHECK_SCRIPT, 'ocibuild-alive', ...script] };
}

/** What the launcher writes on fd 3 when, rootless, its user namespace waits for its maps. */
const MAPS_WANTED = 'ocibuild-maps-wanted';

/**
 * Maps the rootless launcher's user namespace (process `pid`, which made it): the caller's ids
 * to 0, its subordinate ranges to 1..N, as `unshare --map-root-user --map-users --map-groups`
 * would, through shadow's newuidmap/newgidmap.
 */
async function writeLauncherMaps(host: HostInfo, pid: number): Promise<void> {
  const { subuid, subgid } = host;
  if (subuid === undefined || subgid === undefined) throw new UnsupportedError('RUN needs a subordinate id range');
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const run = (tool: string, args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      execFile(tool, args, { env: { PATH: HOST_PATH, LC_ALL: 'C' }, timeout: 10_000 }, (error, _stdout, stderr) => {
        if (error) reject(new OcibuildError('ERR_RUN', `cannot map the sandbox's user namespace: ${path.basename(tool)} ${args.join(' ')}: ${String(stderr).trim() || error.message}`, { cause: error }));
        else resolve();
      });
    });
  await run(host.tools.newuidmap ?? 'newuidmap', [String(pid), '0', String(uid), '1', '1', String(subuid.start), String(subuid.count)]);
  await run(host.tools.newgidmap ?? 'newgidmap', [String(pid), '0', String(gid), '1', '1', String(subgid.start), String(subgid.count)]);
}

/**
 * Removes the mount-point stubs and restores their parents' mtimes after the sandbox exited (its
 * mounts went with its namespace). Each path is checked again first: the step may have replaced
 * a directory on the way with a symlink to a host directory, and such a path is skipped, never
 * followed. Mtimes go through `touch -h -d @S.NS` (Node's utimes loses nanoseconds). Ops stopped
 * by a directory owned by a subordinate id (rootless) are redone inside a user namespace.
 */
async function tearDown(host: HostInfo, rootfs: string, all: SandboxOp[]): Promise<void> {
  const ops = all.filter((op) => 'path' in op && isUnchangedPath(rootfs, op.path));
  const retry: SandboxOp[] = [];
  for (const op of ops) {
    try {
      if (op.op === 'rmfile') {
        // Only the empty regular file bwrap created; anything else was the command's doing.
        const st = fsSync.lstatSync(op.path, { throwIfNoEntry: false });
        if (st?.isFile() && st.size === 0) fsSync.unlinkSync(op.path);
      } else if (op.op === 'rmdir') {
        try {
          fsSync.rmdirSync(op.path);
        } catch (error) {
          if (isPermissionError(error)) throw error;
          // Not empty (the command wrote into it) or already gone: keep it.
        }
      } else if (op.op === 'mtime') {
        const r = spawnSync('touch', ['-h', '-m', '-d', op.stamp, '--', op.path], { env: { PATH: HOST_PATH, LC_ALL: 'C' }, stdio: 'ignore' });
        if (r.status !== 0) retry.push(op);
      }
    } catch (error) {
      if (!isPermissionError(error)) throw error;
      retry.push(op);
    }
  }
  if (retry.length === 0 || host.root) return;
  await new Promise<void>((resolve) => {
    const child = spawn(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), host.tools.sh ?? '/bin/sh', '-c', SANDBOX_SCRIPT, 'ocibuild-sandbox', ...encodeOps(retry)], {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: 'ignore',
    });
    // Best effort: a stub left behind shows up in the snapshot, it does not break the build.
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

/** A fifo reader: a real pipe for the step's stdout/stderr (`/dev/stdout` reopens it; a socket cannot be). */
interface FifoReader {
  done: Promise<void>;
  /** Closes ocibuild's own write end, after which the reader ends once every writer is gone. */
  release(): void;
}

function readFifo(file: string, onData: (chunk: Buffer) => void): FifoReader {
  const readFd = fsSync.openSync(file, fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
  // Holding a write end keeps the reader from seeing EOF before bwrap has opened the fifo.
  let writeFd: number | undefined = fsSync.openSync(file, fsSync.constants.O_WRONLY | fsSync.constants.O_NONBLOCK);
  const socket = new net.Socket({ fd: readFd, readable: true, writable: false });
  socket.on('data', (chunk: Buffer) => onData(chunk));
  const done = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  return {
    done,
    release(): void {
      if (writeFd !== undefined) fsSync.closeSync(writeFd);
      writeFd = undefined;
    },
  };
}

async function runSandbox(host: HostInfo, options: RunOptions, plan: RunPlan, scratch: string, tailBytes: number): Promise<RunResult> {
  const argsFile = path.join(scratch, 'args');
  // bwrap reads its options (env values included) from this 0600 file: none is in any argv.
  fsSync.writeFileSync(argsFile, `${plan.bwrap.join('\0')}\0`, { mode: 0o600 });
  const fifos = ['block', 'info', 'out', 'err'].map((n) => path.join(scratch, n));
  const made = spawnSync('mkfifo', ['-m', '666', '--', ...fifos], { env: { PATH: HOST_PATH, LC_ALL: 'C' }, encoding: 'utf8' });
  if (made.status !== 0) throw new OcibuildError('ERR_RUN', `cannot create the sandbox's pipes in ${scratch}: ${made.stderr ?? made.error?.message ?? ''}`.trim());
  {
    const tail = new Tail(tailBytes);
    const out = readFifo(fifos[2] as string, (chunk) => options.stdout?.(chunk));
    const err = readFifo(fifos[3] as string, (chunk) => {
      tail.push(chunk);
      options.stderr?.(chunk);
    });
    const { uid, gid, groups } = plan.ids;
    const count = host.subuid?.count ?? 65_536;
    const maps = host.root
      ? { UMAP: `0 ${host.subuid?.start} ${count}`, GMAP: `0 ${host.subgid?.start} ${host.subgid?.count ?? count}` }
      : // Identity over the launcher's namespace, one line per extent of it (the kernel wants
        // every line inside one extent of the parent's map): the caller, then its range.
        { UMAP: `0 0 1\n1 1 ${count}`, GMAP: `0 0 1\n1 1 ${host.subgid?.count ?? count}` };
    const env = {
      PATH: HOST_PATH,
      LC_ALL: 'C',
      S: scratch,
      U: String(launcherUid(host, uid)),
      G: String(launcherGid(host, gid)),
      GR: groups.map((g) => launcherGid(host, g)).join(','),
      SETPRIV: host.tools.setpriv ?? 'setpriv',
      BWRAP: host.tools.bwrap ?? 'bwrap',
      ...maps,
      // The launcher watches ocibuild's pipe (see SANDBOX_SCRIPT): stdin as root; rootless it
      // first asks for its user namespace's maps on fd 3 and waits for them on stdin, which it
      // then moves to stdout.
      ...(host.root ? { W: '0' } : { MW: MAPS_WANTED, W: '1' }),
    };
    const { command, argv } = launcherArgv(host, [...encodeOps(plan.pre), 'run', ...plan.argv]);
    const stdio: ('ignore' | 'pipe' | number)[] = ['pipe', 'ignore', 'pipe', 'pipe'];
    const devNull = fsSync.openSync('/dev/null', 'r');
    // Descriptors ocibuild's own parent leaked to it without close-on-exec would reach the step:
    // each is replaced with /dev/null in the launcher (Node has no closefrom for a child).
    for (const fd of leakedDescriptors()) {
      while (stdio.length < fd) stdio.push('ignore');
      stdio[fd] = devNull;
    }
    try {
      return await new Promise<RunResult>((resolve, reject) => {
        const child = spawn(command, argv, { env, stdio });
        // The launcher may be gone when ocibuild answers its map request: EPIPE is no crash.
        child.stdin?.on('error', () => undefined);
        let status = '';
        let launcherErr = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          launcherErr = (launcherErr + chunk.toString('utf8')).slice(-tailBytes);
        });
        const statusPipe = child.stdio[3];
        if (statusPipe !== null && statusPipe !== undefined && 'on' in statusPipe) {
          let mapped = false;
          statusPipe.on('data', (chunk: Buffer) => {
            status += chunk.toString('utf8');
            // bwrap has parsed its options: the file with the env values can go.
            if (status.includes('"child-pid"')) fsSync.rmSync(argsFile, { force: true });
            if (!mapped && status.includes(MAPS_WANTED) && child.pid !== undefined) {
              mapped = true;
              // setpriv, the parent check and unshare are one process: the one that made the namespace.
              writeLauncherMaps(host, child.pid).then(
                // Written, never ended: the launcher's watcher takes the pipe's end for ocibuild's.
                () => child.stdin?.write('mapped\n'),
                (error: unknown) => {
                  launcherErr += `${(error as Error).message}\n`;
                  child.kill('SIGKILL');
                },
              );
            }
          });
        }
        const onAbort = (): void => {
          child.kill('SIGKILL');
        };
        options.signal?.addEventListener('abort', onAbort, { once: true });
        // Aborted while the plan was made: the listener above will never fire.
        if (options.signal?.aborted) onAbort();
        child.on('error', (error) => {
          options.signal?.removeEventListener('abort', onAbort);
          out.release();
          err.release();
          reject(new OcibuildError('ERR_RUN', `cannot start ${command}: ${error.message}`, { cause: error }));
        });
        child.on('exit', () => {
          // Ends the launcher's watch: should unshare's child, the init of the launcher's PID
          // namespace, have missed --kill-child's signal, its watcher ends it now, and with it
          // every process of the sandbox. Then the readers drain and end.
          child.stdin?.destroy();
          out.release();
          err.release();
        });
        child.on('close', (code, signal) => {
          void Promise.all([out.done, err.done]).then(() => {
            options.signal?.removeEventListener('abort', onAbort);
            if (options.signal?.aborted) {
              reject(new OcibuildError('ERR_ABORTED', 'RUN aborted', { cause: options.signal.reason }));
              return;
            }
            const match = /"exit-code"\s*:\s*(\d+)/.exec(status);
            if (match?.[1] !== undefined) {
              resolve({ exitCode: Number(match[1]), stderrTail: tail.text() });
              return;
            }
            const how = signal !== null ? `signal ${signal}` : `exit status ${code}`;
            const phase = 'the sandbox failed before the command finished';
            const detail = `${launcherErr}\n${tail.text()}`.trim().split('\n').slice(-3).join(' | ');
            reject(new OcibuildError('ERR_RUN', `${phase} (${how}) in ${options.rootfs}: ${detail}`));
          });
        });
      });
    } finally {
      fsSync.closeSync(devNull);
    }
  }
}

/** Linux `O_CLOEXEC` as /proc/self/fdinfo prints it (octal flags). */
const O_CLOEXEC = 0o2000000;

/** This process's descriptors above 3 that are not close-on-exec (inherited from its parent). */
function leakedDescriptors(): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = fsSync.readdirSync('/proc/self/fdinfo');
  } catch {
    return out;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 3 || fd > 1024) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(fsSync.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0) out.push(fd);
    } catch {
      // Closed meanwhile.
    }
  }
  return out.sort((a, b) => a - b);
}
