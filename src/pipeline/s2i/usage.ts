/**
 * `s2i usage`: runs the builder's `usage` script (from `--scripts-url`, else the builder's
 * scripts location) and passes its output on. Nothing is built or written.
 * @module
 */
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TransportOptions } from '../targets.ts';
import { withSession, type Session } from '../session.ts';
import { resolveBase } from '../base.ts';
import { hostPlatform } from '../../oci/platform.ts';
import { assertExecutorUsable } from '../../dockerfile/run-step.ts';
import { inspectHost } from '../../run/host.ts';
import { linuxExecutor } from '../../run/linux.ts';
import { removeRootfs } from '../../run/owners.ts';
import { StageRootfs } from '../../run/rootfs.ts';
import type { Executor, OutputSink } from '../../run/types.ts';
import { destinationOf, inImage } from './builder.ts';
import { mergeEnv } from './environment.ts';
import { rootfsLayers, runScript } from './sandbox.ts';
import { locateScripts, scriptPath } from './scripts.ts';
import { writeUpload } from './upload.ts';

/**
 * Options of {@link runS2iUsage}.
 * @category S2I
 */
export interface S2iUsageOptions extends TransportOptions {
  /** The builder image. */
  builder: string;
  /** Scripts location overriding the builder's label (`-s`). */
  scriptsUrl?: string;
  /** Where uploaded scripts go (`-d`). */
  destination?: string;
  /** Extra environment (`-e`). */
  env?: Record<string, string>;
  /** The executor (default `linuxExecutor()`). */
  executor?: Executor;
  /** Receives the script's stdout. */
  stdout?: OutputSink;
  /** Receives the script's stderr. */
  stderr?: OutputSink;
  /** Aborts the run. */
  signal?: AbortSignal;
}

/**
 * Runs the builder's `usage` script as the builder's user. Throws an `S2iError` with code
 * `ERR_NOT_FOUND` when the builder has no usage script, `ERR_RUN` when it exits non-zero.
 * @example
 * ```ts
 * import { runS2iUsage } from 'ocibuild';
 *
 * // Runs the builder image's `usage` script, as `s2i usage` does.
 * await runS2iUsage({ builder: 'registry.example/s2i/nodejs:20', stdout: (chunk) => process.stdout.write(chunk) });
 * ```
 * @category S2I
 */
export function runS2iUsage(options: S2iUsageOptions): Promise<void> {
  return withSession(options, (session) => usageIn(session, options));
}

async function usageIn(session: Session, options: S2iUsageOptions): Promise<void> {
  const signal = options.signal ? { signal: options.signal } : {};
  const builder = session.openSource(options.builder);
  const host = inspectHost();
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'ocibuild-s2i-usage-'));
  const rootfs = new StageRootfs(path.join(scratch, 'rootfs'), host);
  try {
    const base = await resolveBase(builder.transport, builder.reference, { os: 'linux', architecture: hostPlatform().architecture }, signal);
    const config = base.config.config ?? {};
    const labels = config.Labels ?? {};
    const destination = destinationOf(options.destination, labels);
    const executor = options.executor ?? linuxExecutor();
    await assertExecutorUsable(executor);
    await rootfs.sync(rootfsLayers(builder.transport, base.layers.map((l) => l.descriptor)), signal);
    const scripts = await locateScripts(
      { scriptsUrl: options.scriptsUrl, labels, env: config.Env ?? undefined, inImage: (p) => inImage(rootfs.dir, p), signal: options.signal },
      ['usage'],
      [],
    );
    const location = scripts.get('usage');
    if (location === undefined) return;
    const uploadDir = path.join(scratch, 'upload');
    await fs.mkdir(uploadDir);
    const uploaded = await writeUpload({ dir: uploadDir, scripts, mtime: 0, signal: options.signal });
    await runScript({
      executor,
      rootfs: rootfs.dir,
      script: 'usage',
      command: scriptPath(scripts, 'usage', destination),
      user: config.User || undefined,
      env: mergeEnv(config.Env ?? undefined, Object.entries(options.env ?? {})),
      workdir: config.WorkingDir || '/',
      destination,
      uploadDir: uploaded ? uploadDir : undefined,
      signal: options.signal,
      stdout: options.stdout,
      stderr: options.stderr,
    });
  } finally {
    await rootfs.remove().catch(() => {});
    await removeRootfs(scratch, host).catch(() => {});
    await builder.transport.close?.();
  }
}
