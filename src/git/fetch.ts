/**
 * Fetching one commit of a git repository into a directory with the `git` command, for `ADD`
 * of a git URL: a shallow fetch of the ref (a full fetch when the server refuses a commit id),
 * checked out detached; the `.git` directory is removed unless the caller keeps it
 * (`ADD --keep-git-dir`, as BuildKit's git source does). Only the git, ssh, http and https
 * protocols are allowed (never `file` or `ext`), and git never prompts for credentials.
 * @module
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';

/** What to fetch. */
export interface GitFetchRequest {
  /** Repository URL (`https://…/repo.git`, `git://…`, `ssh://…`, `git@host:path`). */
  remote: string;
  /** Branch, tag (or `refs/...`) or commit id; undefined: the remote's HEAD. */
  ref: string | undefined;
  /** The ref is a commit id, possibly abbreviated: found among all fetched commits when needed. */
  commit?: boolean;
  /** The checked-out commit must start with this hex id. */
  checksum?: string;
  /** Keep the `.git` directory in the result. */
  keepGitDir: boolean;
  /** Check out submodules (default true, as BuildKit does unless `?submodules=false`). */
  submodules?: boolean;
  /** Directory to create the checkout in (a new subdirectory is made). */
  workDir: string;
  /** Aborts the fetch. */
  signal?: AbortSignal;
}

const PROTOCOLS = ['-c', 'protocol.allow=never', ...['git', 'ssh', 'http', 'https'].flatMap((p) => ['-c', `protocol.${p}.allow=always`])];

function git(args: readonly string[], cwd: string, signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...PROTOCOLS, ...args],
      {
        cwd,
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ASKPASS: 'true', LC_ALL: 'C' },
        signal,
      },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stderr }));
        else resolve(stdout);
      },
    );
  });
}

/** Removes the `.git` link files submodule checkouts leave (their git dirs were under `.git`). */
async function removeGitLinks(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.name === '.git' && entry.isFile()) await fs.rm(full, { force: true });
    else if (entry.isDirectory()) await removeGitLinks(full);
  }
}

/**
 * Fetches `request.ref` of `request.remote` and returns the checkout directory. Throws
 * `ERR_SOURCE_NOT_FOUND` naming the remote when git fails (unknown ref, unreachable server).
 */
export async function fetchGitCheckout(request: GitFetchRequest): Promise<string> {
  const dir = await fs.mkdtemp(path.join(request.workDir, 'git-'));
  const { signal } = request;
  // Credentials in the URL never reach a message.
  const where = `${request.remote.replace(/\/\/[^/@]*@/, '//***@')}${request.ref !== undefined ? `#${request.ref}` : ''}`;
  try {
    await git(['init', '-q', dir], request.workDir, signal);
    await git(['remote', 'add', 'origin', request.remote], dir, signal);
    const ref = request.ref ?? 'HEAD';
    let target = 'FETCH_HEAD';
    try {
      await git(['fetch', '-q', '--depth=1', '--no-tags', 'origin', ref], dir, signal);
    } catch {
      // Dumb HTTP servers cannot fetch shallow, and servers refuse a commit id they do not
      // advertise: fetch the ref in full, then (for a commit) every branch and tag.
      try {
        await git(['fetch', '-q', '--no-tags', 'origin', ref], dir, signal);
      } catch (error) {
        if (!request.commit) throw Object.assign(new Error(`repository does not contain ref ${ref}`), { cause: error, stderr: '' });
        await git(['fetch', '-q', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], dir, signal);
        target = (await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], dir, signal).catch(() => '')).trim();
        if (target === '') throw Object.assign(new Error(`repository does not contain ref ${ref}`), { stderr: '' });
      }
    }
    await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', target], dir, signal);
    if (request.checksum !== undefined) {
      const head = (await git(['rev-parse', 'HEAD'], dir, signal)).trim();
      if (!head.toLowerCase().startsWith(request.checksum.toLowerCase())) {
        throw Object.assign(new Error(`expected checksum to match ${request.checksum}, got ${head}`), { stderr: '' });
      }
    }
    const submodules = request.submodules !== false && (await fs.stat(path.join(dir, '.gitmodules')).catch(() => undefined)) !== undefined;
    if (submodules) {
      await git(['submodule', 'update', '--init', '--recursive', '--depth=1'], dir, signal).catch(() => git(['submodule', 'update', '--init', '--recursive'], dir, signal));
    }
    if (!request.keepGitDir) {
      await fs.rm(path.join(dir, '.git'), { recursive: true, force: true });
      if (submodules) await removeGitLinks(dir);
    }
    return dir;
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    if (signal?.aborted) throw error;
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').slice(-2).join(' ');
    const reason = stderr !== '' ? stderr : (error as Error).message;
    throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `failed to fetch git source ${where}: ${reason}`, { cause: error });
  }
}
