/**
 * Runs an image's default command in the RUN sandbox (the way a container runtime would start
 * it: Entrypoint + Cmd, as its User, in its WorkingDir, with its Env) and returns its stdout.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/pipeline/session.ts';
import { resolveBase } from '../../src/pipeline/base.ts';
import { linuxExecutor } from '../../src/run/linux.ts';
import { StageRootfs } from '../../src/run/rootfs.ts';
import { rootfsLayers } from '../../src/pipeline/s2i/sandbox.ts';

/** What the image printed. */
export interface ImageRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Materialises `image` (an `oci:` reference) and runs its Entrypoint + Cmd. */
export async function runImage(image: string): Promise<ImageRun> {
  await using session = createSession();
  const source = session.openSource(image);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-run-'));
  const rootfs = new StageRootfs(path.join(dir, 'rootfs'));
  try {
    const base = await resolveBase(source.transport, source.reference, undefined);
    const config = base.config.config ?? {};
    await rootfs.sync(rootfsLayers(source.transport, base.layers.map((l) => l.descriptor)));
    let stdout = '';
    let stderr = '';
    const result = await linuxExecutor().run({
      rootfs: rootfs.dir,
      argv: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
      env: config.Env ?? [],
      workdir: config.WorkingDir || '/',
      ...(config.User ? { user: config.User } : {}),
      stdout: (c) => (stdout += Buffer.from(c).toString()),
      stderr: (c) => (stderr += Buffer.from(c).toString()),
    });
    return { exitCode: result.exitCode, stdout, stderr };
  } finally {
    await rootfs.remove();
    await source.transport.close?.();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
