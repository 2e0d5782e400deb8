/**
 * The set-up the build benchmarks share: a temp directory, a fresh local registry holding the
 * busybox base image, and the compiled ocibuild runner for the benchmark's child process.
 * @module
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.ts';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../../test/helpers/busybox.ts';
import { nodeRunner, type NodeRunner } from './measure.ts';

/** What {@link benchWorkspace} set up. */
export interface BenchWorkspace {
  /** Temp directory, removed by `close`. */
  tmp: string;
  /** The local registry. */
  registry: TestRegistry;
  /** `HOST/base/busybox:latest` in that registry. */
  from: string;
  /** Runs `entry` compiled (an esbuild bundle under plain node), as users run ocibuild. */
  runner: NodeRunner;
  /** Removes the bundle, stops the registry, deletes the temp directory. */
  close(): Promise<void>;
}

/** Sets up the workspace of benchmark `name` whose child process runs `entry`. */
export async function benchWorkspace(name: string, entry: string): Promise<BenchWorkspace> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), `ocibuild-bench-${name}-`));
  const registry = await startRegistry();
  const runner = await nodeRunner(entry, name);
  const close = async (): Promise<void> => {
    await runner.dispose();
    await registry.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  };
  try {
    const base = await buildBusyboxLayout(path.join(tmp, 'busybox'));
    await pushLayoutToRegistry(base.layoutPath, base.tag, registry.host, 'base/busybox');
    return { tmp, registry, from: `${registry.host}/base/busybox:latest`, runner, close };
  } catch (error) {
    await close();
    throw error;
  }
}
