/**
 * RUN layers are reproducible without SOURCE_DATE_EPOCH (issue 12): the mtimes a step writes
 * are clamped to the build's creation time (0 when nothing sets it), as BuildKit's
 * `rewrite-timestamp` does, so two builds seconds apart give one digest; `keepRunMtimes` keeps
 * the times the step wrote.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from '../dockerfile/run-helpers.ts';

const DOCKERFILE = ['ARG BASE', 'FROM ${BASE}', 'RUN mkdir -p /app/out && echo built > /app/out/result && touch /app/stamp', ''].join('\n');

describe('RUN layers without SOURCE_DATE_EPOCH', { skip: process.platform !== 'linux' }, () => {
  let tmp: string;
  let base: string;
  const savedEpoch = process.env.SOURCE_DATE_EPOCH;
  before(async () => {
    delete process.env.SOURCE_DATE_EPOCH;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-repro-run-'));
    const layout = await buildBusyboxLayout(path.join(tmp, 'base'));
    base = `oci:${layout.layoutPath}:${layout.tag}`;
    fs.mkdirSync(path.join(tmp, 'ctx'));
  });
  after(() => {
    if (savedEpoch !== undefined) process.env.SOURCE_DATE_EPOCH = savedEpoch;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function build(name: string, keepRunMtimes?: boolean, cacheDir?: string): Promise<{ digest: string; runs: number }> {
    const result = await buildImage({
      context: path.join(tmp, 'ctx'),
      dockerfile: { text: DOCKERFILE, file: 'Dockerfile' },
      buildArgs: { BASE: base },
      to: `oci:${path.join(tmp, 'out', name)}:latest`,
      cache: cacheDir === undefined ? false : { dir: cacheDir },
      ...(keepRunMtimes !== undefined ? { keepRunMtimes } : {}),
    });
    return { digest: result.digest, runs: result.stats.runsExecuted };
  }

  it('gives the same digest to two builds seconds apart, with every RUN mtime at the creation time', async () => {
    const first = await build('one');
    // Past a whole second, so unclamped times would differ in the tar headers.
    await sleep(1100);
    const second = await build('two');
    assert.equal(second.digest, first.digest);
    const image = await readImage(path.join(tmp, 'out', 'one'));
    const runLayer = image.layers[image.layers.length - 1];
    assert.ok(runLayer?.members.some((m) => m.path === 'app/out/result'), 'the RUN layer holds the file the step wrote');
    for (const m of runLayer?.members ?? []) assert.equal(m.mtime, 0, `${m.path} mtime`);
  });

  it('keeps the times the step wrote when asked, never served a clamped layer from the step cache', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const clamped = await build('cached-clamped', false, cacheDir);
    assert.equal(clamped.runs, 1);
    assert.equal((await build('cached-again', false, cacheDir)).runs, 0, 'the same build is a step cache hit');
    const started = Math.floor(Date.now() / 1000);
    const kept = await build('kept', true, cacheDir);
    assert.equal(kept.runs, 1, 'keeping mtimes is another RUN result, so another cache key');
    const image = await readImage(path.join(tmp, 'out', 'kept'));
    const result = image.layers[image.layers.length - 1]?.members.find((m) => m.path === 'app/out/result');
    assert.ok(result !== undefined && result.mtime >= started - 2, `mtime ${result?.mtime} is the time of the build (${started})`);
  });

  it('ocibuild build --keep-run-mtimes is the same option; without it the CLI clamps', async () => {
    const context = path.join(tmp, 'ctx');
    fs.writeFileSync(path.join(context, 'Dockerfile'), DOCKERFILE);
    const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.SOURCE_DATE_EPOCH;
    delete env.OCIBUILD_CACHE_DIR;
    const mtimeOf = async (extra: string[], name: string): Promise<number | undefined> => {
      const argv = ['--import', import.meta.resolve('tsx'), main, 'build', context, '--build-arg', `BASE=${base}`, ...extra, '--to', `oci:${path.join(tmp, 'out', name)}:latest`, '--quiet'];
      const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      const image = await readImage(path.join(tmp, 'out', name));
      return image.layers[image.layers.length - 1]?.members.find((m) => m.path === 'app/out/result')?.mtime;
    };
    const started = Math.floor(Date.now() / 1000);
    assert.equal(await mtimeOf([], 'cli-clamped'), 0);
    const kept = await mtimeOf(['--keep-run-mtimes'], 'cli-kept');
    assert.ok(kept !== undefined && kept >= started - 2, `mtime ${kept} is the time of the build (${started})`);
  });
});
