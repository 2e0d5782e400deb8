/**
 * The package as a consumer meets it (issue 12): `npm pack` (whose `prepare` builds dist/), the
 * tarball unpacked into a temporary project next to exactly the packages npm would install
 * for it (the production dependency closure from package-lock.json, copied so nothing resolves
 * back into this repository's dev dependencies), a strict TypeScript file compiled with
 * `module: nodenext` and no `skipLibCheck`, then run against a local registry.
 *
 * The dependencies are copied from node_modules rather than installed: a test may not reach
 * the network, and `npm install --offline` works only where the npm cache happens to hold them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { CONSUMER_SOURCE } from './consumer-source.ts';
import { dependencyClosure, type PackageLock } from './closure.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface PackResult {
  filename: string;
  files: { path: string; mode: number }[];
}

describe('the packed package in a strict TypeScript consumer', () => {
  let tmp: string;
  let registry: TestRegistry;
  let pack: PackResult;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-consumer-'));
    registry = await startRegistry();
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: repoRoot, maxBuffer: 64 << 20 });
    const parsed = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as PackResult[];
    assert.equal(parsed.length, 1);
    pack = parsed[0] as PackResult;
  });
  after(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('packs dist/ with declarations and nothing of the tests or the sources', () => {
    const files = pack.files.map((f) => f.path);
    for (const needed of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']) {
      assert.ok(files.includes(needed), `${needed} is in the package`);
    }
    const stray = files.filter((f) => !/^dist\/.+\.(js|d\.ts)$/.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f));
    assert.deepEqual(stray, [], 'only compiled code, declarations, package.json, README and licence');
    assert.ok(files.every((f) => !f.startsWith('test/') && !f.startsWith('src/')), 'no tests, no sources');
    assert.ok(files.every((f) => !f.endsWith('.map')), 'no source maps (their sources are not shipped)');
    // Every compiled module has its declaration, so deep type references resolve; the CLI's
    // bundle chunks (dist/cli/chunks/, issue 15) are no API and have none.
    for (const js of files.filter((f) => f.endsWith('.js') && !f.startsWith('dist/cli/chunks/'))) assert.ok(files.includes(js.replace(/\.js$/, '.d.ts')), `${js} has a .d.ts`);
  });

  it('compiles with strict nodenext settings and no skipLibCheck, and builds, copies and reports typed errors', async () => {
    const app = path.join(tmp, 'app');
    const modules = path.join(app, 'node_modules');
    await fs.mkdir(path.join(modules, 'ocibuild'), { recursive: true });
    await run('tar', ['-xzf', path.join(tmp, pack.filename), '-C', path.join(modules, 'ocibuild'), '--strip-components=1']);
    const packedManifest = JSON.parse(await fs.readFile(path.join(modules, 'ocibuild/package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const lock = JSON.parse(await fs.readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as PackageLock;
    // What npm would install: the package's dependencies; plus the consumer's own @types/node.
    const roots = [...Object.keys(packedManifest.dependencies ?? {}), '@types/node'];
    for (const key of dependencyClosure(lock, roots)) {
      // An optional dependency the lockfile lists may not be installed on this platform.
      if (!(await fs.stat(path.join(repoRoot, key)).catch(() => undefined))) continue;
      await fs.cp(path.join(repoRoot, key), path.join(app, key), { recursive: true });
    }
    await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    await fs.writeFile(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          types: ['node'],
          skipLibCheck: false,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    await fs.writeFile(path.join(app, 'main.ts'), CONSUMER_SOURCE);
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    const compiled = await run(process.execPath, [tsc, '-p', path.join(app, 'tsconfig.json')], { cwd: app }).catch((error: { stdout?: string }) => {
      assert.fail(`the consumer does not compile:\n${error.stdout ?? String(error)}`);
    });
    assert.equal(compiled.stdout, '');

    const layout = await buildBusyboxLayout(path.join(tmp, 'busybox'));
    const appDir = path.join(tmp, 'files');
    await fs.mkdir(appDir);
    await fs.writeFile(path.join(appDir, 'run.sh'), 'echo hello from the consumer\n');
    const out = await run(process.execPath, [path.join(app, 'out/main.js'), `${layout.layoutPath}`, registry.host, appDir], { cwd: app });
    const report = JSON.parse(out.stdout) as { copied: string; inspected: string; tags: string[]; built: string; pushed: string; dockerfileLine: number; missingCode: string; missingStatus: number | null };
    assert.equal(report.copied, layout.manifestDigest, 'copyImage pushed the base unchanged');
    assert.equal(report.inspected, layout.manifestDigest, 'inspectImage reads it back as an image');
    assert.deepEqual([...report.tags].sort(), ['1', 'stable'], 'listTags lists its tag and the extra one');
    assert.match(report.built, /^sha256:[a-f0-9]{64}$/);
    // The registry serves the pushed manifest under the tag the build named.
    const head = await fetch(`${registry.url}/v2/consumer/app/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(head.headers.get('docker-content-digest'), report.built);
    assert.equal(report.dockerfileLine, 2, 'DockerfileError carries the line');
    assert.match(report.missingCode, /NOT_FOUND/, 'a missing base is a typed not-found error');
    assert.equal(report.missingStatus, 404, 'a RegistryError with the HTTP status');
    // The package's bin runs by itself (shebang, executable), as `npx ocibuild` runs it.
    const bin = pack.files.find((f) => f.path === 'dist/cli/main.js');
    assert.ok(bin !== undefined && (bin.mode & 0o111) !== 0, 'the bin is executable in the tarball');
    const help = await run(path.join(modules, 'ocibuild/dist/cli/main.js'), ['--help'], { cwd: app });
    assert.match(help.stdout, /^ocibuild: build OCI and Docker images/);
    assert.equal(report.pushed, report.built);
  });
});
