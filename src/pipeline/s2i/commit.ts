/**
 * Turning what a script changed in a rootfs into the layer s2i would commit: the snapshot
 * difference (RUN's rules: container owners, mtimes clamped to SOURCE_DATE_EPOCH when set).
 * @module
 */
import { buildEncoder } from '../compression.ts';
import type { BuildOptions } from '../index.ts';
import type { PlanContext } from '../plan-files.ts';
import { sourceDateEpochFromEnv } from '../../layer/entries.ts';
import type { BuiltLayer } from '../../layer/types.ts';
import { writeLayer } from '../../layer/write.ts';
import type { HostInfo } from '../../run/host.ts';
import { ensureReadable } from '../../run/readable.ts';
import type { StageRootfs } from '../../run/rootfs.ts';
import type { Snapshot } from '../../run/snapshot.ts';
import { diffSnapshots } from '../../run/snapshot.ts';
import type { Executor } from '../../run/types.ts';

/** Writes the layer of everything that changed in `rootfs` since `before`. */
export async function commitLayer(
  rootfs: StageRootfs,
  before: Snapshot,
  parts: { executor: Executor; host: HostInfo; scratch: string; options: BuildOptions; context: PlanContext },
): Promise<BuiltLayer> {
  const { options, context } = parts;
  const after = await rootfs.takeSnapshot();
  const mapping = (await parts.executor.ownerMapping?.()) ?? { uids: [], gids: [] };
  const epoch = options.sourceDateEpoch ?? sourceDateEpochFromEnv();
  const entries = diffSnapshots(before, after, { mapping, clampMtime: epoch !== undefined ? new Date(epoch * 1000) : undefined });
  await ensureReadable(entries, parts.host, parts.scratch);
  return writeLayer({ entries }, {
    directory: context.workDir,
    sourceDateEpoch: context.created,
    encoder: buildEncoder(options),
    signal: options.signal,
  });
}
