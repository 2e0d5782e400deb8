// The registry client imports undici's files one by one (src/registry/undici-lib.ts): they must
// be the very values undici's index exports, so an undici release that moves a file fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as undici from 'undici';
import { Agent, buildConnector, EnvHttpProxyAgent, request } from '../../src/registry/undici-lib.ts';
import { startRegistry } from '../helpers/registry.ts';

test("undici's files are the values its index exports", () => {
  assert.equal(Agent, undici.Agent);
  assert.equal(EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
  assert.equal(buildConnector, undici.buildConnector);
});

test("without undici's index, dispatchers still get its API (ProxyAgent needs connect) and the index stays unloaded", () => {
  // A process of its own: this file has loaded the index, which installs the API too.
  const script = `
    const { Agent } = await import(${JSON.stringify(new URL('../../src/registry/undici-lib.ts', import.meta.url).href)});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => /undici[\\/]index\\.js$/.test(f));
    const agent = new Agent();
    console.log(JSON.stringify({ methods: ['request', 'stream', 'pipeline', 'connect', 'upgrade'].filter((m) => typeof agent[m] === 'function'), loaded }));
    await agent.close();`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { methods: ['request', 'stream', 'pipeline', 'connect', 'upgrade'], loaded: [] });
});

test('request sends the path and query through the dispatcher it is given', async (t) => {
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const agent = new Agent();
  t.after(() => agent.close());
  const response = await request(new URL(`${registry.url}/v2/_catalog?n=1`), { dispatcher: agent, method: 'GET', headers: {} });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(await response.body.json(), { repositories: [] });
  assert.deepEqual((await registry.requestLog()).at(-1), { method: 'GET', path: '/v2/_catalog?n=1', status: 200 });
});
