import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget, openTarget } from '../../src/transports/target.ts';
import { OcibuildError } from '../../src/errors.ts';
import { memorySource } from '../../src/image/memory.ts';

function isCode(code: string) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code;
}

describe('parseTarget', () => {
  it('parses OCI layouts with and without a tag, splitting at the first colon as skopeo does', () => {
    assert.deepEqual(parseTarget('oci:/tmp/out'), { kind: 'oci', path: '/tmp/out', input: 'oci:/tmp/out' });
    assert.deepEqual(parseTarget('oci:out:v1'), { kind: 'oci', path: 'out', reference: 'v1', input: 'oci:out:v1' });
    assert.equal(parseTarget('oci:/a:b:c').reference, 'b:c');
  });

  it('parses docker archives with a repo:tag, a registry port, or an image index', () => {
    const t = parseTarget('docker-archive:/tmp/x.tar:localhost:5000/app:1');
    assert.equal(t.kind, 'docker-archive');
    assert.equal(t.path, '/tmp/x.tar');
    assert.equal(t.reference, 'localhost:5000/app:1');
    assert.equal(t.ref?.registry, 'localhost:5000');
    assert.equal(parseTarget('docker-archive:x.tar').reference, undefined);
    assert.equal(parseTarget('docker-archive:x.tar:@1').reference, '@1');
  });

  it('parses registry references with and without docker://', () => {
    const a = parseTarget('docker://localhost:5000/team/app:2');
    assert.equal(a.kind, 'registry');
    assert.equal(a.ref?.registry, 'localhost:5000');
    assert.equal(a.ref?.repository, 'team/app');
    assert.equal(a.reference, '2');
    const b = parseTarget('busybox');
    assert.equal(b.ref?.normalized(), 'docker.io/library/busybox:latest');
    assert.equal(b.reference, 'latest');
    assert.equal(parseTarget('localhost:5000/app').kind, 'registry');
  });

  it('rejects malformed and unsupported targets, naming the input', () => {
    assert.throws(() => parseTarget('oci:'), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('oci:/x:'), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('oci:/x:a b'), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('docker-archive:x.tar:app@sha256:' + 'a'.repeat(64)), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('docker-archive:x.tar:UPPER'), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('docker:busybox'), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('Not A Ref'), (e: unknown) => isCode('ERR_INVALID_REFERENCE')(e) && String(e).includes('Not A Ref'));
    assert.throws(() => parseTarget('containers-storage:busybox:latest'), isCode('ERR_UNSUPPORTED'));
    assert.throws(() => parseTarget('oci:/x', { kinds: ['registry'] }), isCode('ERR_UNSUPPORTED'));
  });
});

describe('openTarget', () => {
  it('opens each kind, taking registry transports from the factory', () => {
    assert.equal(openTarget(parseTarget('oci:/tmp/x:v1')).description, 'oci:/tmp/x');
    assert.equal(openTarget(parseTarget('docker-archive:/tmp/x.tar')).description, 'docker-archive:/tmp/x.tar');
    const fake = memorySource({ description: 'registry' });
    assert.equal(openTarget(parseTarget('localhost:5000/a'), { registry: () => fake }), fake);
    assert.throws(() => openTarget(parseTarget('localhost:5000/a')), isCode('ERR_INVALID_ARGUMENT'));
  });
});
