/**
 * `RUN --mount=type=cache,from=STAGE[,source=PATH]` (issue 11): a new cache starts with the
 * files of a stage (or image), then keeps what steps write like any cache mount; a seeded cache
 * is separate from the unseeded cache of the same id (BuildKit keys caches by id and base).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { parseMountFlag } from '../../src/run/mounts.ts';
import { busyboxRef, cleanupBusybox } from './interpret-harness.ts';
import { readImage } from './run-helpers.ts';

after(cleanupBusybox);

it('parses from= and source= of a cache mount', () => {
  assert.deepEqual(parseMountFlag('type=cache,target=/c,from=seed,source=data', '/'), {
    type: 'cache', target: '/c', id: '/c', sharing: 'shared', readonly: false, from: 'seed', source: 'data',
  });
  const spec = parseMountFlag('type=cache,target=/c,from=seed', '/');
  assert.equal(spec.type === 'cache' ? spec.source : undefined, '/', 'source defaults to the root of from');
});

it('seeds a new cache from a stage, then keeps what steps add', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cache-from-'));
  try {
    const base = await busyboxRef();
    const context = path.join(dir, 'context');
    await fs.mkdir(context);
    const text = [
      `FROM ${base} AS seed`,
      'RUN mkdir -p /data/sub && echo seeded > /data/sub/f',
      `FROM ${base}`,
      'RUN --mount=type=cache,target=/c,from=seed,source=/data cat /c/sub/f > /out && echo more > /c/new',
      'RUN --mount=type=cache,target=/c,from=seed,source=/data ls /c > /list',
      'RUN --mount=type=cache,target=/c ls /c > /plain',
    ].join('\n');
    const out = path.join(dir, 'out');
    await buildImage({ dockerfile: { text }, context, cache: { dir: path.join(dir, 'cache') }, to: `oci:${out}:latest` });
    const files = new Map<string, string | undefined>();
    for (const layer of (await readImage(out)).layers) for (const m of layer.members) files.set(m.path, m.content);
    assert.equal(files.get('out'), 'seeded\n');
    assert.equal(files.get('list'), 'new\nsub\n');
    assert.equal(files.get('plain'), '', 'the unseeded cache of the same target is another cache');
    assert.ok(![...files.keys()].some((p) => p === 'c' || p.startsWith('c/')), 'cache content never reaches a layer');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
