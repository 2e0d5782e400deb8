// The rootfs scanner on an image read back from an OCI layout through a transport (lazy,
// verified base layers): an image built on the busybox fixture with a dpkg database and an npm
// package in its own layer; a Docker-format image built the same way scans the same.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, createSession, openImage } from '../../src/index.ts';
import { scanImage } from '../../src/supply/scan.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let busybox: BusyboxLayout;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-scan-layout-'));
  busybox = await buildBusyboxLayout(path.join(tmp, 'busybox'), { tag: 'v1' });
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const STATUS = 'Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n';

describe('scanImage through a transport', () => {
  for (const format of ['oci', 'docker'] as const) {
    it(`scans a ${format} image read from an OCI layout`, async () => {
      const out = path.join(tmp, `out-${format}`);
      await buildImage({
        from: `oci:${busybox.layoutPath}:v1`,
        format,
        layers: [{ entries: [
          { type: 'file', path: '/var/lib/dpkg/status', source: new TextEncoder().encode(STATUS) },
          { type: 'file', path: '/srv/node_modules/left-pad/package.json', source: new TextEncoder().encode('{"name":"left-pad","version":"1.3.0","license":"WTFPL"}') },
        ] }],
        to: `oci:${out}:v1`,
        cache: false,
      });
      const session = createSession();
      try {
        const { transport, reference } = session.openSource(`oci:${out}:v1`);
        const image = await openImage(transport, reference ?? '');
        assert.equal(image.layers.length, 2);
        const top = image.layers[1]!.diffId;
        const packages = await scanImage(image);
        assert.deepEqual(
          packages.map((p) => [p.purl, p.path, p.layer, p.license]),
          [
            ['pkg:deb/debian/hello@2.10-3?arch=amd64', '/var/lib/dpkg/status', top, undefined],
            ['pkg:npm/left-pad@1.3.0', '/srv/node_modules/left-pad/package.json', top, 'WTFPL'],
          ],
        );
        await transport.close?.();
      } finally {
        await session.close();
      }
    });
  }
});
