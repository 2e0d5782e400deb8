// The Node preset's SBOM: exactly the production packages of the lockfile (read here
// independently of the preset), never a dev dependency, with the lockfile's integrity as hex,
// each installed package.json's licence, dependency edges; and both SBOM formats of it valid.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeAppSbomPackages, nodeSbomPackages, integrityChecksums } from '../../src/presets/sbom.ts';
import { selectWithTree } from '../../src/presets/lockfile.ts';
import { sbomDocument } from '../../src/supply/sbom.ts';
import { makeNpmApp, type NpmApp } from '../presets/npm-app.ts';
import { cycloneDxSchemaErrors, spdxSchemaErrors } from './sbom-schemas.ts';

let tmp: string;
let app: NpmApp;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-sbom-node-'));
  app = await makeNpmApp(tmp);
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

interface LockEntry {
  version?: string;
  integrity?: string;
  dev?: boolean;
  link?: boolean;
}

/** The production packages of a v2/v3 package-lock.json, by its own fields: `name@version` → integrity. */
async function lockedProduction(dir: string): Promise<Map<string, string | undefined>> {
  const lock = JSON.parse(await fs.readFile(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const out = new Map<string, string | undefined>();
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.includes('node_modules/') || entry.dev === true || entry.link === true) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    out.set(`${name}@${entry.version}`, entry.integrity);
  }
  return out;
}

function hexOfSri(integrity: string): string {
  const [, base64] = /^sha512-(.+)$/.exec(integrity.split(/\s+/)[0] ?? '') ?? [];
  return Buffer.from(base64 ?? '', 'base64').toString('hex');
}

describe('Node preset SBOM', () => {
  it('lists exactly the production packages of the npm lockfile, with integrity and licence, and no dev dependency', async () => {
    const packages = await nodeAppSbomPackages(app.dir);
    const locked = await lockedProduction(app.dir);
    assert.ok(locked.size >= 2, 'the fixture has production packages');
    assert.deepEqual(new Set(packages.map((p) => `${p.name}@${p.version}`)), new Set(locked.keys()));
    assert.equal(packages.length, locked.size);
    for (const dev of app.dev) assert.ok(!packages.some((p) => p.name === dev), `${dev} is a dev dependency`);
    for (const pkg of packages) {
      const integrity = locked.get(`${pkg.name}@${pkg.version}`);
      assert.ok(integrity !== undefined, `npm recorded the integrity of ${pkg.name}`);
      assert.deepEqual(pkg.checksums, [{ algorithm: 'SHA512', value: hexOfSri(integrity) }]);
      assert.equal(pkg.license, 'MIT');
      assert.equal(pkg.ecosystem, 'npm');
    }
    assert.ok(packages.some((p) => p.purl === 'pkg:npm/%40acme/util@1.0.0'));
    assert.ok(packages.some((p) => p.purl === 'pkg:npm/left-pad-lite@1.0.0'));
  });

  it('includes dev dependencies only when asked, as the dependency layer does', async () => {
    const withDev = await nodeAppSbomPackages(app.dir, { includeDev: true });
    assert.ok(withDev.some((p) => p.name === 'devtool'));
  });

  it('writes SBOMs of it that validate against both schemas, identical bytes from the same input', async () => {
    const packages = await nodeAppSbomPackages(app.dir, { imageRoot: '/app', layer: `sha256:${'c'.repeat(64)}` });
    assert.ok(packages.every((p) => p.path?.startsWith('/app/node_modules/') && p.path.endsWith('/package.json')));
    const input = { subject: { name: 'localhost:5000/node/app:1', digest: `sha256:${'d'.repeat(64)}` }, packages, created: new Date(1_700_000_000_000), tool: { name: 'ocibuild', version: '0.0.0-test' } };
    for (const format of ['spdx', 'cyclonedx'] as const) {
      const doc = sbomDocument(format, input);
      const again = sbomDocument(format, { ...input, packages: [...packages].reverse() });
      assert.deepEqual(again.bytes, doc.bytes);
      const parsed = JSON.parse(new TextDecoder().decode(doc.bytes)) as unknown;
      assert.deepEqual(format === 'spdx' ? spdxSchemaErrors(parsed) : cycloneDxSchemaErrors(parsed), []);
    }
  });

  it('follows the tree: nested versions, dependency edges, legacy licences, platform exclusions', async () => {
    // A hand-installed tree as npm lays it out (a v3 lockfile), b installed twice at two versions.
    const dir = path.join(tmp, 'tree');
    const write = async (rel: string, value: unknown): Promise<void> => {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), JSON.stringify(value));
    };
    const sri = (seed: string): string => `sha512-${Buffer.alloc(64, seed).toString('base64')}`;
    await write('package.json', { name: 'tree-app', version: '1.0.0', dependencies: { a: '1', b: '1', '@s/native-linux': '1' }, devDependencies: { d: '1' } });
    await write('node_modules/a/package.json', { name: 'a', version: '1.0.0', licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }], dependencies: { b: '2' } });
    await write('node_modules/a/node_modules/b/package.json', { name: 'b', version: '2.0.0', license: 'ISC' });
    await write('node_modules/b/package.json', { name: 'b', version: '1.0.0' });
    await write('node_modules/@s/native-linux/package.json', { name: '@s/native-linux', version: '1.0.0', os: ['linux'] });
    await write('node_modules/d/package.json', { name: 'd', version: '1.0.0' });
    await write('package-lock.json', {
      name: 'tree-app',
      lockfileVersion: 3,
      packages: {
        '': { name: 'tree-app', version: '1.0.0' },
        'node_modules/a': { version: '1.0.0', integrity: sri('a') },
        'node_modules/a/node_modules/b': { version: '2.0.0', integrity: `${sri('x')} sha1-${Buffer.alloc(20, 'y').toString('base64')}` },
        'node_modules/b': { version: '1.0.0', integrity: sri('b') },
        'node_modules/@s/native-linux': { version: '1.0.0', integrity: sri('n') },
        'node_modules/d': { version: '1.0.0', dev: true, integrity: sri('d') },
      },
    });
    const { tree } = await selectWithTree(dir);
    assert.ok(tree !== undefined);
    const real = await fs.realpath(dir);
    const packages = await nodeSbomPackages(tree, { excluded: new Set([path.join(real, 'node_modules/@s/native-linux')]) });
    assert.deepEqual(
      packages.map((p) => [p.purl, p.license, p.dependsOn, p.checksums?.map((c) => c.algorithm)]),
      [
        ['pkg:npm/a@1.0.0', '(MIT OR Apache-2.0)', ['pkg:npm/b@2.0.0'], ['SHA512']],
        ['pkg:npm/b@1.0.0', undefined, undefined, ['SHA512']],
        ['pkg:npm/b@2.0.0', 'ISC', undefined, ['SHA512', 'SHA1']],
      ],
    );
    assert.equal(packages[0]?.checksums?.[0]?.value, Buffer.alloc(64, 'a').toString('hex'));
    const all = await nodeSbomPackages(tree);
    assert.ok(all.some((p) => p.purl === 'pkg:npm/%40s/native-linux@1.0.0'), 'without exclusions the platform package is listed');
  });

  it('reads SRI strings strictly', () => {
    assert.deepEqual(integrityChecksums('sha384-AAAA sha512-notbase64!'), []);
    assert.deepEqual(integrityChecksums(`sha256-${Buffer.alloc(32, 1).toString('base64')}`), [{ algorithm: 'SHA256', value: '01'.repeat(32) }]);
    assert.deepEqual(integrityChecksums(`sha512-${Buffer.alloc(10).toString('base64')}`), [], 'wrong length');
  });
});
