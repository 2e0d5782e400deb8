// The commands that only move, read or sign images run WebAssembly on V8's baseline compiler
// (src/cli/wasm-tiering.ts): checked on the running Node by running undici's HTTP parser hot in a
// child with --allow-natives-syntax and asking V8 which compiler its code came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { commands } from '../../src/cli/commands/index.ts';
import { userChoseWasmFlags } from '../../src/cli/wasm-tiering.ts';
import { cliMain, repoRoot } from '../helpers/cli.ts';
import { startRegistry } from '../helpers/registry.ts';
import { cliBundleOptions } from '../../scripts/cli-bundle-options.ts';

const v8Eleven = process.versions.v8.startsWith('11.');

/** Runs `prepare`, then undici's llhttp hot as undici uses it; prints `<prepare's value> liftoff|turbofan`. */
function tierAfter(prepare: string): string {
  const script = `
    import { createRequire } from 'node:module';
    const { keepWasmOnBaseline } = await import(${JSON.stringify(path.join(repoRoot, 'src/cli/wasm-tiering.ts'))});
    const applied = ${prepare};
    const require = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))});
    const bytes = require('undici/lib/llhttp/llhttp_simd-wasm.js');
    // What undici's lazyllhttp does: compile the bytes, instantiate with its callbacks.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: new Proxy({}, { get: () => () => 0 }) });
    const e = instance.exports;
    const response = Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\nX-A: b\\r\\n\\r\\nhello');
    const parser = e.llhttp_alloc(1);
    const at = e.malloc(response.length);
    const run = (n) => { for (let i = 0; i < n; i++) { new Uint8Array(e.memory.buffer).set(response, at); e.llhttp_execute(parser, at, response.length); } };
    run(20000);
    await new Promise((resolve) => setTimeout(resolve, 400));
    run(2000);
    const liftoff = new Function('f', 'return %IsLiftoffFunction(f)')(e.llhttp_execute);
    const turbofan = new Function('f', 'return %IsTurboFanFunction(f)')(e.llhttp_execute);
    console.log(applied, liftoff ? 'liftoff' : turbofan ? 'turbofan' : 'other');
  `;
  const child = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout.trim();
}

test('with tier-up off, undici\'s HTTP parser stays on the baseline compiler however hot it runs; without, V8 optimises it', { skip: !v8Eleven && `V8 ${process.versions.v8}: left alone` }, () => {
  assert.equal(tierAfter('false'), 'false turbofan', 'the control: V8 optimises llhttp once it is hot');
  assert.equal(tierAfter('keepWasmOnBaseline([], {})'), 'true liftoff');
  // The user chose how WebAssembly compiles: nothing is changed.
  assert.equal(tierAfter("keepWasmOnBaseline([], { NODE_OPTIONS: '--wasm-tiering-budget=1000' })"), 'false turbofan');
});

test('a WebAssembly or Liftoff flag of the user is recognised, in any spelling, and nothing else', () => {
  assert.equal(userChoseWasmFlags(['--no-wasm-tier-up'], undefined), true);
  assert.equal(userChoseWasmFlags([], '--max-old-space-size=512 --liftoff-only'), true);
  assert.equal(userChoseWasmFlags(['--wasm_tiering_budget=5'], ''), true);
  assert.equal(userChoseWasmFlags(['--import', 'tsx', '-e', 'load("llhttp-wasm.js") // --liftoff'], '--enable-source-maps'), false);
});

test('only the commands that compress nothing run WebAssembly without tier-up', () => {
  const baseline = commands.filter((c) => c.baselineWasm === true).map((c) => c.name);
  assert.deepEqual(baseline, ['copy', 'inspect', 'tags', 'sbom', 'sign', 'verify', 'generate-key-pair']);
  // libdeflate needs the optimised code for anything but a small layer.
  for (const name of ['build', 'append', 'node', 's2i', 'warm']) assert.ok(commands.some((c) => c.name === name && c.baselineWasm !== true), name);
});

/**
 * Runs `main` (the CLI bundled as `npm run build` bundles it: tsx and Node's loader for CommonJS
 * would add WebAssembly of their own) with V8 printing every WebAssembly function it compiles;
 * the tiers used, in order.
 */
function wasmTiers(main: string, args: string[], nodeFlags: string[] = []): string[] {
  const child = spawnSync(process.execPath, ['--trace-wasm-compilation-times', ...nodeFlags, main, ...args], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return [...child.stdout.matchAll(/^Compiled function \S+ using (\w+)/gm)].map((m) => m[1] as string);
}

/** Bundles the CLI from source into node_modules/.cache (where its packages resolve); the entry's path. */
async function bundleCli(): Promise<{ main: string; dispose: () => Promise<void> }> {
  const esbuild = await import('esbuild');
  const outdir = path.join(repoRoot, 'node_modules', '.cache', `ocibuild-test-cli-${process.pid}`);
  await esbuild.build({ ...cliBundleOptions(repoRoot, outdir), logLevel: 'error' });

  return { main: path.join(outdir, 'main.js'), dispose: () => fs.rm(outdir, { recursive: true, force: true }) };
}

test("undici's HTTP parser is never optimised, in a copy (tier-up off) and in a build (its budget never spent); the default does optimise it", { skip: !v8Eleven && `V8 ${process.versions.v8}: left alone`, timeout: 120_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-wasm-tiers-'));
  const registry = await startRegistry();
  const cli = await bundleCli();
  t.after(async () => {
    await registry.stop();
    await cli.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });
  await fs.mkdir(path.join(dir, 'app'));
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(dir, 'app', `f${i}.txt`), `file ${i}\n`.repeat(200));
  // The node:zlib encoder: llhttp is then the build's only WebAssembly.
  const append = (from: string, to: string) => ['append', '--from', from, '--layer', `${path.join(dir, 'app')}:/app`, '--gzip-encoder', 'zlib', '--to', `${registry.host}/wasm/${to}`, '--quiet'];
  const copy = (out: string) => ['copy', '--progress', 'quiet', `docker://${registry.host}/wasm/app:1`, `oci:${path.join(dir, out)}:t`];
  const optimised = (tiers: string[]) => tiers.filter((tier) => tier !== 'Liftoff');
  assert.deepEqual(optimised(wasmTiers(cli.main, append('scratch', 'base:1'))), []);
  const built = wasmTiers(cli.main, append(`${registry.host}/wasm/base:1`, 'app:1'));
  assert.ok(built.includes('Liftoff'), 'llhttp ran');
  assert.deepEqual(optimised(built), [], 'a build never optimises llhttp');
  assert.deepEqual(optimised(wasmTiers(cli.main, copy('layout'))), [], 'a copy never optimises llhttp');
  // The control: with a WebAssembly flag of the user's (here the default budget), V8 optimises llhttp.
  assert.ok(wasmTiers(cli.main, append(`${registry.host}/wasm/base:1`, 'app:2'), ['--wasm-tiering-budget=1800000']).includes('TurboFan'), 'the control: a build optimises llhttp by default');
  assert.ok(wasmTiers(cli.main, copy('layout2'), ['--wasm-tiering-budget=1800000']).includes('TurboFan'), 'the control: a copy optimises llhttp by default');
});
