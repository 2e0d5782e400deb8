/**
 * A stage's live root filesystem: materialised once from the stage's layers and kept across its
 * RUN and COPY steps. A later call with more layers (a COPY's layer, say) applies only the new
 * ones; a RUN's own layer is already on disk and is just marked applied. When the directory holds
 * layers above the common prefix with the wanted list, they are undone (`undo.ts`) when every one
 * of them only added paths, which is how a tree kept from an earlier build (`rootfs-store.ts`)
 * serves a rebuild after a source change. Otherwise (a lossy layer above the prefix, or a
 * rootless extraction or undo stopped by a directory owned by a subordinate id) the rootfs is
 * rebuilt from scratch: all layers extracted first, then owners applied in one namespace
 * session, as `applyRecordedOwners` requires.
 * @module
 */
import * as fs from 'node:fs/promises';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { extractLayer, type RecordedOwner } from './extract.ts';
import { inspectHost, type HostInfo } from './host.ts';
import { applyRecordedOwners, removeRootfs } from './owners.ts';
import { completeSnapshot } from './readable.ts';
import type { StoredRootfs } from './rootfs-store.ts';
import { takeSnapshot, type Snapshot } from './snapshot.ts';
import { undoLayer, UndoRecorder, type LayerUndo } from './undo.ts';

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
  /** Layers undone to reach a common prefix. */
  undone: number;
}

/** A typed error for a failed materialisation: a layer can make the file system refuse (a name over NAME_MAX, say). */
function layerError(error: unknown, dir: string): OcibuildError {
  if (error instanceof OcibuildError) return error;
  return new OcibuildError('ERR_LAYER', `cannot materialise the stage rootfs in ${dir}: ${(error as Error).message}`, { cause: error });
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
  /** Undo record per applied layer (`null`: that layer cannot be undone). */
  private undo: (LayerUndo | null)[] = [];
  private exists = false;
  /** A RUN changed the tree and did not finish: it matches no layer list. */
  private dirty = false;
  private snapshot: Snapshot | undefined;
  /** What this rootfs has done so far. */
  readonly stats: RootfsStats = { rebuilds: 0, incremental: 0, undone: 0 };

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
    let common = 0;
    while (common < this.applied.length && common < keys.length && this.applied[common] === keys[common]) common++;
    const usable = this.exists && !this.dirty && common > 0 && this.undo.slice(common).every((u) => u !== null);
    if (usable && common === this.applied.length && common === keys.length) return;
    if (usable) {
      try {
        this.rewind(common);
        for (const layer of layers.slice(this.applied.length)) {
          throwIfAborted(options.signal);
          await this.apply(layer, options);
          this.stats.incremental++;
        }
        return;
      } catch (error) {
        // A rootless caller cannot write into directories owned by subordinate ids, and an undo
        // that finds the tree not as recorded gives up: start over from the layers.
        const rebuildable = isPermissionError(error) || (error instanceof OcibuildError && error.code === 'ERR_LAYER' && error.message.startsWith('cannot undo'));
        if (!rebuildable) {
          await this.remove();
          throw layerError(error, this.dir);
        }
      }
    }
    await this.rebuild(layers, options);
  }

  /** Takes over a tree moved into {@link dir} from a store, holding `state`'s layers. */
  adopt(state: StoredRootfs): void {
    this.applied = [...state.chain];
    this.undo = [...state.undo];
    this.exists = true;
    this.dirty = false;
    this.snapshot = undefined;
  }

  /** The state to store the tree under, or undefined when it matches no layer list (a RUN failed in it). */
  storable(): StoredRootfs | undefined {
    if (!this.exists || this.dirty || this.applied.length === 0) return undefined;
    return { chain: [...this.applied], undo: [...this.undo] };
  }

  /** Called before a RUN changes the tree: until {@link markApplied} it matches no layer list. */
  beginRun(): void {
    this.dirty = true;
  }

  /**
   * Records that `key` (a RUN's layer) now sits on top: its changes are already on disk.
   * `undo` says how to take it off again (see `undoFromSnapshots`); null when it cannot be.
   */
  markApplied(key: string, undo: LayerUndo | null = null): void {
    this.applied.push(key);
    this.undo.push(undo);
    this.dirty = false;
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
    this.dirty = false;
    this.applied = [];
    this.undo = [];
    this.snapshot = undefined;
    await removeRootfs(this.dir, this.host);
  }

  /** Undoes the layers above `keep` (all undoable), top first. */
  private rewind(keep: number): void {
    if (this.applied.length > keep) this.snapshot = undefined;
    while (this.applied.length > keep) {
      const undo = this.undo[this.undo.length - 1];
      if (undo === null || undo === undefined) throw new OcibuildError('ERR_LAYER', `cannot undo layer ${this.applied[this.applied.length - 1]} in ${this.dir}`);
      // Popped first: a failure half-way leaves a tree that matches nothing, and the caller rebuilds.
      this.exists = false;
      this.applied.pop();
      this.undo.pop();
      undoLayer(this.dir, undo, this.host.root);
      this.exists = true;
      this.stats.undone++;
    }
  }

  private async apply(layer: RootfsLayer, options: SyncOptions): Promise<void> {
    this.snapshot = undefined;
    const owners = new Map<string, RecordedOwner>();
    const undo = new UndoRecorder(this.dir);
    // Half-applied, the tree matches no layer list until the layer is complete.
    this.dirty = true;
    await extractLayer(this.dir, await layer.tar(), {
      ownership: this.host.root ? 'chown' : 'record',
          idMapping: this.host.root ? this.host.mapping : undefined,
      owners,
      undo,
      onWarning: options.onWarning,
    });
    await applyRecordedOwners(this.dir, owners, this.host);
    this.applied.push(layer.key);
    this.undo.push(undo.result());
    this.dirty = false;
  }

  private async rebuild(layers: readonly RootfsLayer[], options: SyncOptions): Promise<void> {
    await this.remove();
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    // A root caller's steps run as a subordinate id: the root directory belongs to the step's root.
    if (this.host.root && this.host.mapping.uids.length > 0) await fs.chown(this.dir, this.host.mapping.uids[0]?.outside ?? 0, this.host.mapping.gids[0]?.outside ?? 0);
    this.exists = true;
    this.stats.rebuilds++;
    const owners = new Map<string, RecordedOwner>();
    try {
      for (const layer of layers) {
        throwIfAborted(options.signal);
        const undo = new UndoRecorder(this.dir);
        await extractLayer(this.dir, await layer.tar(), {
          ownership: this.host.root ? 'chown' : 'record',
          idMapping: this.host.root ? this.host.mapping : undefined,
          owners,
          undo,
          onWarning: options.onWarning,
        });
        this.applied.push(layer.key);
        this.undo.push(undo.result());
      }
      // Rootless: every file belongs to the caller until now; one session chowns them all.
      await applyRecordedOwners(this.dir, owners, this.host);
    } catch (error) {
      await this.remove();
      throw layerError(error, this.dir);
    }
  }
}
