/**
 * A small s2i builder image of the tests' own: the busybox base, `assemble`, `run`,
 * `save-artifacts` and `usage` shell scripts in /usr/libexec/s2i, the s2i labels, user 1001
 * owning /opt/app. Written with `buildImage` to an OCI layout.
 */
import * as path from 'node:path';
import { buildImage } from '../../src/pipeline/index.ts';
import type { LayerEntry } from '../../src/layer/types.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

/** The assemble script: restores artifacts, copies the source to /opt/app, records what it saw. */
export const ASSEMBLE = `#!/bin/sh
set -e
echo "assembling as uid $(id -u)"
n=1
if [ -f /tmp/artifacts/count ]; then
  echo "restored artifacts: count $(cat /tmp/artifacts/count)"
  n=$(( $(cat /tmp/artifacts/count) + 1 ))
fi
cp -R /tmp/src/. /opt/app/
echo "$n" > /opt/app/count
echo "GREETING=$GREETING EXTRA=$EXTRA" > /opt/app/env.txt
echo "assembled build $n" >&2
`;

/** The run script: prints the assembled app's message and build number. */
export const RUN = `#!/bin/sh
echo "app says: $(cat /opt/app/message.txt) (build $(cat /opt/app/count), $GREETING)"
`;

/** save-artifacts: the build counter as a tar stream on stdout. */
export const SAVE_ARTIFACTS = `#!/bin/sh
cd /opt/app && tar cf - count
`;

/** usage: prints how to use the builder. */
export const USAGE = `#!/bin/sh
echo "usage of the ocibuild test builder"
`;

/** assemble-runtime of the runtime image: finishes the artifact in the working directory. */
export const ASSEMBLE_RUNTIME = `#!/bin/sh
set -e
echo "runtime assembled as uid $(id -u)"
cp app/message.txt final.txt
`;

/** run of the runtime image. */
export const RUNTIME_RUN = `#!/bin/sh
echo "runtime says: $(cat /opt/runtime/final.txt)"
`;

/** Where the builder images are: `oci:DIR:user` (user 1001), `oci:DIR:root` (no USER), `oci:DIR:runtime`. */
export interface TestBuilders {
  /** Builder running as 1001. */
  user: string;
  /** The same builder without a USER (root). */
  root: string;
  /** A runtime image for extended builds: user 1002, /opt/runtime, artifacts label `/opt/app/message.txt:app`. */
  runtime: string;
}

/** Builds both test builders under `dir`. */
export async function buildTestBuilders(dir: string): Promise<TestBuilders> {
  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  const script = (name: string, text: string): LayerEntry => ({ type: 'file', path: `/usr/libexec/s2i/${name}`, source: new TextEncoder().encode(text), mode: 0o755 });
  const layers = [{
    entries: [
      script('assemble', ASSEMBLE),
      script('run', RUN),
      script('save-artifacts', SAVE_ARTIFACTS),
      script('usage', USAGE),
      { type: 'directory' as const, path: '/opt/app', uid: 1001, gid: 0, mode: 0o775 },
    ],
  }];
  const labels = { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i', 'io.k8s.description': 'ocibuild test builder', 'test.kept': 'yes' };
  const layout = path.join(dir, 'builders');
  const common = { from: `oci:${base.layoutPath}:${base.tag}`, layers, cache: false as const };
  await buildImage({ ...common, config: { user: '1001', workingDir: '/opt/app', labels, env: { HOME: '/opt/app' } }, to: `oci:${layout}:user` });
  await buildImage({ ...common, config: { workingDir: '/opt/app', labels }, to: `oci:${layout}:root` });
  const runtimeScript = (name: string, text: string): LayerEntry => ({ type: 'file', path: `/usr/libexec/s2i/${name}`, source: new TextEncoder().encode(text), mode: 0o755 });
  await buildImage({
    from: common.from,
    cache: false,
    layers: [{ entries: [runtimeScript('assemble-runtime', ASSEMBLE_RUNTIME), runtimeScript('run', RUNTIME_RUN), { type: 'directory', path: '/opt/runtime', uid: 1002, gid: 0, mode: 0o775 }] }],
    config: {
      user: '1002',
      workingDir: '/opt/runtime',
      labels: { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i', 'io.openshift.s2i.assemble-input-files': '/opt/app/message.txt:app' },
    },
    to: `oci:${layout}:runtime`,
  });
  return { user: `oci:${layout}:user`, root: `oci:${layout}:root`, runtime: `oci:${layout}:runtime` };
}
