/**
 * The rootless Linux executor: runs a RUN step in fresh user (when not root), mount, PID and
 * optionally network namespaces created by util-linux `unshare`, with the caller mapped to root
 * and its /etc/subuid and /etc/subgid ranges mapped to container ids 1..N (through the setuid
 * `newuidmap`/`newgidmap`), so `chown 1000` or `chown 65534` inside works. The host's `/bin/sh`
 * prepares /proc, /dev, /sys, resolv.conf, hosts and the step's mounts, then `chroot`s.
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { OcibuildError, UnsupportedError, throwIfAborted } from '../errors.ts';
import { HOST_PATH, inspectHost, namespaceFlags, probeHost, type HostInfo } from './host.ts';
import { planRun } from './plan.ts';
import { encodeOps, SANDBOX_SCRIPT, type SandboxOp } from './sandbox-script.ts';
import type { Executor, IdMapping, ProbeResult, RunOptions, RunResult } from './types.ts';
import { resolveUser } from './user.ts';

/** Options of {@link linuxExecutor}. */
export interface LinuxExecutorOptions {
  /** Bytes of stderr kept for {@link RunResult.stderrTail}. Default 4096. */
  stderrTailBytes?: number;
  /** Directory for per-run scratch files (resolv.conf copies, secrets). Default `os.tmpdir()`. */
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
 * Creates the rootless Linux executor. Works as an unprivileged user with a subordinate id range
 * and as root (then without a user namespace, as buildah's chroot isolation does).
 */
export function linuxExecutor(options: LinuxExecutorOptions = {}): Executor {
  let host: HostInfo | undefined;
  let probed: ProbeResult | undefined;
  const getHost = (): HostInfo => (host ??= inspectHost());
  const probe = async (): Promise<ProbeResult> => (probed ??= probeHost(getHost()));
  return {
    probe,
    async ownerMapping(): Promise<IdMapping> {
      return getHost().mapping;
    },
    async run(runOptions: RunOptions): Promise<RunResult> {
      throwIfAborted(runOptions.signal);
      const status = await probe();
      if (!status.ok) throw new UnsupportedError(`RUN is not possible here: ${status.reason}; ${status.hint}`);
      const scratch = await fs.mkdtemp(path.join(options.tmpdir ?? os.tmpdir(), 'ocibuild-run-'));
      try {
        const user = resolveUser(runOptions.rootfs, runOptions.user);
        const plan = planRun(runOptions, { host: getHost(), user, scratch });
        try {
          return await runSandbox(getHost(), runOptions, encodeOps(plan.ops), options.stderrTailBytes ?? 4096);
        } finally {
          await tearDown(getHost(), plan.teardown);
        }
      } finally {
        await fs.rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * Removes the mount-point stubs and restores their parents' mtimes after the sandbox exited (its
 * mounts went with its namespace). Mtimes go through `touch -d @S.NS`: Node's utimes takes
 * seconds as a double and would lose the nanoseconds the next snapshot compares. Ops stopped by a
 * directory owned by a subordinate id (rootless) are redone inside a user namespace.
 */
async function tearDown(host: HostInfo, ops: SandboxOp[]): Promise<void> {
  const retry: SandboxOp[] = [];
  for (const op of ops) {
    try {
      if (op.op === 'rmfile') {
        // Only the empty regular file the plan created; anything else was the command's doing.
        const st = fsSync.lstatSync(op.path, { throwIfNoEntry: false });
        if (st?.isFile() && st.size === 0) fsSync.unlinkSync(op.path);
      } else if (op.op === 'rmdir') {
        try {
          fsSync.rmdirSync(op.path);
        } catch (error) {
          if (isPermissionError(error)) throw error;
          // Not empty (the command wrote into it) or already gone: keep it, as the script did.
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
    // Best effort, as the script's own teardown was: a stub left behind shows up in the snapshot.
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

function runSandbox(host: HostInfo, options: RunOptions, args: string[], tailBytes: number): Promise<RunResult> {
  const unshare = host.tools.unshare ?? 'unshare';
  const argv = [...namespaceFlags(host, options.network === 'none'), host.tools.sh ?? '/bin/sh', '-c', SANDBOX_SCRIPT, 'ocibuild-sandbox', ...args];
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(unshare, argv, {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    const tail = new Tail(tailBytes);
    let status = '';
    child.stdout?.on('data', (chunk: Buffer) => options.stdout?.(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      options.stderr?.(chunk);
    });
    const statusPipe = child.stdio[3];
    if (statusPipe !== null && statusPipe !== undefined && 'on' in statusPipe) {
      statusPipe.on('data', (chunk: Buffer) => (status += chunk.toString('utf8')));
    }
    const onAbort = (): void => {
      // --kill-child makes the kernel kill the sandbox's pid 1, which takes the whole PID namespace.
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(new OcibuildError('ERR_RUN', `cannot start ${unshare}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted) {
        reject(new OcibuildError('ERR_ABORTED', 'RUN aborted', { cause: options.signal.reason }));
        return;
      }
      const match = /exit (\d+)/.exec(status);
      if (match?.[1] !== undefined) {
        resolve({ exitCode: Number(match[1]), stderrTail: tail.text() });
        return;
      }
      const how = signal !== null ? `signal ${signal}` : `exit status ${code}`;
      const phase = status.includes('started') ? 'the sandbox died while the command ran' : 'sandbox set-up failed';
      reject(new OcibuildError('ERR_RUN', `${phase} (${how}) in ${options.rootfs}: ${tail.text().trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
