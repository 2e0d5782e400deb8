import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { challengeScopes, parseWwwAuthenticate } from '../../src/registry/www-authenticate.ts';
import { mergeScopes } from '../../src/registry/auth.ts';
import { backoffDelay, parseRetryAfter, DEFAULT_RETRY_POLICY } from '../../src/registry/retry.ts';
import { nextLink } from '../../src/registry/manifests.ts';
import { parseErrorBody, safeUrl } from '../../src/registry/response-errors.ts';

describe('parseWwwAuthenticate', () => {
  const table: [string, ReturnType<typeof parseWwwAuthenticate>][] = [
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    ],
    // Commas inside quotes, several scopes, an error parameter.
    [
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"',
      [{ scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull,push repository:c:pull', error: 'insufficient_scope' } }],
    ],
    // Two challenges in one header, spaces around '=', upper-case names, unquoted values.
    [
      'BASIC Realm = "x", Bearer realm=https://h/t , service=svc',
      [
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'bearer', params: { realm: 'https://h/t', service: 'svc' } },
      ],
    ],
    // Escaped quotes and backslashes in a quoted value (RFC 9110 example shape).
    [
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
      [
        { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
        { scheme: 'basic', params: { realm: 'simple' } },
      ],
    ],
    // token68 and a bare scheme.
    ['Negotiate abc+/def==, Bearer', [{ scheme: 'negotiate', params: {}, token68: 'abc+/def==' }, { scheme: 'bearer', params: {} }]],
    ['', []],
  ];
  for (const [input, expected] of table) {
    it(`parses ${JSON.stringify(input)}`, () => assert.deepEqual(parseWwwAuthenticate(input), expected));
  }

  it('joins several header lines', () => {
    assert.deepEqual(
      parseWwwAuthenticate(['Basic realm="a"', 'Bearer realm="b"']).map((c) => c.scheme),
      ['basic', 'bearer'],
    );
  });

  it('splits the scope parameter', () => {
    const [challenge] = parseWwwAuthenticate('Bearer realm="r",scope="repository:a:pull repository:b:pull,push"');
    assert.deepEqual(challengeScopes(challenge!), ['repository:a:pull', 'repository:b:pull,push']);
  });
});

describe('registry protocol helpers', () => {
  it('merges scopes per resource', () => {
    assert.deepEqual(mergeScopes(['repository:a:push'], ['repository:a:pull', 'repository:b:pull']), ['repository:a:pull,push', 'repository:b:pull']);
    assert.deepEqual(mergeScopes(['registry:catalog:*']), ['registry:catalog:*']);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('1', now), 1000);
    assert.equal(parseRetryAfter(' 120 ', now), 120_000);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Sun, 31 Dec 2023 00:00:05 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelay(0, policy, () => 0), 50);
    assert.equal(backoffDelay(0, policy, () => 1), 100);
    assert.equal(backoffDelay(2, policy, () => 1), 400);
    assert.equal(backoffDelay(10, policy, () => 1), 1000);
    assert.equal(backoffDelay(10, policy, () => 0), 500);
  });

  it('finds the next page in a Link header', () => {
    assert.equal(nextLink('</v2/r/tags/list?n=2&last=b>; rel="next"'), '/v2/r/tags/list?n=2&last=b');
    assert.equal(nextLink('<https://x/prev>; rel="prev", <https://x/next?a=1,2>; rel=next'), 'https://x/next?a=1,2');
    assert.equal(nextLink(undefined), undefined);
    assert.equal(nextLink('<https://x/prev>; rel="prev"'), undefined);
  });

  it('parses registry error bodies and strips secrets from URLs', () => {
    assert.deepEqual(parseErrorBody('{"errors":[{"code":"DENIED","message":"no"},{"code":"TOOMANYREQUESTS"}]}'), {
      codes: ['DENIED', 'TOOMANYREQUESTS'],
      messages: ['no'],
    });
    assert.deepEqual(parseErrorBody('<html>'), { codes: [], messages: [] });
    assert.equal(safeUrl('https://user:pw@storage.example/blob?X-Amz-Signature=abc'), 'https://storage.example/blob');
  });
});
