import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ROOT_RANGE, inspectHost, namespaceFlags, probeHost, rootRange } from '../../src/run/host.ts';
import { containerUidToHost, rootMapping } from '../../src/run/idmap.ts';

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

  it('says what to install when bwrap is missing', () => {
    const base = inspectHost();
    const result = probeHost({ ...base, tools: { ...base.tools, bwrap: undefined } });
    assert.ok(!result.ok && /bwrap/.test(result.reason) && /bubblewrap/.test(result.hint));
  });
});

describe("a root caller's id range", () => {
  it("takes root's range, else podman's containers range, else a default far from login users' ranges", () => {
    assert.deepEqual(rootRange('alice:100000:65536\nroot:300000:65536\n'), { start: 300000, count: 65536 });
    assert.deepEqual(rootRange('containers:500000:200000\n'), { start: 500000, count: 65536 });
    assert.deepEqual(rootRange('alice:100000:65536\n'), DEFAULT_ROOT_RANGE);
    assert.ok(DEFAULT_ROOT_RANGE.start >= 1 << 30);
  });
  it('never maps container root onto host root', () => {
    const m = rootMapping(DEFAULT_ROOT_RANGE, DEFAULT_ROOT_RANGE);
    assert.equal(containerUidToHost(m, 0), DEFAULT_ROOT_RANGE.start);
    assert.equal(containerUidToHost(m, 65536), undefined);
    if (process.getuid?.() === 0) assert.notEqual(inspectHost().mapping.uids[0]?.outside ?? 0, 0);
  });
});
