/**
 * The OCI `org.opencontainers.image.*` metadata of a Node project: title, description,
 * version, licenses and url from package.json; source from package.json `repository`, else
 * the git remote `origin`; revision from the git checkout's HEAD; created from the build's
 * creation time. Git is read from `.git` files directly (no git program needed, worktrees and
 * packed refs included); credentials in URLs are never copied.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

const PREFIX = 'org.opencontainers.image.';

/** Turns a repository URL into a browsable https URL without credentials; undefined when it is none. */
export function normalizeRepositoryUrl(value: string): string | undefined {
  let url = value.trim();
  const shorthand = /^(github|gitlab|bitbucket):([\w.-]+\/[\w.-]+)$/.exec(url) ?? (/^([\w.-]+\/[\w.-]+)$/.test(url) ? ['', 'github', url] : null);
  if (shorthand) {
    const host = { github: 'github.com', gitlab: 'gitlab.com', bitbucket: 'bitbucket.org' }[shorthand[1] as 'github' | 'gitlab' | 'bitbucket'];
    return `https://${host}/${shorthand[2]}`;
  }
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(url); // git@host:owner/repo.git
  if (scp && !/^[a-z+]+:\/\//i.test(url)) url = `https://${scp[1]}/${scp[2]}`;
  url = url.replace(/^git\+/, '').replace(/^(git|ssh):\/\//, 'https://');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString().replace(/\.git$/, '').replace(/\/$/, '');
}

async function readText(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').then(
    (t) => t,
    () => undefined,
  );
}

/** The git directory of the checkout holding `dir` and its common directory (they differ in worktrees). */
async function findGitDir(dir: string): Promise<{ gitDir: string; commonDir: string } | undefined> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const dotGit = path.join(d, '.git');
    const st = await fs.stat(dotGit).catch(() => undefined);
    if (st?.isDirectory()) return { gitDir: dotGit, commonDir: dotGit };
    if (st?.isFile()) {
      const pointer = /^gitdir:\s*(.+)$/m.exec((await readText(dotGit)) ?? '')?.[1]?.trim();
      if (pointer === undefined) return undefined;
      const gitDir = path.resolve(d, pointer);
      const common = (await readText(path.join(gitDir, 'commondir')))?.trim();
      return { gitDir, commonDir: common !== undefined ? path.resolve(gitDir, common) : gitDir };
    }
    if (d === path.dirname(d)) return undefined;
  }
}

/** The commit HEAD points at and the `origin` remote URL of the checkout holding `dir`. */
export async function gitFacts(dir: string): Promise<{ revision: string | undefined; remote: string | undefined }> {
  const found = await findGitDir(dir);
  if (found === undefined) return { revision: undefined, remote: undefined };
  const head = (await readText(path.join(found.gitDir, 'HEAD')))?.trim() ?? '';
  let revision: string | undefined;
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (ref === undefined) {
    revision = /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head) ? head : undefined;
  } else if (!ref.split('/').includes('..')) {
    const loose = (await readText(path.join(found.gitDir, ref))) ?? (await readText(path.join(found.commonDir, ref)));
    revision = loose?.trim();
    if (revision === undefined) {
      const packed = (await readText(path.join(found.commonDir, 'packed-refs'))) ?? '';
      revision = packed.split('\n').map((l) => l.split(' ')).find(([, name]) => name === ref)?.[0];
    }
    if (revision !== undefined && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(revision)) revision = undefined;
  }
  const config = (await readText(path.join(found.commonDir, 'config'))) ?? '';
  const section = /\[remote\s+"origin"\]([^[]*)/.exec(config)?.[1] ?? '';
  const remote = /^\s*url\s*=\s*(.+)$/m.exec(section)?.[1]?.trim();
  return { revision, remote };
}

/** The `org.opencontainers.image.*` values of the project (only those it has). */
export async function projectMetadata(appDir: string, pkg: Record<string, unknown>, created: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined) out[PREFIX + key] = value;
  };
  set('created', new Date(created * 1000).toISOString().replace(/\.000Z$/, 'Z'));
  set('title', str(pkg.name));
  set('description', str(pkg.description));
  set('version', str(pkg.version));
  const license = pkg.license;
  set('licenses', str(license) ?? str((license as { type?: unknown } | null)?.type));
  set('url', str(pkg.homepage) !== undefined ? normalizeRepositoryUrl(str(pkg.homepage) as string) : undefined);
  const git = await gitFacts(appDir);
  const repository = pkg.repository;
  const declared = str(repository) ?? str((repository as { url?: unknown } | null)?.url);
  set('source', (declared !== undefined ? normalizeRepositoryUrl(declared) : undefined) ?? (git.remote !== undefined ? normalizeRepositoryUrl(git.remote) : undefined));
  set('revision', git.revision);
  return out;
}
