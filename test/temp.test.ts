import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { sweepStaleTempFiles, tempName } from '../src/blob/files.ts';
import { sweepStaleTempDirs } from '../src/pipeline/sweep.ts';
import { removeAbandonedTemps } from '../src/transports/layout-cleanup.ts';
import { parseTag, processTag, tagState } from '../src/temp.ts';

const deadPid = (): number => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout as unknown as number;

test('one naming and sweeping rule: blob temp names carry the process tag', () => {
  const name = tempName('.ocibuild-blob');
  assert.ok(name.startsWith(`.ocibuild-blob-${processTag()}-`), name);
  assert.equal(tagState(parseTag(name.slice('.ocibuild-blob-'.length))!), 'alive');
});

test('sweeps remove what a dead process left (tagged or pid-only) and keep the rest', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'h-temp-test-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const dead = Number(deadPid());
  const live = `ocibuild-${process.pid}-build-keep`;
  for (const d of [`ocibuild-${dead}-build-abc`, live, 'ocibuild-other-tool', `ocibuild-run-${dead}-x`]) await fs.mkdir(path.join(dir, d));
  await sweepStaleTempDirs(dir);
  assert.deepEqual((await fs.readdir(dir)).sort(), [live, 'ocibuild-other-tool', `ocibuild-run-${dead}-x`].sort());

  const files = path.join(dir, 'files');
  await fs.mkdir(files);
  const mine = tempName('.image.tar');
  for (const f of [`.image.tar-${dead}-0123456789ab`, mine, 'image.tar']) await fs.writeFile(path.join(files, f), 'x');
  await sweepStaleTempFiles(files, '.image.tar');
  assert.deepEqual((await fs.readdir(files)).sort(), [mine, 'image.tar'].sort());
});

test('layout cleanup reads both tag forms', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'h-temp-layout-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const layout = path.join(dir, 'layout');
  await fs.mkdir(layout);
  const dead = Number(deadPid());
  const tag = processTag();
  const keep = [`.ocibuild-blob-${tag}-0123456789ab`, `.layout.tmp-${tag}-0123456789ab`];
  const gone = [`.ocibuild-blob-${dead}-0123456789ab`, `.layout.tmp-${dead}-0123456789ab`];
  if (tag.includes('.')) gone.push(`.index.json-${tag.replace(/^\d+/, String(dead))}-0123456789ab`);
  for (const name of [...keep, ...gone]) {
    const inside = name.startsWith('.layout.tmp') ? dir : layout;
    await fs.writeFile(path.join(inside, name), 'x');
  }
  const removed = (await removeAbandonedTemps(layout)).map((p) => path.basename(p)).sort();
  assert.deepEqual(removed, [...gone].sort());
});
