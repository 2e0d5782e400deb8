/**
 * Test helper: a distroless-style Node base image made from this machine's own `node` and
 * the shared libraries it links (no shell, no package manager), as an OCI layout built once
 * per machine under the temp directory; and a runner that lays an app image's own layers
 * over a hard-linked copy of the unpacked base and runs its entrypoint chrooted
 * (`unshare --root --wd`), as a container would start it.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage } from '../../src/index.ts';
import type { LayerEntry } from '../../src/layer/types.ts';
import { readImage, unpackImage } from '../helpers/tree.ts';

const run = promisify(execFile);

/** The base layout. */
export interface NodeBase {
  /** `oci:DIR:base`. */
  ref: string;
  /** Layout directory. */
  layout: string;
  /** Number of layers of the base. */
  layerCount: number;
  /** The base unpacked (for {@link runApp}). */
  rootfs: string;
}

/** Where node sits in the base, as in the official node images. */
export const BASE_NODE = '/usr/local/bin/node';

async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  return [...stdout.matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
}

/** This machine's node at {@link BASE_NODE} and the shared libraries it links, at the paths the loader asks for. */
export async function nodeRuntimeEntries(): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [{ type: 'file', path: BASE_NODE, source: await fs.realpath(process.execPath), mode: 0o755 }];
  const seen = new Set<string>();
  for (const lib of await sharedLibraries(process.execPath)) {
    // Keep the path the loader asks for; merged-/usr hosts reach it through /lib symlinks.
    let wanted = lib;
    for (const top of ['/lib/', '/lib64/']) {
      const link = await fs.readlink(top.slice(0, -1)).catch(() => undefined);
      if (link !== undefined && lib.startsWith(top)) {
        wanted = path.posix.join('/', link, lib.slice(top.length));
        if (!seen.has(top)) entries.push({ type: 'symlink', path: top.slice(0, -1), target: link });
        seen.add(top);
      }
    }
    if (!seen.has(wanted)) entries.push({ type: 'file', path: wanted, source: await fs.realpath(lib), mode: 0o755 });
    seen.add(wanted);
  }
  return entries;
}

let made: Promise<NodeBase> | undefined;

/** Builds (once) the base: node at /usr/local/bin/node, its libraries, /etc/passwd with root and nonroot, PATH set. */
export function nodeBase(): Promise<NodeBase> {
  made ??= (async () => {
    const dir = path.join(os.tmpdir(), `ocibuild-test-node-base-${process.version}-${process.arch}`);
    const layout = path.join(dir, 'layout');
    if (!(await fs.access(path.join(dir, 'ready')).then(() => true, () => false))) {
      const staging = await fs.mkdtemp(`${dir}.tmp-`);
      const [node, ...libraries] = await nodeRuntimeEntries();
      const entries: LayerEntry[] = [
        node as LayerEntry,
        { type: 'file', path: '/etc/passwd', source: new TextEncoder().encode('root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n') },
        { type: 'directory', path: '/tmp', mode: 0o1777 },
        ...libraries,
      ];
      await buildImage({
        from: 'scratch',
        layers: [{ entries, createdBy: 'node and its libraries' }],
        config: { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, entrypoint: [BASE_NODE] },
        platforms: [`linux/${process.arch === 'x64' ? 'amd64' : process.arch}`],
        to: `oci:${path.join(staging, 'layout')}:base`,
        cache: false,
      });
      await unpackImage(path.join(staging, 'layout'), 'base', path.join(staging, 'bundle'));
      await fs.writeFile(path.join(staging, 'ready'), '');
      try {
        await fs.rename(staging, dir);
      } catch {
        await fs.rm(staging, { recursive: true, force: true });
      }
    }
    const { manifest } = await readImage(layout, 'base');
    return { ref: `oci:${layout}:base`, layout, layerCount: manifest.layers.length, rootfs: path.join(dir, 'bundle', 'rootfs') };
  })();
  return made;
}

/** The app image's root filesystem: the base hard-linked, then the app's own layers extracted on top. */
export async function composeRootfs(base: NodeBase, layout: string, tag: string, dest: string, platform?: string): Promise<string> {
  const { manifest } = await readImage(layout, tag, platform);
  await run('cp', ['-al', base.rootfs, dest]);
  for (const layer of manifest.layers.slice(base.layerCount)) {
    await run('tar', ['-xzf', path.join(layout, 'blobs', 'sha256', layer.digest.slice(7)), '-C', dest, '--same-owner', '--no-same-permissions']);
  }
  return dest;
}

/** Runs the image's entrypoint + cmd in `rootfs` with its Env and WorkingDir; returns stdout. */
export async function runApp(rootfs: string, config: Record<string, unknown>, extraArgs: string[] = []): Promise<string> {
  const argv = [...((config.Entrypoint as string[] | undefined) ?? []), ...((config.Cmd as string[] | undefined) ?? []), ...extraArgs];
  const env = Object.fromEntries(((config.Env as string[] | undefined) ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const { stdout } = await run('unshare', ['--root', rootfs, '--wd', (config.WorkingDir as string | undefined) ?? '/', '--', ...argv], { env, timeout: 60_000 });
  return stdout;
}
