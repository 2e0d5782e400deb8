/**
 * Rootfs reuse between builds (src/run/rootfs-store.ts, src/run/undo.ts): a rebuild after a
 * source change takes the tree the previous build left in the cache directory, rewinds the
 * layers above the changed COPY and gives exactly the image a cold build gives; a RUN that
 * modified a base file (lossy) makes the rebuild extract again, with the same result.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

const DOCKERFILE = [
  'ARG BASE',
  'FROM ${BASE}',
  'WORKDIR /app',
  'COPY deps.txt ./',
  'RUN mkdir -p node_modules && for i in 1 2 3 4 5; do mkdir node_modules/p$i && cat deps.txt > node_modules/p$i/index.js; done',
  'COPY src/ ./src/',
  'RUN ls -R src node_modules > build-info.txt && cat src/index.js >> build-info.txt',
  '',
].join('\n');

describe('rootfs reuse between builds', { skip: process.platform !== 'linux' }, () => {
  let tmp: string;
  let base: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-reuse-'));
    const layout = await buildBusyboxLayout(path.join(tmp, 'base'));
    base = `oci:${layout.layoutPath}:${layout.tag}`;
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function build(context: string, cacheDir: string, name: string, dockerfile = DOCKERFILE): Promise<{ digest: string; runs: number }> {
    const result = await buildImage({
      context,
      dockerfile: { text: dockerfile, file: 'Dockerfile' },
      buildArgs: { BASE: base },
      to: `oci:${path.join(tmp, 'out', name)}:latest`,
      cache: { dir: cacheDir },
      sourceDateEpoch: 1_700_000_000,
    });
    return { digest: result.digest, runs: result.stats.runsExecuted };
  }

  /** The context; `extra` adds a source file the next version drops (an undo that leaves it behind shows in `ls`). */
  function writeContext(dir: string, source: string, extra?: string): void {
    fs.rmSync(path.join(dir, 'src'), { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'deps.txt'), 'deps\n');
    fs.writeFileSync(path.join(dir, 'src', 'index.js'), source);
    if (extra !== undefined) fs.writeFileSync(path.join(dir, 'src', extra), 'old\n');
  }

  const stored = (cacheDir: string): string[] => fs.readdirSync(path.join(cacheDir, 'rootfs')).filter((n) => n.startsWith('e-'));

  it('rewinds the kept tree after a source change and builds the same image as a cold build', async () => {
    const context = path.join(tmp, 'ctx');
    const warm = path.join(tmp, 'cache-warm');
    writeContext(context, 'one\n', 'old.js');
    assert.equal((await build(context, warm, 'v1')).runs, 2);
    assert.equal(stored(warm).length, 1, 'the stage tree is kept');
    writeContext(context, 'two\n');
    const rebuilt = await build(context, warm, 'v2');
    assert.equal(rebuilt.runs, 1, 'the dependency RUN is a cache hit');
    assert.equal(stored(warm).length, 1, 'the tree was taken and put back, not copied');
    assert.deepEqual(fs.readdirSync(path.join(warm, 'rootfs')).filter((n) => !n.startsWith('e-')), [], 'no live or staging directories left');
    const cold = await build(context, path.join(tmp, 'cache-cold'), 'v2-cold');
    assert.equal(rebuilt.digest, cold.digest);
  });

  it('rebuilds from the layers when a kept layer changed a file of a lower layer, with the same result', async () => {
    // The last RUN appends to a file of a lower layer: its old content is gone, so it cannot be undone.
    const lossy = DOCKERFILE.replace('> build-info.txt', '> build-info.txt && echo changed >> deps.txt');
    const context = path.join(tmp, 'ctx-lossy');
    const warm = path.join(tmp, 'cache-lossy');
    writeContext(context, 'one\n', 'old.js');
    await build(context, warm, 'l1', lossy);
    writeContext(context, 'two\n');
    const rebuilt = await build(context, warm, 'l2', lossy);
    assert.equal(stored(warm).length, 2, 'the kept tree was not usable, a new one was extracted and kept too');
    const cold = await build(context, path.join(tmp, 'cache-lossy-cold'), 'l2-cold', lossy);
    assert.equal(rebuilt.digest, cold.digest);
  });
});
