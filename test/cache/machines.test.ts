// Two "machines" (child processes with their own HOME and cache directory) sharing one
// registry cache repo: B builds what A built without running a RUN, compressing a layer or
// uploading a blob to its target (every blob is mounted), and gets the same digest. Two
// builds at once on one cache directory and one cache repo both succeed with the right image.
// This file is also the child: with OCIBUILD_MACHINE_CHILD set it builds once and prints JSON.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage } from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';
import { tsxArgv } from '../helpers/users.ts';

const run = promisify(execFile);

interface ChildResult {
  digest: string;
  stats: { runsExecuted: number; layersBuilt: number; bytesUploaded: number; blobsUploaded: number; blobsMounted: number; stepsCached: number; stepsFromRegistry: number; steps: { status: string }[] };
}

if (process.env.OCIBUILD_MACHINE_CHILD) {
  const [context, target, cacheRepo] = process.argv.slice(2) as [string, string, string];
  const result = await buildImage({ context, dockerfile: 'Dockerfile', to: target, sourceDateEpoch: 0, cache: { repo: cacheRepo } });
  process.stdout.write(JSON.stringify({ digest: result.digest, stats: result.stats }));
} else {
  let tmp: string;
  let registry: TestRegistry;
  let context: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-machines-'));
    registry = await startRegistry();
    await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'));
    context = path.join(tmp, 'context');
    await fs.mkdir(path.join(context, 'src'), { recursive: true });
    await fs.writeFile(path.join(context, 'src', 'main.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
    await fs.writeFile(path.join(context, 'src', 'data.txt'), 'x'.repeat(50_000));
    await fs.writeFile(
      path.join(context, 'Dockerfile'),
      [
        `FROM ${registry.host}/base/busybox:latest AS build`,
        'WORKDIR /work',
        'COPY src/ ./',
        'RUN mkdir out && for i in 1 2 3 4 5; do cat data.txt > out/part$i; done && ./main.sh > out/greeting',
        `FROM ${registry.host}/base/busybox:latest`,
        'COPY --from=build /work/out /app',
        'RUN cat /app/greeting > /app/copied',
        'CMD ["cat", "/app/greeting"]',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  /** Runs one build in a child process with its own HOME (and so its own default cache dir). */
  async function machine(name: string, target: string, cacheRepo: string, home = path.join(tmp, `home-${name}`)): Promise<ChildResult> {
    await fs.mkdir(home, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, OCIBUILD_MACHINE_CHILD: '1' };
    delete env.OCIBUILD_CACHE_DIR;
    delete env.XDG_CACHE_HOME;
    const [cmd, ...args] = tsxArgv(import.meta.filename, context, target, cacheRepo);
    const { stdout } = await run(cmd as string, args, { env, maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(stdout) as ChildResult;
  }

  describe('machines sharing a registry cache repo', () => {
    it('B builds what A built: no RUN, no compression, no blob upload to the target, same digest', async () => {
      const repo = `${registry.host}/ci/cache`;
      const a = await machine('a', `${registry.host}/apps/a:1`, repo);
      assert.equal(a.stats.runsExecuted, 2);
      assert.ok(a.stats.steps.length > 0 && a.stats.steps.every((s) => s.status === 'miss'), JSON.stringify(a.stats.steps));
      await fs.access(path.join(tmp, 'home-a', '.cache', 'ocibuild', 'steps'));

      const mark = (await registry.requestLog()).length;
      const b = await machine('b', `${registry.host}/apps/b:1`, repo);
      const log = (await registry.requestLog()).slice(mark);
      assert.equal(b.digest, a.digest);
      assert.equal(b.stats.runsExecuted, 0);
      assert.equal(b.stats.layersBuilt, 0, 'no layer written or compressed');
      assert.equal(b.stats.stepsFromRegistry, b.stats.steps.length);
      assert.equal(b.stats.bytesUploaded, 0);
      assert.equal(b.stats.blobsUploaded, 0);
      const target = log.filter((l) => l.path.startsWith('/v2/apps/b/blobs/'));
      assert.deepEqual(target.filter((l) => l.method === 'PATCH' || l.method === 'PUT'), [], 'no blob upload to the target');
      const posts = target.filter((l) => l.method === 'POST');
      assert.ok(posts.length >= 4 && posts.every((l) => l.path.includes('mount=') && l.status === 201), JSON.stringify(posts));
      // B's own cache knows the steps now: a rebuild on B asks the registry for nothing but the base.
      const again = await machine('b', `${registry.host}/apps/b:2`, repo);
      assert.equal(again.digest, a.digest);
      assert.deepEqual(again.stats.steps.map((s) => s.status), a.stats.steps.map(() => 'hit'));
    });

    it('two builds at once on one cache dir and one cache repo both succeed with the right image', async () => {
      const repo = `${registry.host}/ci/concurrent`;
      const reference = await machine('ref', `${registry.host}/apps/ref:1`, `${registry.host}/ci/reference`);
      const home = path.join(tmp, 'home-shared');
      const [c, d] = await Promise.all([
        machine('c', `${registry.host}/apps/c:1`, repo, home),
        machine('d', `${registry.host}/apps/d:1`, repo, home),
      ]);
      assert.equal(c.digest, reference.digest);
      assert.equal(d.digest, reference.digest);
      for (const app of ['c', 'd']) {
        const response = await fetch(`${registry.url}/v2/apps/${app}/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(response.headers.get('docker-content-digest'), reference.digest);
      }
      // What they left behind is usable by a third machine.
      const e = await machine('e', `${registry.host}/apps/e:1`, repo);
      assert.equal(e.digest, reference.digest);
      assert.equal(e.stats.runsExecuted, 0);
    });
  });
}
