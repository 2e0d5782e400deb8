import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OcibuildError } from '../../src/errors.ts';
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformKey,
  platformMatches,
} from '../../src/oci/platform.ts';

describe('parsePlatform / formatPlatform', () => {
  it('parses os/arch[/variant] as written', () => {
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('Linux/aarch64'), { os: 'Linux', architecture: 'aarch64' });
    for (const text of ['linux/amd64', 'linux/arm/v7', 'windows/amd64']) assert.equal(formatPlatform(parsePlatform(text)), text);
  });

  for (const bad of ['', 'linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'linux/amd 64', 'linux//v7']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parsePlatform(bad),
        (error: unknown) =>
          error instanceof OcibuildError &&
          error.code === 'ERR_INVALID_PLATFORM' &&
          error.message.includes(JSON.stringify(bad)),
      );
    });
  }
});

describe('normalizePlatform', () => {
  const table: [input: string, normalized: string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['linux/arm64/v9', 'linux/arm64/v9'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/arm/v5', 'linux/arm/v5'],
    ['linux/i386', 'linux/386'],
    ['linux/386', 'linux/386'],
    ['macos/arm64', 'darwin/arm64'],
    ['linux/ppc64le', 'linux/ppc64le'],
    ['linux/s390x', 'linux/s390x'],
    ['linux/riscv64', 'linux/riscv64'],
  ];
  for (const [input, expected] of table) {
    it(`${input} → ${expected}`, () => {
      assert.equal(formatPlatform(normalizePlatform(parsePlatform(input))), expected);
    });
  }

  it('keeps os.version and os.features and does not modify its input', () => {
    const input = { os: 'Windows', architecture: 'x86_64', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] };
    const copy = structuredClone(input);
    assert.deepEqual(normalizePlatform(input), {
      os: 'windows',
      architecture: 'amd64',
      'os.version': '10.0.17763.1',
      'os.features': ['win32k'],
    });
    assert.deepEqual(input, copy);
  });
});

describe('platformMatches', () => {
  const yes: [string, string][] = [
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64/v8'],
    ['linux/amd64', 'linux/x86_64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v7', 'linux/armhf'],
  ];
  const no: [string, string][] = [
    ['linux/amd64', 'linux/arm64'],
    ['linux/amd64', 'windows/amd64'],
    ['linux/arm/v7', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v6'],
    ['linux/arm64', 'linux/arm64/v9'],
    ['linux/amd64', 'linux/amd64/v3'],
  ];
  for (const [want, have] of yes) it(`${want} matches ${have}`, () => assert.ok(platformMatches(parsePlatform(want), parsePlatform(have))));
  for (const [want, have] of no) it(`${want} does not match ${have}`, () => assert.ok(!platformMatches(parsePlatform(want), parsePlatform(have))));

  it('requires the same os.version only when the wanted platform names one', () => {
    const have = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' };
    assert.ok(platformMatches({ os: 'windows', architecture: 'amd64' }, have));
    assert.ok(platformMatches({ ...have }, have));
    assert.ok(!platformMatches({ ...have, 'os.version': '10.0.20348.1' }, have));
  });
});

describe('platformKey / hostPlatform', () => {
  it('gives equal keys to equivalent platforms', () => {
    assert.equal(platformKey(parsePlatform('linux/aarch64')), platformKey(parsePlatform('linux/arm64/v8')));
    assert.equal(platformKey(parsePlatform('linux/arm')), 'linux/arm/v7');
    assert.notEqual(platformKey(parsePlatform('linux/arm/v6')), platformKey(parsePlatform('linux/arm/v7')));
    assert.equal(platformKey({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }), 'windows(10.0.17763.1)/amd64');
  });

  it("translates Node's platform and arch names into OCI spelling", () => {
    // Every Node spelling, not only this machine's: a check of the host alone would pass on an
    // x64 runner whatever the table said about the others.
    const cases: [{ platform: string; arch: string; armVersion?: unknown }, string][] = [
      [{ platform: 'linux', arch: 'x64' }, 'linux/amd64'],
      [{ platform: 'linux', arch: 'arm64' }, 'linux/arm64'],
      [{ platform: 'linux', arch: 'ia32' }, 'linux/386'],
      [{ platform: 'linux', arch: 'arm', armVersion: '6' }, 'linux/arm/v6'],
      [{ platform: 'linux', arch: 'arm', armVersion: 7 }, 'linux/arm/v7'],
      [{ platform: 'linux', arch: 'arm' }, 'linux/arm/v7'],
      [{ platform: 'linux', arch: 'ppc64' }, 'linux/ppc64le'],
      [{ platform: 'linux', arch: 's390x' }, 'linux/s390x'],
      [{ platform: 'linux', arch: 'riscv64' }, 'linux/riscv64'],
      [{ platform: 'linux', arch: 'mipsel' }, 'linux/mipsle'],
      [{ platform: 'win32', arch: 'x64' }, 'windows/amd64'],
      [{ platform: 'darwin', arch: 'arm64' }, 'darwin/arm64'],
      [{ platform: 'sunos', arch: 'x64' }, 'solaris/amd64'],
    ];
    for (const [node, expected] of cases) assert.equal(formatPlatform(hostPlatform(node)), expected, JSON.stringify(node));
    // Without an argument it describes this process, normalised.
    const host = hostPlatform();
    assert.deepEqual(host, hostPlatform({ platform: process.platform, arch: process.arch, armVersion: (process.config.variables as Record<string, unknown>)['arm_version'] }));
    assert.deepEqual(host, normalizePlatform(host));
  });
});
