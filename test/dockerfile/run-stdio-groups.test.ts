import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from './run-helpers.ts';

/** Issue #11, defects 1 and 2: RUN's stdio as BuildKit gives it, and BuildKit's group lists. */
describe('RUN stdio and groups', { skip: process.platform !== 'linux' }, () => {
  it('gives pipes and /dev/null, and the group lists BuildKit gives', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-stdio-'));
    try {
      const base = await buildBusyboxLayout(path.join(tmp, 'base'));
      const context = path.join(tmp, 'context');
      fs.mkdirSync(context);
      const text = [
        `FROM oci:${base.layoutPath}:${base.tag}`,
        "RUN echo 'wheel:x:10:root,app' >> /etc/group && echo 'staff:x:50:app' >> /etc/group",
        // Defect 1: writing to /dev/stdout and /dev/stderr reopens the pipes (ENXIO on a socket).
        'RUN echo hi > /dev/stdout && echo err > /dev/stderr && o=; e=; if [ -p /dev/stdout ]; then o=stdout-pipe; fi; if [ -p /dev/stderr ]; then e=stderr-pipe; fi; { readlink /proc/self/fd/0; echo $o; echo $e; cat /dev/stdin; echo end; } > /stdio',
        'RUN id > /id-root',
        'USER app',
        'RUN id > /tmp/id-app',
        'USER app:staff',
        'RUN id > /tmp/id-app-staff',
        'USER 1000:50',
        'RUN id -G > /tmp/id-numeric',
      ].join('\n');
      await buildImage({ context, cache: false, dockerfile: { text, file: 'Dockerfile' }, to: `oci:${path.join(tmp, 'out')}:latest` });
      const img = await readImage(path.join(tmp, 'out'));
      const file = (p: string): string | undefined => {
        for (let i = img.layers.length - 1; i >= 0; i--) {
          const m = img.layers[i]?.members.find((x) => x.path === p);
          if (m) return m.content;
        }
        return undefined;
      };
      assert.equal(file('stdio'), '/dev/null\nstdout-pipe\nstderr-pipe\nend\n');
      assert.equal(file('id-root'), 'uid=0(root) gid=0(root) groups=0(root),10(wheel)\n');
      // The kernel keeps the group list sorted; busybox's id prints it in that order.
      assert.equal(file('tmp/id-app'), 'uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)\n');
      assert.equal(file('tmp/id-app-staff'), 'uid=1000(app) gid=50(staff) groups=50(staff)\n');
      assert.equal(file('tmp/id-numeric'), '50\n');
    } finally {
      await removeRootfs(tmp);
    }
  });
});
