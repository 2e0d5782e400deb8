import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspectHost, namespaceFlags, probeHost } from '../../src/run/host.ts';

describe('probeHost', { skip: process.platform !== 'linux' }, () => {
  it('is ok on this machine', () => {
    assert.deepEqual(probeHost(inspectHost()), { ok: true });
  });

  it('says what to enable when a rootless caller has no subordinate range', () => {
    const host = { ...inspectHost(), root: false, subuid: undefined, subgid: undefined, userName: 'alice' };
    const result = probeHost(host);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && /subordinate id range for alice/.test(result.reason));
    assert.ok(!result.ok && /usermod --add-subuids/.test(result.hint));
  });

  it('says what to install when unshare is missing', () => {
    const base = inspectHost();
    const result = probeHost({ ...base, tools: { ...base.tools, unshare: undefined } });
    assert.ok(!result.ok && /unshare/.test(result.reason) && /util-linux/.test(result.hint));
  });

  it('maps the caller and its range only when rootless', () => {
    const base = inspectHost();
    assert.ok(!namespaceFlags({ ...base, root: true }, false).includes('--user'));
    const rootless = namespaceFlags({ ...base, root: false, subuid: { start: 100000, count: 65536 }, subgid: { start: 100000, count: 65536 } }, true);
    assert.ok(rootless.includes('--map-root-user') && rootless.includes('--map-users=100000,1,65536') && rootless.includes('--net'));
  });
});
