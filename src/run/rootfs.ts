/**
 * A stage's live root filesystem: materialised once from the stage's layers and kept across its
 * RUN and COPY steps. A later call with more layers (a COPY's layer, say) applies only the new
 * ones; a RUN's own layer is already on disk and is just marked applied. When the on-disk state
 * cannot be brought forward (another layer list, or a rootless extraction stopped by a directory
 * owned by a subordinate id) the rootfs is rebuilt from scratch: all layers extracted first, then
 * owners applied in one namespace session, as `applyRecordedOwners` requires.
 * @module
 */
import * as fs from 'node:fs/promises';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { extractLayer, type RecordedOwner } from './extract.ts';
import { inspectHost, type HostInfo } from './host.ts';
import { applyRecordedOwners, removeRootfs } from './owners.ts';
import { completeSnapshot } from './readable.ts';
import { takeSnapshot, type Snapshot } from './snapshot.ts';

/** One layer to materialise: a stable key (its digest) and its uncompressed tar. */
export interface RootfsLayer {
  /** Identity of the layer (digest); equal keys mean equal content. */
  key: string;
  /** Opens the layer as an uncompressed tar stream. */
  tar(): Promise<AsyncIterable<Uint8Array>>;
}

/** Options of {@link StageRootfs.sync}. */
export interface SyncOptions {
  /** Stops between layers. */
  signal?: AbortSignal;
  /** Receives extraction warnings (skipped device nodes). */
  onWarning?: (message: string) => void;
}

/** Counters, for tests and benchmarks. */
export interface RootfsStats {
  /** Full materialisations (every layer extracted). */
  rebuilds: number;
  /** Layers applied on top of a live rootfs. */
  incremental: number;
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * The live rootfs of one stage. Not safe for concurrent use: a stage's steps run in order.
 */
export class StageRootfs {
  private applied: string[] = [];
  private exists = false;
  private snapshot: Snapshot | undefined;
  /** What this rootfs has done so far. */
  readonly stats: RootfsStats = { rebuilds: 0, incremental: 0 };

  /**
   * @param dir Host directory for the rootfs (created; must not be shared with anything else).
   * @param host Host facts (root or rootless) deciding how owners are applied.
   */
  constructor(
    readonly dir: string,
    private readonly host: HostInfo = inspectHost(),
  ) {}

  /** Keys of the layers the directory currently holds, bottom first. */
  get layers(): readonly string[] {
    return this.applied;
  }

  /**
   * Brings the directory to exactly `layers` (bottom first): applies the missing top layers when
   * the current ones are a prefix, else rebuilds. Throws `ERR_PATH_ESCAPE`/`ERR_LAYER` for
   * malicious or broken layers (the directory is then removed).
   */
  async sync(layers: readonly RootfsLayer[], options: SyncOptions = {}): Promise<void> {
    const keys = layers.map((l) => l.key);
    const prefix = this.exists && this.applied.length <= keys.length && this.applied.every((k, i) => keys[i] === k);
    if (prefix && this.applied.length === keys.length) return;
    if (prefix) {
      try {
        for (const layer of layers.slice(this.applied.length)) {
          throwIfAborted(options.signal);
          await this.apply(layer, options);
          this.applied.push(layer.key);
          this.stats.incremental++;
        }
        return;
      } catch (error) {
        // A rootless caller cannot write into directories owned by subordinate ids: start over.
        if (!isPermissionError(error)) {
          await this.remove();
          throw error;
        }
      }
    }
    await this.rebuild(layers, options);
  }

  /** Records that `key` (a RUN's layer) now sits on top: its changes are already on disk. */
  markApplied(key: string): void {
    this.applied.push(key);
  }

  /**
   * The snapshot of the current state, taken now or kept from {@link rememberSnapshot} when no
   * layer was applied since. Callers must not change the directory between the two.
   */
  async currentSnapshot(): Promise<Snapshot> {
    return (this.snapshot ??= await this.takeSnapshot());
  }

  /** Takes a snapshot now, including directories only the namespace can list (rootless). */
  async takeSnapshot(): Promise<Snapshot> {
    const snapshot = takeSnapshot(this.dir);
    await completeSnapshot(snapshot, this.host);
    return snapshot;
  }

  /** Keeps `snapshot` (taken after a RUN) as the state the next RUN starts from. */
  rememberSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
  }

  /** Forgets the kept snapshot (the directory changed behind the tracker's back). */
  invalidate(): void {
    this.snapshot = undefined;
  }

  /** Deletes the directory (also files owned by subordinate ids). */
  async remove(): Promise<void> {
    this.exists = false;
    this.applied = [];
    this.snapshot = undefined;
    await removeRootfs(this.dir, this.host);
  }

  private async apply(layer: RootfsLayer, options: SyncOptions): Promise<void> {
    this.snapshot = undefined;
    const owners = new Map<string, RecordedOwner>();
    await extractLayer(this.dir, await layer.tar(), {
      ownership: this.host.root ? 'chown' : 'record',
      owners,
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    await applyRecordedOwners(this.dir, owners, this.host);
  }

  private async rebuild(layers: readonly RootfsLayer[], options: SyncOptions): Promise<void> {
    await this.remove();
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    this.exists = true;
    this.stats.rebuilds++;
    const owners = new Map<string, RecordedOwner>();
    try {
      for (const layer of layers) {
        throwIfAborted(options.signal);
        await extractLayer(this.dir, await layer.tar(), {
          ownership: this.host.root ? 'chown' : 'record',
          owners,
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        });
        this.applied.push(layer.key);
      }
      // Rootless: every file belongs to the caller until now; one session chowns them all.
      await applyRecordedOwners(this.dir, owners, this.host);
    } catch (error) {
      await this.remove();
      if (error instanceof OcibuildError) throw error;
      throw new OcibuildError('ERR_LAYER', `cannot materialise the stage rootfs in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }
}
