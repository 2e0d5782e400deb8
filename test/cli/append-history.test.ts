/**
 * History entries never hold host paths (issue 12): `ocibuild append --layer /abs/app:/app`
 * from two checkouts at different places gives one digest, and the recorded `created_by`
 * names the source relative to the working directory (its name alone outside it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseLayerFlag } from '../../src/cli/commands/append.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

function append(cwd: string, layer: string, out: string, from = 'scratch'): string {
  const argv = ['--import', import.meta.resolve('tsx'), main, 'append', '--from', from, '--layer', layer, '--to', `oci:${out}:t`, '--quiet'];
  const r = spawnSync(process.execPath, argv, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function history(layout: string, digest: string): Promise<string[]> {
  const blob = async (d: string): Promise<string> => fs.readFile(path.join(layout, 'blobs/sha256', d.slice(7)), 'utf8');
  const manifest = JSON.parse(await blob(digest)) as { config: { digest: string } };
  const config = JSON.parse(await blob(manifest.config.digest)) as { history: { created_by: string }[] };
  return config.history.map((h) => h.created_by);
}

test('append from two checkout paths gives the same image, with no host path in the history', async (t) => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-append-history-'));
  t.after(() => fs.rm(tmp, { recursive: true, force: true }));
  const checkouts = [path.join(tmp, 'home/alice/project'), path.join(tmp, 'ci/workspace/build-42')];
  for (const checkout of checkouts) {
    await fs.mkdir(path.join(checkout, 'app/lib'), { recursive: true });
    await fs.writeFile(path.join(checkout, 'app/main.sh'), 'echo hi\n', { mode: 0o755 });
    await fs.writeFile(path.join(checkout, 'app/lib/data.txt'), 'data\n', { mode: 0o644 });
  }
  const [one, two] = checkouts as [string, string];
  const first = append(one, `${one}/app:/app`, path.join(tmp, 'out1'));
  const second = append(two, `${two}/app:/app`, path.join(tmp, 'out2'));
  assert.equal(second, first, 'the checkout path does not change the digest');
  // A relative source from the checkout is the same command.
  assert.equal(append(two, 'app:/app', path.join(tmp, 'out3')), first);
  const recorded = await history(path.join(tmp, 'out1'), first);
  assert.deepEqual(recorded, ['ocibuild append --layer app:/app']);
  for (const line of recorded) assert.ok(!line.includes(tmp), `history line ${JSON.stringify(line)} holds a host path`);

  // A local base (oci: layout) at two host paths: the manifest names the base by digest only.
  for (const checkout of checkouts) await fs.cp(path.join(tmp, 'out1'), path.join(checkout, 'base'), { recursive: true });
  const onBase = checkouts.map((c, i) => append(c, `${c}/app:/app`, path.join(tmp, `on-base${i}`), `oci:${c}/base:t`));
  assert.equal(onBase[1], onBase[0], 'the base layout path does not change the digest');
  const manifestText = await fs.readFile(path.join(tmp, 'on-base0/blobs/sha256', (onBase[0] ?? '').slice(7)), 'utf8');
  assert.ok(!manifestText.includes(tmp), `the manifest holds a host path: ${manifestText}`);
  const annotations = (JSON.parse(manifestText) as { annotations?: Record<string, string> }).annotations ?? {};
  assert.equal(annotations['org.opencontainers.image.base.digest'], first);
});

test('the recorded source: relative inside the working directory, its name alone outside it', () => {
  const createdBy = (value: string, cwd: string): string | undefined => parseLayerFlag(value, cwd).createdBy;
  assert.equal(createdBy('/srv/checkout/app/dist:/app', '/srv/checkout'), 'ocibuild append --layer app/dist:/app');
  assert.equal(createdBy('/srv/checkout:/app', '/srv/checkout'), 'ocibuild append --layer .:/app');
  assert.equal(createdBy('/home/me/build/out', '/tmp'), 'ocibuild append --layer out:/');
  assert.equal(createdBy('../shared/assets:/assets', '/srv/checkout'), 'ocibuild append --layer assets:/assets');
  // The layer still reads from the absolute host path.
  assert.deepEqual(parseLayerFlag('app:/app', '/srv/checkout').directories?.[0]?.source, '/srv/checkout/app');
});
