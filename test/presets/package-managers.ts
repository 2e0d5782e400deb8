/**
 * Test helper: real package managers (pnpm, Yarn 1, Yarn Berry, Bun) installed from the npm
 * registry once into a shared temp directory (reused by later test files and runs, made
 * atomically so parallel test files do not race), and a way to run each one's install in
 * an app directory with its caches kept under the test's own temp directory.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Versions pinned so the layouts the tests check do not drift. */
export const MANAGER_VERSIONS = { pnpm: '9.15.9', yarn: '1.22.22', '@yarnpkg/cli-dist': '4.5.3', bun: '1.2.23' } as const;

/** The package managers a test can use. */
export type ManagerName = 'npm' | 'pnpm' | 'yarn1' | 'berry' | 'bun';

let installed: Promise<string> | undefined;

/** Installs the managers (once per process; once per machine while the temp dir lasts) and returns their directory. */
export function installManagers(): Promise<string> {
  installed ??= (async () => {
    const key = Object.entries(MANAGER_VERSIONS).map(([n, v]) => `${n.replace('/', '+')}@${v}`).join('_');
    const dir = path.join(os.tmpdir(), `ocibuild-test-package-managers-${key}`);
    if (await fs.access(path.join(dir, 'ready')).then(() => true, () => false)) return dir;
    const staging = await fs.mkdtemp(`${dir}.tmp-`);
    const specs = Object.entries(MANAGER_VERSIONS).map(([n, v]) => `${n}@${v}`);
    await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', staging, ...specs], { timeout: 300_000 });
    await fs.writeFile(path.join(staging, 'ready'), '');
    try {
      await fs.rename(staging, dir);
    } catch {
      // Another test file won the race: use its copy.
      await fs.rm(staging, { recursive: true, force: true });
    }
    return dir;
  })();
  return installed;
}

/**
 * Runs `install` with `manager` in `appDir`; caches and stores go under `cacheRoot`. Yarn Berry
 * gets `nodeLinker: node-modules` unless the app already has a .yarnrc.yml.
 */
export async function installWith(manager: ManagerName, appDir: string, cacheRoot: string, extraArgs: string[] = []): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '', npm_config_cache: path.join(cacheRoot, 'npm') };
  const options = { cwd: appDir, env, timeout: 300_000 };
  if (manager === 'npm') {
    await run('npm', ['install', '--no-audit', '--no-fund', ...extraArgs], options);
    return;
  }
  const dir = await installManagers();
  const bin = path.join(dir, 'node_modules');
  if (manager === 'pnpm') {
    await run(process.execPath, [path.join(bin, 'pnpm', 'bin', 'pnpm.cjs'), 'install', '--store-dir', path.join(cacheRoot, 'pnpm-store'), '--config.confirmModulesPurge=false', ...extraArgs], options);
  } else if (manager === 'bun') {
    // The bun package's postinstall only links the binary of the host's variant; run it directly
    // (the baseline build on x64 needs no AVX2).
    const variant = process.arch === 'arm64' ? 'bun-linux-aarch64' : 'bun-linux-x64-baseline';
    const bunEnv = { ...env, BUN_INSTALL_CACHE_DIR: path.join(cacheRoot, 'bun') };
    await run(path.join(bin, '@oven', variant, 'bin', 'bun'), ['install', '--save-text-lockfile', ...extraArgs], { ...options, env: bunEnv });
  } else if (manager === 'yarn1') {
    await run(process.execPath, [path.join(bin, 'yarn', 'bin', 'yarn.js'), 'install', '--non-interactive', '--cache-folder', path.join(cacheRoot, 'yarn1'), ...extraArgs], options);
  } else {
    const rc = path.join(appDir, '.yarnrc.yml');
    if (!(await fs.access(rc).then(() => true, () => false))) await fs.writeFile(rc, 'nodeLinker: node-modules\n');
    if (!(await fs.access(path.join(appDir, 'yarn.lock')).then(() => true, () => false))) await fs.writeFile(path.join(appDir, 'yarn.lock'), '');
    const berryEnv = { ...env, YARN_CACHE_FOLDER: path.join(cacheRoot, 'berry'), YARN_ENABLE_GLOBAL_CACHE: 'false', YARN_ENABLE_TELEMETRY: '0', YARN_ENABLE_IMMUTABLE_INSTALLS: 'false' };
    await run(process.execPath, [path.join(bin, '@yarnpkg', 'cli-dist', 'bin', 'yarn.js'), 'install', ...extraArgs], { ...options, env: berryEnv });
  }
}
