/**
 * The benchmark Node app: a node_modules-like tree (every package a declared production
 * dependency, with a v3 lockfile), 200 source files and a Dockerfile doing the same with COPY.
 * Shared by bench/node-app.ts and the table (bench/table.ts).
 * @module
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { makeTree, prng, textLike } from './data.ts';

/** Size of the generated app. */
export interface AppSize {
  /** Files in node_modules (3,000 full, 300 quick). */
  files: number;
  /** Approximate bytes in node_modules (40 MB full, 4 MB quick). */
  bytes: number;
}

/** The full-size app (~40 MB, ~3,000 files) or the quick one (~10x smaller). */
export function appSize(quick: boolean): AppSize {
  return quick ? { files: 300, bytes: 4_000_000 } : { files: 3000, bytes: 40_000_000 };
}

/** Generates the app in `dir`; resolves the file count and the bytes of node_modules. */
export async function makeApp(dir: string, size: AppSize): Promise<{ files: number; bytes: number }> {
  const total = await makeTree(dir, size);
  // Every package is a declared production dependency (the preset ships what package.json reaches).
  const dependencies: Record<string, string> = {};
  const packages: Record<string, unknown> = { '': { name: 'bench-app', version: '1.0.0', dependencies } };
  for (const name of await fs.readdir(path.join(dir, 'node_modules'))) {
    dependencies[name] = '1.0.0';
    packages[`node_modules/${name}`] = { version: '1.0.0' };
    await fs.writeFile(path.join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version: '1.0.0' }));
  }
  await fs.writeFile(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'bench-app', lockfileVersion: 3, requires: true, packages }, null, 2));
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', main: 'src/index.js', dependencies }, null, 2));
  const rand = prng(9);
  await fs.mkdir(path.join(dir, 'src'), { recursive: true });
  for (let i = 0; i < 200; i++) await fs.writeFile(path.join(dir, 'src', i === 0 ? 'index.js' : `m${i}.js`), textLike(2000 + Math.floor(rand() * 6000), rand));
  await fs.writeFile(
    path.join(dir, 'Dockerfile.bench'),
    'ARG BASE\nFROM $BASE\nWORKDIR /app\nCOPY node_modules /app/node_modules\nCOPY package.json /app/\nCOPY src /app/src\nENV NODE_ENV=production\nENTRYPOINT ["node", "/app/src/index.js"]\n',
  );
  return { files: size.files + 200, bytes: total };
}

/** Appends a comment to one source file (the one-file rebuild's edit). */
export async function editOneFile(dir: string, round: number): Promise<void> {
  await fs.appendFile(path.join(dir, 'src', 'm7.js'), `\n// edit ${round}\n`);
}
