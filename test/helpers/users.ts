/**
 * Test helpers to run parts of the suite as an unprivileged user with a subordinate id range,
 * the setup rootless RUN needs (`useradd -m` adds a 65,536-id range to /etc/subuid and /etc/subgid).
 * Only usable when the tests run as root; callers skip otherwise.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

/** An unprivileged account on this machine. */
export interface TestUser {
  /** Login name. */
  name: string;
  /** Numeric user id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Home directory (exists, owned by the user). */
  home: string;
}

/** Options of {@link runAs}. */
export interface RunAsOptions {
  /** Working directory (must be readable by the user). */
  cwd?: string;
  /** Extra environment on top of a minimal one (PATH, HOME, USER, LOGNAME). */
  env?: Record<string, string>;
  /** Kill the child after this many milliseconds. Default 120,000. */
  timeoutMs?: number;
  /** Data written to the child's stdin. */
  input?: string;
}

/** What {@link runAs} saw. */
export interface RunAsResult {
  /** Exit status (signals give 128 + number). */
  exitCode: number;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** True when the process has uid 0 (needed to create users and switch to them). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function lookup(name: string): TestUser | undefined {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const f = line.split(':');
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? `/home/${name}` };
  } catch {
    return undefined;
  }
}

/** Returns the `start:count` subordinate range of `name` in `file`, if any. */
export function subordinateRange(file: '/etc/subuid' | '/etc/subgid', name: string, uid?: number): { start: number; count: number } | undefined {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner === name || (uid !== undefined && owner === String(uid))) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

/** Picks a 65,536-id range starting at a multiple of 65,536 that no line of `file` overlaps. */
function freeRange(file: string): number {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // Missing file: every range is free.
  }
  let end = 100000;
  for (const line of text.split('\n')) {
    const [, start, count] = line.trim().split(':');
    if (start !== undefined && count !== undefined) end = Math.max(end, Number(start) + Number(count));
  }
  return Math.ceil(end / 65536) * 65536;
}

/**
 * Creates (once) the unprivileged user `name` with a home directory and makes sure it has
 * subordinate uid and gid ranges, adding them when `useradd` did not. Requires root.
 */
export function ensureUnprivilegedUser(name = 'ocibuild-test'): TestUser {
  if (!isRoot()) throw new Error('ensureUnprivilegedUser needs root');
  let user = lookup(name);
  if (user === undefined) {
    try {
      execFileSync('useradd', ['-m', '-s', '/bin/sh', name], { stdio: 'pipe' });
    } catch (error) {
      // A parallel test file may have created it in between.
      if (lookup(name) === undefined) throw error;
    }
    user = lookup(name);
    if (user === undefined) throw new Error(`useradd ${name} did not create the user`);
  }
  for (const file of ['/etc/subuid', '/etc/subgid'] as const) {
    if (subordinateRange(file, name, user.uid) === undefined) {
      fs.appendFileSync(file, `${name}:${freeRange(file)}:65536\n`);
    }
  }
  fs.mkdirSync(user.home, { recursive: true });
  fs.chownSync(user.home, user.uid, user.gid);
  const repo = new URL('../..', import.meta.url).pathname;
  grantTraverse(user, repo);
  assertReachable(user, repo);
  return user;
}

/** Each folder on the way to `dir` (itself included) with its mode and the permission bit `user` needs to traverse it. */
function* foldersOnTheWay(user: TestUser, dir: string): Generator<{ folder: string; mode: number; bit: number }> {
  let current = '/';
  for (const part of dir.split('/').filter(Boolean)) {
    current = `${current === '/' ? '' : current}/${part}`;
    const st = fs.statSync(current);
    if (!st.isDirectory()) continue;
    yield { folder: current, mode: st.mode, bit: st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001 };
  }
}

/**
 * Lets `user` traverse (not list) every folder on the way to `dir` that it cannot: a clone made
 * in a `mktemp -d` folder (0700) is otherwise out of the unprivileged user's reach. Adds only
 * the others' execute bit, on folders root owns or the clone itself. Requires root.
 */
function grantTraverse(user: TestUser, dir: string): void {
  for (const { folder, mode, bit } of foldersOnTheWay(user, dir)) {
    if ((mode & bit) === 0 && bit === 0o001) fs.chmodSync(folder, (mode & 0o7777) | 0o001);
  }
}

/**
 * Fails at once, with the folder to fix, when `user` cannot traverse to `dir` (the repository: the
 * rootless tests run its sources as that user), rather than later as an unreadable module in a
 * child's stderr.
 */
export function assertReachable(user: TestUser, dir: string): void {
  for (const { folder, mode, bit } of foldersOnTheWay(user, dir)) {
    if ((mode & bit) === 0) {
      throw new Error(
        `the unprivileged test user ${user.name} cannot reach the repository at ${dir}: ${folder} has mode ` +
          `${(mode & 0o777).toString(8).padStart(4, '0')}; clone the repository under a folder others can traverse (chmod o+x ${folder})`,
      );
    }
  }
}

/**
 * Runs `argv` as `user` (node's spawn with uid/gid, which also drops supplementary groups) with a
 * minimal environment, collecting output. Requires root.
 */
export function runAs(user: TestUser, argv: string[], options: RunAsOptions = {}): Promise<RunAsResult> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('runAs: empty argv');
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      uid: user.uid,
      gid: user.gid,
      cwd: options.cwd ?? user.home,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const exitCode = code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]);
      resolve({ exitCode, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * The node binary and flags that run a TypeScript file through tsx, for use with {@link runAs}.
 * tsx is given by absolute URL so the child's working directory does not matter.
 */
export function tsxArgv(script: string, ...args: string[]): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), script, ...args];
}
