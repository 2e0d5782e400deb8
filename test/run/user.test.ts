import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findSubordinateRange, hostUidToContainer, rootlessMapping } from '../../src/run/idmap.ts';
import { parseGroup, parsePasswd, resolveUserSpec } from '../../src/run/user.ts';

const passwd = parsePasswd('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbroken line\nnohome:x:1001:1001:::/bin/sh\n');
const group = parseGroup('root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nnogroup:x:65534:\n');

describe('resolveUserSpec', () => {
  it('defaults to root with HOME /root', () => {
    assert.deepEqual(resolveUserSpec(undefined, passwd, group), { uid: 0, gid: 0, groups: [0], home: '/root' });
  });
  it('resolves names with supplementary groups', () => {
    assert.deepEqual(resolveUserSpec('app', passwd, group), { uid: 1000, gid: 1000, groups: [1000, 50], home: '/home/app' });
  });
  it('accepts unknown numeric uids with gid 0 and HOME /', () => {
    assert.deepEqual(resolveUserSpec('4242', passwd, group), { uid: 4242, gid: 0, groups: [0], home: '/' });
  });
  it('resolves uid:gid and name:group', () => {
    assert.deepEqual(resolveUserSpec('1000:65534', passwd, group).gid, 65534);
    assert.deepEqual(resolveUserSpec('app:nogroup', passwd, group).gid, 65534);
    assert.equal(resolveUserSpec('nohome', passwd, group).home, '/');
  });
  it('gives USER name:group only that group, and USER name its /etc/group memberships', () => {
    assert.deepEqual(resolveUserSpec('app:nogroup', passwd, group).groups, [65534]);
    assert.deepEqual(resolveUserSpec('1000:50', passwd, group).groups, [50]);
    const wheel = parseGroup('root:x:0:\nwheel:x:10:root\n');
    assert.deepEqual(resolveUserSpec('root', passwd, wheel).groups, [0, 10]);
    assert.deepEqual(resolveUserSpec(undefined, passwd, wheel).groups, [0, 10]);
  });
  it('names the missing user or group', () => {
    assert.throws(() => resolveUserSpec('ghost', passwd, group), { code: 'ERR_RUN', message: /ghost/ });
    assert.throws(() => resolveUserSpec('app:ghosts', passwd, group), { code: 'ERR_RUN', message: /ghosts/ });
  });
});

describe('id mappings', () => {
  it('finds subordinate ranges by name or uid', () => {
    const text = '# comment\nalice:100000:65536\n1001:200000:1000\n';
    assert.deepEqual(findSubordinateRange(text, 'alice', 1000), { start: 100000, count: 65536 });
    assert.deepEqual(findSubordinateRange(text, 'bob', 1001), { start: 200000, count: 1000 });
    assert.equal(findSubordinateRange(text, 'carol', 1002), undefined);
  });
  it('maps subordinate host ids back to container ids', () => {
    const m = rootlessMapping(1001, 1001, { start: 100000, count: 65536 }, { start: 100000, count: 65536 });
    assert.equal(hostUidToContainer(m, 1001), 0);
    assert.equal(hostUidToContainer(m, 100999), 1000);
    assert.equal(hostUidToContainer(m, 165533), 65534);
    assert.equal(hostUidToContainer(m, 5), undefined);
  });
});
