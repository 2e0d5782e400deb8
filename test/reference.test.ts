import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError } from '../src/errors.ts';
import { NAME_MAX_LENGTH, isReference, parseReference } from '../src/reference.ts';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;
const D512 = `sha512:${'ab'.repeat(64)}`;

interface Case {
  input: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  normalized: string;
  familiar: string;
  apiHost?: string;
}

const valid: Case[] = [
  { input: 'busybox', registry: 'docker.io', repository: 'library/busybox', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest', apiHost: 'registry-1.docker.io' },
  { input: 'busybox:1.36', registry: 'docker.io', repository: 'library/busybox', tag: '1.36', normalized: 'docker.io/library/busybox:1.36', familiar: 'busybox:1.36' },
  { input: 'library/busybox', registry: 'docker.io', repository: 'library/busybox', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' },
  { input: 'docker.io/busybox', registry: 'docker.io', repository: 'library/busybox', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' },
  { input: 'docker.io/library/busybox:x', registry: 'docker.io', repository: 'library/busybox', tag: 'x', normalized: 'docker.io/library/busybox:x', familiar: 'busybox:x' },
  { input: 'index.docker.io/library/node', registry: 'docker.io', repository: 'library/node', normalized: 'docker.io/library/node:latest', familiar: 'node:latest' },
  { input: 'library/a/b', registry: 'docker.io', repository: 'library/a/b', normalized: 'docker.io/library/a/b:latest', familiar: 'library/a/b:latest' },
  { input: 'team/app:v1', registry: 'docker.io', repository: 'team/app', tag: 'v1', normalized: 'docker.io/team/app:v1', familiar: 'team/app:v1' },
  { input: 'localhost/app', registry: 'localhost', repository: 'app', normalized: 'localhost/app:latest', familiar: 'localhost/app:latest', apiHost: 'localhost' },
  { input: 'localhost:5000/team/app:1.0', registry: 'localhost:5000', repository: 'team/app', tag: '1.0', normalized: 'localhost:5000/team/app:1.0', familiar: 'localhost:5000/team/app:1.0', apiHost: 'localhost:5000' },
  { input: '127.0.0.1:5000/app', registry: '127.0.0.1:5000', repository: 'app', normalized: '127.0.0.1:5000/app:latest', familiar: '127.0.0.1:5000/app:latest' },
  { input: '[::1]:5000/app:t', registry: '[::1]:5000', repository: 'app', tag: 't', normalized: '[::1]:5000/app:t', familiar: '[::1]:5000/app:t', apiHost: '[::1]:5000' },
  { input: '[fe80::1]/a/b', registry: '[fe80::1]', repository: 'a/b', normalized: '[fe80::1]/a/b:latest', familiar: '[fe80::1]/a/b:latest' },
  { input: 'quay.io/org/app@' + D, registry: 'quay.io', repository: 'org/app', digest: D, normalized: `quay.io/org/app@${D}`, familiar: `quay.io/org/app@${D}` },
  { input: `ghcr.io/o/a:v2@${D512}`, registry: 'ghcr.io', repository: 'o/a', tag: 'v2', digest: D512, normalized: `ghcr.io/o/a:v2@${D512}`, familiar: `ghcr.io/o/a:v2@${D512}` },
  { input: `busybox@${D}`, registry: 'docker.io', repository: 'library/busybox', digest: D, normalized: `docker.io/library/busybox@${D}`, familiar: `busybox@${D}` },
  { input: 'Registry/app', registry: 'Registry', repository: 'app', normalized: 'Registry/app:latest', familiar: 'Registry/app:latest' },
  { input: 'docker://busybox:1.36', registry: 'docker.io', repository: 'library/busybox', tag: '1.36', normalized: 'docker.io/library/busybox:1.36', familiar: 'busybox:1.36' },
  { input: 'docker://localhost:5000/a', registry: 'localhost:5000', repository: 'a', normalized: 'localhost:5000/a:latest', familiar: 'localhost:5000/a:latest' },
  { input: 'a.b-c.example.com:443/x__y/z-w.v_u--t:Tag_1.-', registry: 'a.b-c.example.com:443', repository: 'x__y/z-w.v_u--t', tag: 'Tag_1.-', normalized: 'a.b-c.example.com:443/x__y/z-w.v_u--t:Tag_1.-', familiar: 'a.b-c.example.com:443/x__y/z-w.v_u--t:Tag_1.-' },
  { input: `app:${'t'.repeat(128)}`, registry: 'docker.io', repository: 'library/app', tag: 't'.repeat(128), normalized: `docker.io/library/app:${'t'.repeat(128)}`, familiar: `app:${'t'.repeat(128)}` },
];

const invalid: [input: string, reason: RegExp][] = [
  ['', /empty/],
  ['docker://', /empty/],
  ['Busybox', /must be lowercase/],
  ['localhost:5000/Team/app', /must be lowercase.*Team/],
  ['busybox:', /empty tag/],
  ['busybox:.tag', /tag/],
  [`busybox:${'t'.repeat(129)}`, /tag/],
  ['busybox@sha256:abc', /invalid digest/],
  [`busybox@md5:${'a'.repeat(32)}`, /invalid digest/],
  [`busybox@${D}@${D}`, /invalid digest/],
  ['a//b', /empty path component/],
  ['a/', /empty path component/],
  ['/a', /empty path component/],
  ['localhost:5000/', /empty path component/],
  ['a..b', /path component/],
  ['a___b', /path component/],
  ['-a', /path component/],
  ['a-', /path component/],
  ['a b', /path component|tag/],
  ['exa_mple.com/app', /registry host/],
  ['-bad.com/app', /registry host/],
  ['[::1/app', /registry host/],
  ['localhost:port/app', /registry host/],
  ['a'.repeat(64).replace(/a/g, 'f'), /image ID/],
  [`localhost/${'a'.repeat(NAME_MAX_LENGTH)}`, /more than 255/],
];

describe('parseReference', () => {
  for (const c of valid) {
    it(`parses ${c.input}`, () => {
      const ref = parseReference(c.input);
      assert.equal(ref.registry, c.registry);
      assert.equal(ref.repository, c.repository);
      assert.equal(ref.tag, c.tag);
      assert.equal(ref.digest, c.digest);
      assert.equal(ref.toString(), c.input, 'round-trips exactly');
      assert.equal(ref.original, c.input);
      assert.equal(`${ref}`, c.input);
      assert.equal(ref.normalized(), c.normalized);
      assert.equal(ref.familiar(), c.familiar);
      assert.equal(ref.name, `${c.registry}/${c.repository}`);
      if (c.apiHost) assert.equal(ref.apiHost, c.apiHost);
      // The normalised and familiar forms name the same image.
      assert.ok(parseReference(ref.normalized()).equals(ref));
      assert.equal(parseReference(ref.familiar()).normalized(), c.normalized);
      assert.ok(isReference(c.input));
    });
  }

  for (const [input, reason] of invalid) {
    it(`rejects ${JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}...` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) => {
          assert.ok(error instanceof InvalidReferenceError, String(error));
          assert.equal(error.code, 'ERR_INVALID_REFERENCE');
          assert.equal(error.input, input);
          assert.ok(error.message.includes(JSON.stringify(input)), 'message names the input');
          assert.match(error.message, reason);
          return true;
        },
      );
      assert.equal(isReference(input), false);
    });
  }

  it('accepts the longest allowed name', () => {
    const repository = 'a'.repeat(NAME_MAX_LENGTH - 'localhost/'.length);
    assert.equal(parseReference(`localhost/${repository}`).repository, repository);
  });
});

describe('Reference', () => {
  it('is immutable', () => {
    const ref = parseReference('busybox:1');
    assert.throws(() => {
      (ref as { tag: string | undefined }).tag = '2';
    }, TypeError);
    assert.equal(ref.tag, '1');
  });

  it('withTag and withDigest return copies in the original spelling', () => {
    const ref = parseReference('busybox:1');
    const tagged = ref.withTag('2');
    assert.equal(ref.toString(), 'busybox:1');
    assert.equal(tagged.toString(), 'busybox:2');
    assert.equal(tagged.normalized(), 'docker.io/library/busybox:2');
    const pinned = tagged.withDigest(D);
    assert.equal(pinned.toString(), `busybox:2@${D}`);
    assert.equal(pinned.tag, '2');
    assert.equal(pinned.digest, D);
    assert.equal(pinned.tagOrDigest, D);
    assert.equal(pinned.withoutDigest().toString(), 'busybox:2');
    assert.equal(pinned.withoutTag().toString(), `busybox@${D}`);
    assert.equal(pinned.withoutTag().withoutDigest().tagOrDigest, 'latest');
    assert.equal(parseReference('docker://localhost:5000/a:b').withTag('c').toString(), 'docker://localhost:5000/a:c');
    // Copies parse back to themselves.
    for (const r of [tagged, pinned, pinned.withoutTag()]) assert.ok(parseReference(r.toString()).equals(r));
  });

  it('withTag and withDigest validate their input', () => {
    const ref = parseReference('busybox');
    assert.throws(() => ref.withTag('-bad'), InvalidReferenceError);
    assert.throws(() => ref.withTag(''), InvalidReferenceError);
    assert.throws(() => ref.withDigest('sha256:xyz'), InvalidReferenceError);
  });

  it('equals compares the normalised forms', () => {
    assert.ok(parseReference('busybox').equals(parseReference('docker.io/library/busybox:latest')));
    assert.ok(parseReference('docker://busybox').equals(parseReference('index.docker.io/busybox')));
    assert.ok(!parseReference('busybox').equals(parseReference('busybox:1')));
    assert.ok(!parseReference('localhost/a').equals(parseReference('localhost:5000/a')));
  });

  it('serialises to JSON as its string', () => {
    assert.equal(JSON.stringify({ ref: parseReference('docker://busybox') }), '{"ref":"docker://busybox"}');
  });
});
