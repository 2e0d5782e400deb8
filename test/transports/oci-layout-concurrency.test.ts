/**
 * OCI layouts written by several processes and by killed ones (docs/limits.md, "OCI layouts"):
 * parallel writers never lose a tag, folders and files follow the umask like skopeo's, what a
 * killed writer left (staging folder, temp files, lock) is cleared by the next run, and a lock
 * held by a live process ends in `ERR_LOCKED` after the configured wait.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcibuildError } from '../../src/errors.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { bodyOf, sampleImage } from './conformance.ts';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'oci-layout-writer.ts');

function runWriter(path: string, prefix: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path, prefix, String(count)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${prefix} exited ${code}: ${stderr}`))));
  });
}

async function push(path: string, seed: string, tag: string, lockWaitMs?: number): Promise<void> {
  const image = sampleImage(seed);
  const t = ociLayout(path, lockWaitMs === undefined ? {} : { lockWaitMs });
  try {
    await t.putBlob(image.blobs[0] as Descriptor, bodyOf(image.config));
    await t.putBlob(image.blobs[1] as Descriptor, bodyOf(image.layer));
    await t.putManifest(image.manifest, tag);
    await t.commit();
  } finally {
    await t.close();
  }
}

async function tagsOf(path: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(path, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').sort();
}

/** A pid that was just used and is no longer alive. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(result.pid && result.pid > 0);
  return result.pid;
}

async function modes(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    out[rel || '.'] = ((await stat(dir)).mode & 0o777).toString(8);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const child = join(dir, entry.name);
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child, name);
      else out[entry.name.length === 64 ? `${rel}/<blob>` : name] = ((await stat(child)).mode & 0o777).toString(8);
    }
  };
  await walk(path, '');
  return out;
}

describe('OCI layout: parallel writers, umask, leftovers of killed writers', () => {
  let dir: string;
  let sleeper: ChildProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-parallel-'));
  });
  after(async () => {
    sleeper?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('three processes tagging into one (new) layout in parallel keep every tag', { timeout: 120_000 }, async () => {
    const path = join(dir, 'shared');
    const count = 15;
    await Promise.all(['a', 'b', 'c'].map((prefix) => runWriter(path, prefix, count)));
    const expected = ['a', 'b', 'c'].flatMap((p) => Array.from({ length: count }, (_, i) => `${p}-${i}`)).sort();
    assert.deepEqual(await tagsOf(path), expected);
    // Nothing left behind: no staging folder beside it, no lock or temp file inside.
    assert.deepEqual((await readdir(dir)).filter((n) => n !== 'shared'), []);
    assert.deepEqual((await readdir(path)).sort(), ['blobs', 'index.json', 'oci-layout']);
    // Every tagged manifest is readable with its blobs.
    const t = ociLayout(path);
    for (const tag of ['a-0', 'b-7', 'c-14']) assert.ok((await t.getManifest(tag)).bytes.byteLength > 0);
    await t.close();
  });

  for (const [umask, dirMode, fileMode] of [[0o022, '755', '644'], [0o027, '750', '640']] as const) {
    it(`follows the umask ${umask.toString(8).padStart(4, '0')}: folders ${dirMode}, files ${fileMode}`, async () => {
      const previous = process.umask(umask);
      try {
        const path = join(dir, `umask-${umask.toString(8)}`);
        await push(path, `umask-${umask}`, 'v1');
        await push(path, `umask-${umask}-2`, 'v2'); // an existing layout takes the same modes
        const seen = await modes(path);
        assert.deepEqual(seen, {
          '.': dirMode,
          blobs: dirMode,
          'blobs/sha256': dirMode,
          'blobs/sha256/<blob>': fileMode,
          'index.json': fileMode,
          'oci-layout': fileMode,
        });
      } finally {
        process.umask(previous);
      }
    });
  }

  it('removes what a killed writer left, keeps what a live one is writing, and breaks its stale lock', { timeout: 30_000 }, async () => {
    const path = join(dir, 'leftovers');
    await push(path, 'leftovers-1', 'v1');
    const dead = deadPid();
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const live = sleeper.pid as number;
    const hex = 'abcdef012345';
    const staleStaging = join(dir, `.leftovers.tmp-${dead}-${hex}`);
    const liveStaging = join(dir, `.leftovers.tmp-${live}-${hex}`);
    await mkdir(join(staleStaging, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(staleStaging, 'blobs', 'sha256', 'partial'), 'x'.repeat(1000));
    await mkdir(liveStaging);
    await writeFile(join(path, `.ocibuild-blob-${dead}-${hex}`), 'partial blob');
    await writeFile(join(path, `.index.json-${dead}-${hex}`), '{');
    await writeFile(join(path, `.ocibuild-blob-${live}-${hex}`), 'blob being written');
    // The lock of a writer killed while updating index.json.
    await writeFile(join(path, 'index.json.lock'), JSON.stringify({ pid: dead, host: hostname(), time: Date.now() }));

    const start = Date.now();
    await push(path, 'leftovers-2', 'v2', 5_000);
    assert.ok(Date.now() - start < 4_000, 'the stale lock was broken, not waited out');
    assert.deepEqual(await tagsOf(path), ['v1', 'v2']);
    const beside = (await readdir(dir)).filter((n) => n.startsWith('.leftovers'));
    assert.deepEqual(beside, [`.leftovers.tmp-${live}-${hex}`]);
    assert.deepEqual((await readdir(path)).sort(), [`.ocibuild-blob-${live}-${hex}`, 'blobs', 'index.json', 'oci-layout']);
  });

  for (const existing of [false, true]) {
    it(`kill -9 while writing ${existing ? 'into an existing' : 'a new'} layout leaves nothing that looks complete; the next run clears it`, { timeout: 60_000 }, async () => {
      const path = join(dir, `killed-${existing}`);
      if (existing) await push(path, 'killed-base', 'base');
      const before = existing ? await readFile(join(path, 'index.json'), 'utf8') : undefined;
      const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path, 'victim', '1', 'slow'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('writing') && resolve());
        child.on('exit', () => reject(new Error('the writer ended before it was killed')));
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
      const leftovers = async (): Promise<string[]> => [
        ...(await readdir(dir)).filter((n) => n.startsWith(`.killed-${existing}`)),
        ...(await readdir(path).catch(() => [] as string[])).filter((n) => n.startsWith('.') || n.endsWith('.lock')),
      ];
      if (existing) {
        assert.equal(await readFile(join(path, 'index.json'), 'utf8'), before, 'index.json untouched');
      } else {
        await assert.rejects(stat(path), 'no layout appeared at the target');
      }
      assert.ok((await leftovers()).length > 0, 'the killed writer left its temp files');
      await push(path, 'after-kill', 'next');
      assert.deepEqual(await leftovers(), []);
      assert.deepEqual(await tagsOf(path), existing ? ['base', 'next'] : ['next']);
    });
  }

  it('waits for a lock held by a live process, then fails with ERR_LOCKED naming it', { timeout: 30_000 }, async () => {
    const path = join(dir, 'locked');
    await push(path, 'locked-1', 'v1');
    sleeper ??= spawn('sleep', ['60'], { stdio: 'ignore' });
    await writeFile(join(path, 'index.json.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), time: Date.now() }));
    const error = await push(path, 'locked-2', 'v2', 300).then(
      () => assert.fail('expected ERR_LOCKED'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof OcibuildError && error.code === 'ERR_LOCKED', String(error));
    assert.match(error.message, /index\.json\.lock/);
    assert.match(error.message, new RegExp(`pid ${sleeper.pid}`));
    assert.deepEqual(await tagsOf(path), ['v1']);
    await rm(join(path, 'index.json.lock'));
    await push(path, 'locked-2', 'v2', 300);
    assert.deepEqual(await tagsOf(path), ['v1', 'v2']);
  });
});
