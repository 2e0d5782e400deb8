/**
 * Test fixture: a Node app whose dependencies are real npm packages made by the test
 * (`npm pack` of small local packages with a `bin` entry, one of them a dev dependency) and
 * installed with a real `npm install` from those tarballs, without any network.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What {@link makeNpmApp} made. */
export interface NpmApp {
  /** The app directory (package.json, package-lock.json, node_modules, sources). */
  dir: string;
  /** Production packages installed. */
  prod: string[];
  /** Dev packages installed. */
  dev: string[];
}

async function makePackage(root: string, name: string, bin: string | undefined, dependencies: Record<string, string> = {}): Promise<string> {
  const dir = path.join(root, 'src-pkgs', name.replace('/', '__'));
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  const pkg: Record<string, unknown> = { name, version: '1.0.0', main: 'index.js', license: 'MIT', dependencies };
  if (bin !== undefined) pkg.bin = { [bin]: 'bin/cli.js' };
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  await fs.writeFile(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(name)};\n`);
  await fs.writeFile(path.join(dir, 'bin', 'cli.js'), `#!/usr/bin/env node\nconsole.log(${JSON.stringify(name)});\n`, { mode: 0o755 });
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', path.join(root, 'tarballs')], { cwd: dir });
  return path.join(root, 'tarballs', stdout.trim().split('\n').pop() as string);
}

/**
 * Creates the app in `root/app`: dependencies `left-pad-lite` (bin `lpl`) and `@acme/util`,
 * dev dependency `devtool` (bin `devtool`), sources `server.js` and `lib/*.js`, plus things
 * that must never be copied (`.git/`, `.env`, `node_modules/.cache/`).
 */
export async function makeNpmApp(root: string, options: { main?: string; files?: string[] } = {}): Promise<NpmApp> {
  await fs.mkdir(path.join(root, 'tarballs'), { recursive: true });
  const a = await makePackage(root, 'left-pad-lite', 'lpl');
  const b = await makePackage(root, '@acme/util', undefined);
  const d = await makePackage(root, 'devtool', 'devtool');
  const dir = path.join(root, 'app');
  await fs.mkdir(path.join(dir, 'lib'), { recursive: true });
  const pkg: Record<string, unknown> = {
    name: 'sample-app',
    version: '1.2.3',
    private: true,
    main: options.main ?? 'server.js',
    scripts: { start: 'node server.js' },
    dependencies: { 'left-pad-lite': `file:${a}`, '@acme/util': `file:${b}` },
    devDependencies: { devtool: `file:${d}` },
  };
  if (options.files) pkg.files = options.files;
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  await fs.writeFile(path.join(dir, 'server.js'), "console.log(require('left-pad-lite'), require('@acme/util'));\n");
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(dir, 'lib', `m${i}.js`), `module.exports = ${i};\n`);
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--cache', path.join(root, 'npm-cache')], { cwd: dir });
  await fs.mkdir(path.join(dir, '.git'), { recursive: true });
  await fs.writeFile(path.join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await fs.writeFile(path.join(dir, '.env'), 'SECRET=1\n');
  await fs.mkdir(path.join(dir, 'node_modules', '.cache'), { recursive: true });
  await fs.writeFile(path.join(dir, 'node_modules', '.cache', 'junk'), 'x');
  return { dir, prod: ['left-pad-lite', '@acme/util'], dev: ['devtool'] };
}
