/**
 * RUN in Dockerfile builds: a {@link RunSession} plugs into the interpreter's `runStep` hook.
 * Per stage it keeps one live rootfs (materialised on the first RUN, brought forward by later
 * COPY layers, handed over to a stage built `FROM` it), runs the command through the executor
 * with the stage's env, WORKDIR, USER and the step's `--mount`/`--network` flags, and turns the
 * snapshot difference into a layer (an empty one when nothing changed). Mount targets, secrets and the
 * sandbox's /dev, /proc, /sys never reach a layer; with SOURCE_DATE_EPOCH the mtimes are clamped
 * so the layer is reproducible.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { DockerfileError, OcibuildError, UnsupportedError } from '../errors.ts';
import type { BuiltLayer, LayerSpec } from '../layer/types.ts';
import { defaultRunCacheDir, parseMountFlag, parseNetworkFlag, prepareMounts, type RunMountSpec, type SecretSource } from '../run/mounts.ts';
import { inspectHost, type HostInfo } from '../run/host.ts';
import { removeRootfs } from '../run/owners.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import { StageRootfs, type RootfsLayer } from '../run/rootfs.ts';
import { RootfsStore } from '../run/rootfs-store.ts';
import { diffSnapshots } from '../run/snapshot.ts';
import { undoFromSnapshots } from '../run/undo.ts';
import { defaultCacheDir } from '../blob/dirs.ts';
import type { Executor, Mount, OutputSink } from '../run/types.ts';
import type { RunInstruction, Instruction } from './instructions.ts';
import { layerTar, type LayerRef } from './interpret-fs.ts';
import type { InterpreterHost, StageState } from './interpret-state.ts';
import { expansionEnv } from './interpret-state.ts';
import { redactSecrets, runCommand, runEnvironment, summarizeCommand } from './run-command.ts';
import { ensureReadable } from '../run/readable.ts';
import { expandAt, type ResolvedStage, type StageGraph } from './stages.ts';
import { observeRunStep, stepSecretValues, type RunEvent } from './run-events.ts';

/** Options of {@link RunSession}. */
export interface RunSessionOptions {
  /** The executor (e.g. `linuxExecutor()`). */
  executor: Executor;
  /** Directory for the stage rootfs directories and per-step scratch files. */
  workDir: string;
  /** Secrets for `--mount=type=secret`, by id. */
  secrets?: Readonly<Record<string, SecretSource>>;
  /** Agent sockets for `--mount=type=ssh`, by id (see `resolveSshAgents` in run/ssh.ts). */
  ssh?: Readonly<Record<string, string>>;
  /** Extra `/etc/hosts` entries of every step, name to IP (`--add-host`). */
  extraHosts?: Readonly<Record<string, string>>;
  /** Root of the persistent `--mount=type=cache` directories. Default {@link defaultRunCacheDir}. */
  cacheDir?: string;
  /** Creation time in seconds: RUN layer mtimes are clamped to it. Unset: mtimes kept. */
  sourceDateEpoch?: number;
  /** Writes a layer (the interpreter host's writer). */
  writeLayer: (spec: LayerSpec) => Promise<BuiltLayer>;
  /** Opens a `--mount=type=bind,from=IMAGE` image's layers. */
  imageLayers?: (reference: string) => Promise<readonly LayerRef[]>;
  /** Stage names (lower-case) to indexes, for `--mount=...,from=STAGE`. */
  stageNames?: ReadonlyMap<string, number>;
  /** The directory of a named directory build context, for `--mount=...,from=NAME`. */
  namedContextDir?: (name: string) => string | undefined;
  /** Receives the command's stdout. */
  stdout?: OutputSink;
  /** Receives the command's stderr. */
  stderr?: OutputSink;
  /** Receives warnings (skipped device nodes in base layers). */
  onWarning?: (message: string) => void;
  /** Aborts the running step. */
  signal?: AbortSignal;
  /** Keeps stage root filesystems between builds (moved in at {@link RunSession.close}, taken back by the next build). */
  rootfsStore?: RootfsStore;
  /** Receives each step's start, live output and end. */
  onEvent?: (event: RunEvent) => void;
  /** The stage graph, for BuildKit-style `[2/5]` step names in events. */
  graph?: StageGraph;
  /** Name steps with their platform (`[linux/arm64 2/5] RUN make`), as in a multi-platform build. */
  stepPlatform?: boolean;
}

/** Tells whether any stage the target needs contains RUN (directly or as a stage base's ONBUILD trigger). */
export function graphNeedsRun(graph: StageGraph): boolean {
  const isRun = (i: Instruction): boolean => i.kind === 'run';
  for (const index of graph.order) {
    const stage = graph.stages[index] as ResolvedStage;
    if (stage.instructions.some(isRun)) return true;
    if (stage.base.kind === 'stage') {
      const base = graph.stages[stage.base.index] as ResolvedStage;
      if (base.instructions.some((i) => i.kind === 'onbuild' && isRun(i.trigger))) return true;
    }
  }
  return false;
}

/** Probes `executor`; throws {@link UnsupportedError} with the reason and the hint when it cannot run here. */
export async function assertExecutorUsable(executor: Executor): Promise<void> {
  const status = await executor.probe();
  if (!status.ok) throw new UnsupportedError(`RUN cannot be executed on this machine: ${status.reason}; ${status.hint}`);
}

function rootfsLayer(ref: LayerRef): RootfsLayer {
  return { key: ref.key, tar: () => layerTar(ref) };
}

/** One flag value list (`--network` may only be given once). */
function single(flags: Record<string, string[]>, name: string): string | undefined {
  return flags[name]?.[flags[name].length - 1];
}

/**
 * Runs the RUN steps of one build (one platform). Call {@link runStep} from the interpreter and
 * {@link close} when the build is over: it removes every rootfs (also files owned by
 * subordinate ids, which a plain `rm -rf` of the work directory could not delete).
 */
export class RunSession {
  private readonly byStage = new Map<number, StageRootfs>();
  private readonly pool: StageRootfs[] = [];
  private readonly mountRoots = new Map<string, StageRootfs>();
  private readonly host: HostInfo = inspectHost();
  private counter = 0;
  private probed = false;
  private liveDir: Promise<string> | undefined;
  /** The empty layer, written once per session and shared by every RUN that changes nothing. */
  private emptyLayer: Promise<BuiltLayer> | undefined;

  constructor(private readonly options: RunSessionOptions) {}

  /** Every rootfs created so far (for tests and statistics). */
  get rootfsList(): readonly StageRootfs[] {
    return [...this.pool, ...this.mountRoots.values()];
  }

  /** The interpreter hook: runs `instruction` in `state`'s stage and returns its layer (or undefined). */
  readonly runStep = async (
    state: StageState,
    instruction: RunInstruction,
    stageLayers?: (index: number) => readonly LayerRef[] | undefined,
  ): Promise<BuiltLayer | undefined> => {
    const { location } = instruction;
    if (!this.probed) {
      await assertExecutorUsable(this.options.executor);
      this.probed = true;
    }
    const config = state.config.config ?? {};
    const workdir = config.WorkingDir || '/';
    const env = expansionEnv(state);
    const expand = (word: string): string => expandAt(word, env, state.host.escape, location);
    let specs: RunMountSpec[];
    let network: ReturnType<typeof parseNetworkFlag>;
    try {
      specs = (instruction.flags.mount ?? []).map((m) => parseMountFlag(m, workdir, expand));
      network = parseNetworkFlag(single(instruction.flags, 'network'));
      const security = single(instruction.flags, 'security');
      if (security !== undefined && security !== 'sandbox') throw new UnsupportedError(`RUN --security=${security} is not supported`);
    } catch (error) {
      if (error instanceof OcibuildError && !(error instanceof DockerfileError)) throw new DockerfileError(location, error.message, { cause: error });
      throw error;
    }
    const command = runCommand({ args: instruction.args, json: instruction.json, heredocs: instruction.heredocs, shell: config.Shell });
    const rootfs = await this.rootfsFor(state);
    await rootfs.sync(state.fs.layers.map(rootfsLayer), this.syncOptions());
    const scratch = await fs.mkdtemp(path.join(this.options.workDir, 'run-step-'));
    const prepared = await prepareMounts(specs, {
      contextDir: state.host.contextDir,
      cacheDir: this.options.cacheDir ?? defaultRunCacheDir(),
      scratch,
      secrets: this.options.secrets ?? {},
      ssh: this.options.ssh,
      rootfsOf: (from) => this.mountRootfs(from, location, state.index, stageLayers),
    }).catch((error: unknown) => {
      throw error instanceof OcibuildError && !(error instanceof DockerfileError) ? new DockerfileError(location, error.message, { cause: error }) : error;
    });
    try {
      const mounts: Mount[] = [...prepared.mounts];
      if (command.script !== undefined) {
        const file = path.join(scratch, 'heredoc-script');
        await fs.writeFile(file, command.script.content, { mode: 0o755 });
        await fs.chmod(file, 0o755);
        mounts.push({ type: 'bind', source: file, target: command.script.path, readonly: true });
      }
      const secretValues = await stepSecretValues(prepared.env, prepared.mounts);
      const before = await rootfs.currentSnapshot();
      rootfs.beginRun();
      const sinks = { stdout: this.options.stdout, stderr: this.options.stderr };
      const observer = this.options.onEvent
        ? observeRunStep(this.options.onEvent, this.options.graph, state, instruction, sinks, secretValues, this.options.stepPlatform ?? false)
        : undefined;
      const stepEnv = [...runEnvironment(config.Env, state.args, state.host.buildArgs), ...prepared.env];
      // As BuildKit: SSH_AUTH_SOCK names the first ssh mount unless the step's env already sets it.
      if (prepared.sshAuthSock !== undefined && !stepEnv.some((e) => e.startsWith('SSH_AUTH_SOCK='))) stepEnv.push(`SSH_AUTH_SOCK=${prepared.sshAuthSock}`);
      const result = await this.options.executor.run({
        rootfs: rootfs.dir,
        argv: command.argv,
        env: stepEnv,
        workdir,
        user: config.User,
        network,
        // BuildKit reads the step's hostname from this build arg (its testDockerfileCheckHostname).
        ...(state.host.buildArgs['BUILDKIT_SANDBOX_HOSTNAME'] ? { hostname: state.host.buildArgs['BUILDKIT_SANDBOX_HOSTNAME'] } : {}),
        ...(this.options.extraHosts !== undefined ? { extraHosts: this.options.extraHosts } : {}),
        mounts,
        signal: this.options.signal,
        ...(observer ? { stdout: observer.stdout, stderr: observer.stderr } : sinks),
      }).catch((error: unknown) => {
        observer?.end({ error });
        // A sandbox error quotes the step's stderr: the step's secrets never reach a message.
        const message = error instanceof OcibuildError && secretValues.length > 0 ? redactSecrets(error.message, secretValues) : (error as Error).message;
        // The step could not start (no shell in the image, a missing program, a user that is
        // not there): the error names the Dockerfile line, as BuildKit's do (testErrorsSourceMap).
        if (error instanceof OcibuildError && error.code === 'ERR_RUN') {
          const missing = /execvp (\S+): No such file or directory/.exec(message)?.[1];
          const what = missing !== undefined ? `${missing} is not in the image` : message;
          throw new DockerfileError(location, `RUN ${summarizeCommand(command.argv)} could not start: ${what}`, { cause: error });
        }
        if (error instanceof OcibuildError && secretValues.length > 0) throw new OcibuildError(error.code, message, { cause: error.cause });
        throw error;
      });
      observer?.end({ exitCode: result.exitCode, argv: command.argv });
      if (result.exitCode !== 0) {
        const tail = redactSecrets(result.stderrTail, secretValues).trim().split('\n').slice(-5).join('\n');
        throw new DockerfileError(
          location,
          `RUN ${summarizeCommand(command.argv)} did not complete successfully: exit code ${result.exitCode}${tail ? `\n${tail}` : ''}`,
        );
      }
      const after = await rootfs.takeSnapshot();
      rootfs.rememberSnapshot(after);
      const mapping = (await this.options.executor.ownerMapping?.()) ?? { uids: [], gids: [] };
      const clamp = this.options.sourceDateEpoch;
      const entries = diffSnapshots(before, after, { mapping, clampMtime: clamp !== undefined ? new Date(clamp * 1000) : undefined });
      // A RUN that changed nothing still commits a layer, an empty one, as BuildKit's does (its
      // testExportedHistory: `RUN ["ls"]` is a history entry with a layer and a diff_id).
      let layer: BuiltLayer;
      if (entries.length === 0) {
        const empty = (this.emptyLayer ??= this.options.writeLayer({ entries: [] }));
        // A failed write is not kept for the next RUN.
        layer = await empty.catch((error: unknown) => {
          this.emptyLayer = undefined;
          throw error;
        });
      } else {
        await ensureReadable(entries, this.host, scratch);
        layer = await this.options.writeLayer({ entries });
      }
      rootfs.markApplied(layer.descriptor.digest, undoFromSnapshots(before, after));
      return layer;
    } catch (error) {
      // A failed step leaves the rootfs in an unknown state: the next use rebuilds it.
      if (!(error instanceof DockerfileError)) rootfs.invalidate();
      throw error;
    } finally {
      await prepared.release();
      // Private caches and rw bind copies may hold files of subordinate ids: remove inside the namespace if needed.
      await removeRootfs(scratch, this.host).catch(() => {});
    }
  };

  /** Records that the executor was already probed (by {@link createRunSession}). */
  markProbed(): void {
    this.probed = true;
  }

  /**
   * Removes every rootfs this session created; with a {@link RunSessionOptions.rootfsStore}, stage
   * trees that match their layer list are moved into the store for the next build instead.
   */
  async close(): Promise<void> {
    const store = this.options.rootfsStore;
    const stages = [...this.pool];
    const mounts = [...this.mountRoots.values()];
    this.pool.length = 0;
    this.mountRoots.clear();
    this.byStage.clear();
    for (const r of stages) {
      const state = store !== undefined ? r.storable() : undefined;
      if (store !== undefined && state !== undefined) await store.put(r.dir, state);
      else await r.remove();
    }
    for (const r of mounts) await r.remove();
    if (this.liveDir !== undefined) await removeRootfs(await this.liveDir, this.host).catch(() => {});
  }

  private syncOptions(): { signal?: AbortSignal; onWarning?: (m: string) => void } {
    return { signal: this.options.signal, onWarning: this.options.onWarning };
  }

  private async newRootfs(kind: string): Promise<StageRootfs> {
    const store = this.options.rootfsStore;
    // With a store, trees live on its filesystem so that moving them in and out is a rename.
    const base = store !== undefined ? await (this.liveDir ??= store.liveDir()) : this.options.workDir;
    return new StageRootfs(path.join(base, `rootfs-${kind}-${this.counter++}`), this.host);
  }

  /**
   * The stage's rootfs: its own, else one a finished stage left whose layers are a prefix of
   * this stage's (a stage built `FROM` another continues in its directory), else a new one.
   */
  private async rootfsFor(state: StageState): Promise<StageRootfs> {
    const own = this.byStage.get(state.index);
    if (own !== undefined) return own;
    const keys = state.fs.layers.map((l) => l.key);
    let best: StageRootfs | undefined;
    for (const r of this.pool) {
      const applied = r.layers;
      if (applied.length > keys.length || !applied.every((k, i) => keys[i] === k)) continue;
      if (best === undefined || applied.length > best.layers.length) best = r;
    }
    let chosen = best;
    if (chosen === undefined) {
      chosen = await this.newRootfs(`stage${state.index}`);
      this.pool.push(chosen);
      // A tree an earlier build left keeps what it shares with this stage's layers.
      const taken = await this.options.rootfsStore?.take(keys, chosen.dir);
      if (taken !== undefined) chosen.adopt(taken);
    }
    for (const [stage, r] of this.byStage) if (r === chosen) this.byStage.delete(stage);
    this.byStage.set(state.index, chosen);
    return chosen;
  }

  /** A read-only rootfs of a stage or image named by `--mount=...,from=`. */
  private async mountRootfs(
    from: string,
    location: RunInstruction['location'],
    current: number,
    stageLayers: ((index: number) => readonly LayerRef[] | undefined) | undefined,
  ): Promise<string> {
    const index = /^\d+$/.test(from) ? Number(from) : this.options.stageNames?.get(from.toLowerCase());
    // A named directory context is mounted as it is (read-only unless rw; BuildKit mounts its snapshot).
    const contextDir = index === undefined ? this.options.namedContextDir?.(from) : undefined;
    if (contextDir !== undefined) return contextDir;
    let layers: readonly LayerRef[] | undefined;
    if (index !== undefined) {
      if (index >= current) throw new DockerfileError(location, `--mount from=${from}: a stage can only mount an earlier stage`);
      layers = stageLayers?.(index);
      if (layers === undefined) throw new DockerfileError(location, `--mount from=${from}: that stage was not built (only stages the target needs through FROM or COPY --from are built)`);
    } else {
      if (this.options.imageLayers === undefined) throw new DockerfileError(location, `--mount from=${from}: no such stage`);
      layers = await this.options.imageLayers(from);
    }
    const key = layers.map((l) => l.key).join(',');
    let r = this.mountRoots.get(key);
    if (r === undefined) {
      r = await this.newRootfs('mount');
      this.mountRoots.set(key, r);
    }
    await r.sync(layers.map(rootfsLayer), this.syncOptions());
    return r.dir;
  }
}

/** Build options RUN reads (a subset of `BuildOptions`). */
export interface RunBuildOptions {
  /** The RUN executor; the pipeline passes its default (`linuxExecutor()`): the interpreter never picks one. */
  executor?: Executor;
  /** Secrets for `RUN --mount=type=secret`, by id. */
  secrets?: Readonly<Record<string, SecretSource>>;
  /** Agent sockets for `RUN --mount=type=ssh`, by id (already resolved: the build starts and stops private agents). */
  sshSockets?: Readonly<Record<string, string>>;
  /** Extra `/etc/hosts` entries of every RUN, name to IP, as `docker build --add-host`. */
  addHosts?: Readonly<Record<string, string>>;
  /** The build cache; its `dir` also holds `run-cache/`. */
  cache?: { dir?: string } | false;
  /** SOURCE_DATE_EPOCH override in seconds. */
  sourceDateEpoch?: number;
  /** Keep the mtimes RUN writes instead of clamping them to the creation time. */
  keepRunMtimes?: boolean;
  /** Aborts the build. */
  signal?: AbortSignal;
  /** Receives each RUN step's start, live output and end. */
  onEvent?: (event: RunEvent) => void;
  /** Name steps with their platform (`[linux/arm64 2/5] RUN make`): a multi-platform build. */
  stepPlatform?: boolean;
}

/**
 * The store of stage root filesystems kept between builds: on whenever the step cache is (the
 * build has a local cache directory), in `DIR/rootfs/`, keeping `OCIBUILD_ROOTFS_KEEP` trees
 * (default 4; 0 turns it off).
 */
function rootfsStoreFor(options: RunBuildOptions, host: InterpreterHost): RootfsStore | undefined {
  if (options.cache === false || host.steps === undefined) return undefined;
  const keepText = process.env.OCIBUILD_ROOTFS_KEEP;
  const keep = keepText !== undefined && /^\d+$/.test(keepText) ? Number(keepText) : 4;
  if (keep === 0) return undefined;
  return new RootfsStore({ dir: path.join(defaultCacheDir(options.cache ?? {}), 'rootfs'), host: inspectHost(), keep });
}

/**
 * Creates the RUN session of one platform's Dockerfile build. When a stage the target needs
 * contains RUN, the executor is probed first, so an unusable machine fails before any work
 * with an {@link UnsupportedError} that says why and what to enable; without RUN nothing is probed.
 */
export async function createRunSession(
  options: RunBuildOptions & { executor: Executor },
  host: InterpreterHost,
  graph: StageGraph,
): Promise<RunSession> {
  const executor = options.executor;
  const probed = graphNeedsRun(graph);
  if (probed) await assertExecutorUsable(executor);
  const names = new Map<string, number>();
  for (const stage of graph.stages) if (stage.name !== undefined) names.set(stage.name, stage.index);
  const cacheRoot = options.cache !== false && options.cache?.dir !== undefined ? path.join(options.cache.dir, 'run-cache') : defaultRunCacheDir();
  // Clamped to the build's creation time (as buildImage computes it) unless asked not to: RUN
  // layers are then reproducible without SOURCE_DATE_EPOCH, as with BuildKit's rewrite-timestamp.
  const epoch = options.keepRunMtimes === true ? undefined : (options.sourceDateEpoch ?? sourceDateEpochFromEnv() ?? 0);
  const rootfsStore = probed ? rootfsStoreFor(options, host) : undefined;
  const session = new RunSession({
    executor,
    workDir: host.workDir,
    cacheDir: cacheRoot,
    writeLayer: (spec) => host.writeLayer(spec),
    imageLayers: async (reference) => (await host.openImage(reference, host.platform)).layers,
    stageNames: names,
    namedContextDir: (name) => {
      const named = host.namedContext?.(name);
      return named?.kind === 'dir' ? named.dir : undefined;
    },
    secrets: options.secrets,
    ssh: options.sshSockets,
    ...(options.addHosts !== undefined ? { extraHosts: options.addHosts } : {}),
    sourceDateEpoch: epoch,
    signal: options.signal,
    rootfsStore,
    onEvent: options.onEvent,
    graph,
    stepPlatform: options.stepPlatform,
  });
  if (probed) session.markProbed();
  return session;
}
