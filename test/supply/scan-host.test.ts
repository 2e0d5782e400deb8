// The rootfs scanner on real records: this machine's own dpkg database and Python wheels' METADATA,
// copied into a layer by the layer writer, give the packages `dpkg-query` lists and the wheels
// the dist-info folders name.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { writeLayer } from '../../src/layer/write.ts';
import { builtLayer } from '../../src/image/open.ts';
import { appendLayers, emptyImage } from '../../src/image/mutate.ts';
import { scanImage } from '../../src/supply/scan.ts';
import { normalizePythonName } from '../../src/supply/scan-records.ts';

const run = promisify(execFile);
const SITE = '/usr/lib/python3/dist-packages';
const hasDpkg = existsSync('/var/lib/dpkg/status');

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-scan-host-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('scanImage on this machine’s records', { skip: hasDpkg ? false : 'no dpkg database on this machine' }, () => {
  it('lists every installed Debian package dpkg-query lists, and the Python wheels', async () => {
    const osRelease = await fs.readFile('/usr/lib/os-release');
    const layer = await writeLayer(
      {
        entries: [
          { type: 'file', path: '/usr/lib/os-release', source: new Uint8Array(osRelease) },
          { type: 'symlink', path: '/etc/os-release', target: '../usr/lib/os-release' },
        ],
        directories: [
          { source: '/var/lib/dpkg', destination: '/var/lib/dpkg', include: ['status'] },
          ...(existsSync(SITE) ? [{ source: SITE, destination: SITE, include: ['*.dist-info/METADATA'] }] : []),
        ],
      },
      { directory: tmp },
    );
    const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), [builtLayer(layer)]);
    const packages = await scanImage(image);

    const { stdout } = await run('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}|${Package}|${Version}|${Architecture}\n'], { maxBuffer: 64 * 1024 * 1024 });
    const installed = stdout
      .split('\n')
      .filter((line) => /^.i/.test(line))
      .map((line) => line.split('|').slice(1).join(' '))
      .sort();
    assert.ok(installed.length > 10);
    const debs = packages.filter((p) => p.ecosystem === 'deb');
    assert.deepEqual(debs.map((p) => `${p.name} ${p.version} ${/[?&]arch=([^&]+)/.exec(p.purl)?.[1]}`).sort(), installed);
    const id = /^ID=(.*)$/m.exec(osRelease.toString())?.[1]?.replace(/"/g, '');
    assert.ok(debs.every((p) => p.purl.startsWith(`pkg:deb/${id}/`) && p.layer === layer.diffId && p.path === '/var/lib/dpkg/status'));

    const wheels = existsSync(SITE) ? (await fs.readdir(SITE)).filter((n) => n.endsWith('.dist-info')) : [];
    const python = packages.filter((p) => p.ecosystem === 'python');
    // `NAME-VERSION.dist-info`: the folder name says which wheel it is, independently of METADATA.
    assert.deepEqual(
      python.map((p) => `${normalizePythonName(p.name)} ${p.version}`).sort(),
      wheels.map((w) => /^(.+)-([^-]+)\.dist-info$/.exec(w)!).map((m) => `${normalizePythonName(m[1]!)} ${m[2]}`).sort(),
    );
  });
});
