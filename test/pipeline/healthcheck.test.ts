// HEALTHCHECK without a Dockerfile: `config.healthcheck` (text or fields), `--healthcheck` and
// its `--healthcheck-*` flags, and the Node preset's option all give the image config exactly
// the Healthcheck Docker's builder writes for the same HEALTHCHECK instruction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, nodeApp, resolveHealthcheck, OcibuildError } from '../../src/index.ts';
import { configOptions } from '../../src/cli/commands/shared.ts';
import { nodeOptionsFromFlags } from '../../src/cli/commands/node.ts';
import { UsageError } from '../../src/cli/util.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let base: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-health-'));
  const layout = await buildBusyboxLayout(path.join(tmp, 'busybox'));
  base = `oci:${layout.layoutPath}:${layout.tag}`;
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** The Healthcheck of `HEALTHCHECK <text>` built from a Dockerfile, as JSON text (key order counts). */
async function fromDockerfile(text: string): Promise<string> {
  const result = await buildImage({ dockerfile: { text: `FROM scratch\nHEALTHCHECK ${text}\n` }, context: tmp, to: [] });
  return JSON.stringify(result.config.config?.Healthcheck);
}

test('resolveHealthcheck: the Healthcheck Docker writes, from text or from fields', async () => {
  // What `docker build` writes for this HEALTHCHECK (Go struct order, nanoseconds, zeros omitted).
  const docker = '{"Test":["CMD-SHELL","node healthcheck.js"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":10000000000,"StartInterval":2000000000,"Retries":3}';
  const text = '--interval=30s --timeout=5s --start-period=10s --start-interval=2s --retries=3 CMD node healthcheck.js';
  assert.equal(JSON.stringify(resolveHealthcheck(text)), docker);
  assert.equal(await fromDockerfile(text), docker);
  assert.equal(JSON.stringify(resolveHealthcheck({ test: 'node healthcheck.js', interval: '30s', timeout: 5e9, startPeriod: '10s', startInterval: '2s', retries: 3 })), docker);
  assert.equal(JSON.stringify(resolveHealthcheck({ test: ['CMD-SHELL', 'node healthcheck.js'], interval: '30s', timeout: '5s', startPeriod: '10s', startInterval: '2000ms', retries: 3 })), docker);

  for (const t of ['CMD ["node", "hc.js", "--port=80"]', 'NONE', 'CMD curl -f http://localhost/ || exit 1', '--interval=1m30s CMD ["true"]']) {
    assert.equal(JSON.stringify(resolveHealthcheck(t)), await fromDockerfile(t), t);
  }
  assert.deepEqual(resolveHealthcheck('CMD ["node", "hc.js"]'), { Test: ['CMD', 'node', 'hc.js'] });
  assert.deepEqual(resolveHealthcheck({ test: ['CMD', 'node', 'hc.js'] }), { Test: ['CMD', 'node', 'hc.js'] });
  assert.deepEqual(resolveHealthcheck({ test: ['NONE'] }), { Test: ['NONE'] });

  // Refused where Docker refuses.
  for (const bad of ['CMD', 'NONE x', 'RUN x', '--interval=1us CMD x', '--retries=-1 CMD x', '--interval=soon CMD x']) {
    assert.throws(() => resolveHealthcheck(bad), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_CONFIG', bad);
  }
  assert.throws(() => resolveHealthcheck({ test: ['NONE'], interval: '5s' }), /NONE/);
  assert.throws(() => resolveHealthcheck({ test: ['CMD'] }), /missing command/);
  assert.throws(() => resolveHealthcheck({ test: ['CMD-SHELL', 'a', 'b'] }), /exactly one/);
  assert.throws(() => resolveHealthcheck({ test: ['SHELL', 'a'] }), /CMD, CMD-SHELL or NONE/);
  assert.throws(() => resolveHealthcheck({ test: 'x', retries: 1.5 }), /retries/);
  assert.throws(() => resolveHealthcheck({ test: 'x', timeout: 500 }), /less than 1ms/);
});

test('buildImage config.healthcheck: set on a files build (append), NONE replaces the base\'s', async () => {
  const dir = path.join(tmp, 'files');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'hc.sh'), 'exit 0\n');
  const first = await buildImage({
    from: base,
    layers: [{ directories: [{ source: dir, destination: '/srv' }] }],
    config: { healthcheck: { test: ['CMD', '/bin/sh', '/srv/hc.sh'], interval: '10s', retries: 2 } },
    to: `oci:${path.join(tmp, 'out-files')}:a`,
  });
  assert.equal(JSON.stringify(first.config.config?.Healthcheck), '{"Test":["CMD","/bin/sh","/srv/hc.sh"],"Interval":10000000000,"Retries":2}');
  const off = await buildImage({ from: `oci:${path.join(tmp, 'out-files')}:a`, config: { healthcheck: 'NONE' }, to: [] });
  assert.deepEqual(off.config.config?.Healthcheck, { Test: ['NONE'] });
  const kept = await buildImage({ from: `oci:${path.join(tmp, 'out-files')}:a`, config: { user: '1' }, to: [] });
  assert.deepEqual(kept.config.config?.Healthcheck, first.config.config?.Healthcheck, 'inherited when not set');
});

test('--healthcheck flags (append, node): Dockerfile syntax plus --healthcheck-* timings', () => {
  const flags = { healthcheck: 'CMD node healthcheck.js', 'healthcheck-interval': '30s', 'healthcheck-timeout': '5s', 'healthcheck-start-period': '1m', 'healthcheck-start-interval': '2s', 'healthcheck-retries': '3' };
  const config = configOptions(flags);
  assert.equal(
    JSON.stringify(resolveHealthcheck(config.healthcheck ?? 'NONE')),
    '{"Test":["CMD-SHELL","node healthcheck.js"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":60000000000,"StartInterval":2000000000,"Retries":3}',
  );
  assert.deepEqual(nodeOptionsFromFlags(flags).healthcheck, config.healthcheck);
  // Flags given inside the text count too; the separate flags win.
  assert.deepEqual(resolveHealthcheck(configOptions({ healthcheck: '--interval=5s --retries=4 CMD ["true"]', 'healthcheck-interval': '7s' }).healthcheck ?? 'NONE'), {
    Test: ['CMD', 'true'],
    Interval: 7e9,
    Retries: 4,
  });
  assert.deepEqual(resolveHealthcheck(configOptions({ healthcheck: 'none' }).healthcheck ?? ''), { Test: ['NONE'] });
  assert.throws(() => configOptions({ 'healthcheck-interval': '30s' }), (e: unknown) => e instanceof UsageError && /needs --healthcheck/.test(e.message));
  assert.throws(() => configOptions({ healthcheck: 'NONE', 'healthcheck-retries': '2' }), UsageError);
  assert.throws(() => configOptions({ healthcheck: 'CMD x', 'healthcheck-retries': 'many' }), UsageError);
  assert.throws(() => configOptions({ healthcheck: 'CMD x', 'healthcheck-timeout': '3 seconds' }), /invalid duration/);
  assert.throws(() => configOptions({ healthcheck: 'RUN x' }), UsageError);
});

test('ocibuild node: healthcheck from package.json "ocibuild" or the option lands in the image config', async () => {
  const app = path.join(tmp, 'app');
  await fs.mkdir(app, { recursive: true });
  await fs.writeFile(path.join(app, 'index.js'), 'console.log(1);\n');
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'hc', version: '1.0.0', main: 'index.js', ocibuild: { healthcheck: '--interval=15s CMD ["node", "index.js"]' } }));
  const fromPackage = await buildImage(await nodeApp(app, { from: base, to: `oci:${path.join(tmp, 'out-node')}:a`, cache: false }));
  assert.equal(JSON.stringify(fromPackage.config.config?.Healthcheck), '{"Test":["CMD","node","index.js"],"Interval":15000000000}');
  const fromFlags = await buildImage(await nodeApp(app, { ...nodeOptionsFromFlags({ healthcheck: 'CMD wget -q -O- http://localhost:3000/health', 'healthcheck-retries': '5' }), from: base, to: `oci:${path.join(tmp, 'out-node')}:b`, cache: false }));
  assert.equal(JSON.stringify(fromFlags.config.config?.Healthcheck), '{"Test":["CMD-SHELL","wget -q -O- http://localhost:3000/health"],"Retries":5}');
});
