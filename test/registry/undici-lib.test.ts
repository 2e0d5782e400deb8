// The registry client imports undici's files one by one (src/registry/undici-lib.ts): they must
// be the very values undici's index exports, so an undici release that moves a file fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as undici from 'undici';
import { Agent, buildConnector, EnvHttpProxyAgent, request } from '../../src/registry/undici-lib.ts';
import { startRegistry } from '../helpers/registry.ts';

test("undici's files are the values its index exports", () => {
  assert.equal(Agent, undici.Agent);
  assert.equal(EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
  assert.equal(buildConnector, undici.buildConnector);
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
