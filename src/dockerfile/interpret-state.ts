/**
 * The state the interpreter carries through a stage (config, args, layers, file system view)
 * and the host services it needs (layer writing, image opening, the build context). RUN can be
 * plugged in through {@link InterpreterHost.runStep}: the stage's files are available lazily
 * through `fs`, so a RUN executor materialises a rootfs only when a RUN actually runs.
 * @module
 */

import { DockerfileError, LimitExceededError, type DockerfileLocation } from '../errors.ts';
import { mergeEnv } from '../oci/config.ts';
import type { ImageConfig, Platform } from '../oci/types.ts';
import type { Image } from '../image/model.ts';
import type { BuildStep } from '../image/mutate.ts';
import type { BuiltLayer, LayerSpec } from '../layer/types.ts';
import type { EscapeToken } from './ast.ts';
import type { IgnoreMatcher } from './ignore.ts';
import type { LayerIndexCache, LayerRef, StageFilesystem } from './interpret-fs.ts';
import type { Instruction, RunInstruction } from './instructions.ts';
import type { BlobOrigin } from '../transports/types.ts';
import type { NamedContext } from './contexts.ts';

/** An image a stage starts from (or a `COPY --from` reads): its config and layers. */
export interface BaseImage {
  /** The image config. */
  config: ImageConfig;
  /** Its layers, bottom first. */
  layers: LayerRef[];
  /**
   * The image itself (the empty image for scratch): the build assembles the final stage's image
   * on top of it. Undefined only for the keying placeholder of a directory context.
   */
  image: Image | undefined;
  /** The base's name and what it resolved to, for the base annotations; undefined for scratch and directory contexts. */
  origin?: { name: string; digest: string };
  /** Digest of the platform manifest (undefined for scratch): the root of step cache keys. */
  digest?: string;
}

/** What the plan phase tells {@link StepHooks.plan} besides the instruction. */
export interface StepPlanContext {
  /** History text of a config-only step, after it was applied. */
  createdBy?: string;
  /** Where a `COPY --from` reads: an earlier stage or an image. */
  copyFrom?: { stage: number } | { image: BaseImage };
  /** Stage index of a stage name (or number) for `RUN --mount=from=`. */
  stageIndex(name: string): number | undefined;
}

/**
 * Step cache hooks. The interpreter walks the stages twice: a plan phase (config-only steps
 * applied, nothing else done) that lets the hooks compute every step key up front, then the
 * build phase, where each layer-producing step (RUN, COPY, ADD, WORKDIR) goes through
 * {@link StepHooks.step}, which either applies a cached result or calls `execute`.
 */
export interface StepHooks {
  /** Plan phase: a stage starts, from `parent` (a stage) or `base` (an image or scratch). */
  enterStage(state: StageState, parent: StageState | undefined, base: BaseImage | undefined): void;
  /** Plan phase: one step (config-only steps after they were applied). */
  plan(state: StageState, ordinal: number, instruction: Instruction, context: StepPlanContext): Promise<void>;
  /** Plan phase over: every key is known, lookups may start. */
  planned(): void;
  /** Build phase: runs a layer-producing step through the cache; `execute` runs it for real. */
  step(state: StageState, ordinal: number, instruction: Instruction, execute: () => Promise<void>): Promise<void>;
}

/** Services and inputs of the interpreter, shared by every stage of one platform. */
export interface InterpreterHost {
  /** Dockerfile name for errors. */
  file: string;
  /** Escape character for word expansion. */
  escape: EscapeToken;
  /** Absolute build context directory. */
  contextDir: string;
  /** `.dockerignore` matcher for the context, if any. */
  ignore: IgnoreMatcher | undefined;
  /** Directory for temporary files (extracted content, downloads, layers). */
  workDir: string;
  /** Creation time in seconds (layer mtimes of new entries). */
  created: number;
  /** Global ARG values including the predefined ones. */
  globalArgs: ReadonlyMap<string, string>;
  /** `--build-arg` values. */
  buildArgs: Readonly<Record<string, string>>;
  /** The platform being built. */
  platform: Platform;
  /** Shared layer index cache. */
  cache: LayerIndexCache;
  /** Writes one layer. */
  writeLayer(spec: LayerSpec): Promise<BuiltLayer>;
  /** Opens an image (FROM or COPY --from) for `platform`, reading metadata only. */
  openImage(reference: string, platform: Platform): Promise<BaseImage>;
  /** The empty base for `FROM scratch`. */
  scratch(platform: Platform): BaseImage;
  /**
   * Fetches a commit of a git repository for `ADD` of a git URL and returns the checkout
   * directory (under `workDir`; `.git` kept only with `keepGitDir`). Absent: git sources are
   * refused.
   */
  fetchGit?(request: { remote: string; ref: string | undefined; commit?: boolean; checksum?: string; keepGitDir: boolean; submodules?: boolean }): Promise<string>;
  /** Named build contexts: what a name that is not a stage refers to, if any (`openImage` maps image contexts itself). */
  namedContext?(name: string): NamedContext | undefined;
  /**
   * Runs a RUN instruction and returns the layer it produced (or undefined for no change).
   * Absent: RUN is unsupported and rejected before any work starts.
   */
  runStep?: (state: StageState, instruction: RunInstruction, stageLayers?: (index: number) => readonly LayerRef[] | undefined) => Promise<BuiltLayer | undefined>;
  /** Abort signal. */
  signal?: AbortSignal;
  /** Reports a layer written (or, with `cached`, taken from the step cache). */
  onLayer?: (layer: BuiltLayer, createdBy: string, cached?: boolean) => void;
  /** Step cache hooks; absent: every step runs. */
  steps?: StepHooks;
}

/** A stage in progress. */
export interface StageState {
  /** Stage index in the file. */
  index: number;
  /** Stage name, if any. */
  name: string | undefined;
  /** The services. */
  host: InterpreterHost;
  /** The config being edited (rootfs and history still those of the root base). */
  config: ImageConfig;
  /** The root base image (scratch or an image) the stage chain starts from. */
  root: BaseImage;
  /** History steps since the root base. */
  steps: BuildStep[];
  /** The merged file system so far. */
  fs: StageFilesystem;
  /** ARGs in scope (declared in this stage or an ancestor stage). */
  args: Map<string, string>;
  /** True once CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** The stage's platform. */
  platform: Platform;
}

/** Splits `KEY=value` (a bare `KEY` has an empty value). */
function splitEnv(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/**
 * The ARGs in scope of a stage: a Map that counts its changes, so the expansion environment
 * built from it can be kept between instructions and rebuilt only when something else changed it.
 */
export class ArgScope extends Map<string, string> {
  /** Bumped by every change. */
  version = 0;
  override set(key: string, value: string): this {
    this.version = (this.version || 0) + 1; // also called by the Map constructor, before the field exists
    return super.set(key, value);
  }
  override delete(key: string): boolean {
    this.version++;
    return super.delete(key);
  }
  override clear(): void {
    this.version++;
    super.clear();
  }
}

/**
 * The expansion environment of a stage, kept up to date by {@link setEnv} and {@link setArg}
 * in O(1) per change: rebuilding it from the whole `Env` list at every instruction made 20,000
 * `ENV` lines take minutes (quadratic). Valid while `Env` is the array it was built from with
 * the length it had, and the ARGs are the same {@link ArgScope} at the expected version.
 */
interface EnvCache {
  env: string[] | undefined;
  envLength: number;
  args: Map<string, string>;
  argsVersion: number;
  /** Indexes of each key in `Env` (a base may list a key twice). */
  positions: Map<string, number[]>;
  /** ARGs overridden by ENV: what expansion sees. */
  merged: Map<string, string>;
}

const envCaches = new WeakMap<StageState, EnvCache>();

function argsVersion(args: Map<string, string>): number {
  return args instanceof ArgScope ? args.version : -1;
}

function validCache(state: StageState): EnvCache | undefined {
  const cache = envCaches.get(state);
  const env = state.config.config?.Env;
  if (cache === undefined || cache.env !== env || cache.envLength !== (env?.length ?? 0)) return undefined;
  if (cache.args !== state.args || !(state.args instanceof ArgScope) || cache.argsVersion !== state.args.version) return undefined;
  return cache;
}

function buildCache(state: StageState): EnvCache {
  const env = state.config.config?.Env;
  const positions = new Map<string, number[]>();
  const merged = new Map(state.args);
  (env ?? []).forEach((entry, i) => {
    const [k, v] = splitEnv(entry);
    merged.set(k, v);
    const list = positions.get(k);
    if (list === undefined) positions.set(k, [i]);
    else list.push(i);
  });
  const cache = { env, envLength: env?.length ?? 0, args: state.args, argsVersion: argsVersion(state.args), positions, merged };
  envCaches.set(state, cache);
  return cache;
}

/**
 * The variables visible to word expansion: ARGs in scope, overridden by the config's ENV.
 * The map is shared between calls and kept current by {@link setEnv} and {@link setArg}: the
 * caller MUST NOT change it, and MUST finish expanding what one instruction needs before that
 * instruction changes ENV or ARGs (an `ENV a=1 b=$a` expands both pairs first).
 */
export function expansionEnv(state: StageState): Map<string, string> {
  return (validCache(state) ?? buildCache(state)).merged;
}

/** Sets one environment variable in the config (replacing in place, as BuildKit's addEnv does). */
export function setEnv(state: StageState, key: string, value: string): void {
  state.config.config ??= {};
  const cache = validCache(state);
  if (cache === undefined || cache.env === undefined || key === '' || key.includes('=')) {
    // mergeEnv also refuses the invalid keys.
    state.config.config.Env = mergeEnv(state.config.config.Env, [`${key}=${value}`]);
    return;
  }
  // Same result as mergeEnv (every entry with the key replaced, else appended), in O(1).
  const env = cache.env;
  const entry = `${key}=${value}`;
  const at = cache.positions.get(key);
  if (at === undefined) {
    cache.positions.set(key, [env.length]);
    env.push(entry);
  } else {
    for (const i of at) env[i] = entry;
  }
  cache.envLength = env.length;
  cache.merged.set(key, value);
}

/** Sets (`value` defined) or removes an ARG in scope, keeping {@link expansionEnv} current. */
export function setArg(state: StageState, name: string, value: string | undefined): void {
  const cache = validCache(state);
  if (value === undefined) state.args.delete(name);
  else state.args.set(name, value);
  if (cache === undefined) return;
  cache.argsVersion = argsVersion(state.args);
  // ENV wins over ARG: only a name the config's Env lacks changes what expansion sees.
  if (cache.positions.has(name)) return;
  if (value === undefined) cache.merged.delete(name);
  else cache.merged.set(name, value);
}

/**
 * Most characters of ENV, LABEL and ARG text a stage may hold, counted as each instruction sets
 * them (a replaced value still counts) on top of what its config and ARGs held when it started.
 * One expansion is bounded by itself (1 MiB); this bounds the sum, so 20,000 lines that each
 * reference one big value cannot build a config no registry (and no ocibuild, `maxConfigBytes`)
 * would take, nor exhaust memory when it is serialised. Equal to the registry client's default
 * config bound.
 */
export const MAX_STAGE_METADATA_LENGTH = 32 * 1024 * 1024;

const metadataLength = new WeakMap<StageState, number>();

function startingMetadata(state: StageState): number {
  let total = 0;
  for (const entry of state.config.config?.Env ?? []) total += entry.length;
  for (const [k, v] of Object.entries(state.config.config?.Labels ?? {})) total += k.length + v.length;
  for (const [k, v] of state.args) total += k.length + v.length;
  return total;
}

/**
 * Counts `added` characters of ENV/LABEL/ARG text against {@link MAX_STAGE_METADATA_LENGTH};
 * throws a {@link DockerfileError} at `location`, caused by a `LimitExceededError`
 * (`maxStageMetadataLength`), when the stage passes it.
 */
export function chargeMetadata(state: StageState, added: number, location: DockerfileLocation): void {
  const total = (metadataLength.get(state) ?? startingMetadata(state)) + added;
  if (total > MAX_STAGE_METADATA_LENGTH) {
    const message = `ENV, LABEL and ARG values of this stage pass ${MAX_STAGE_METADATA_LENGTH} characters (limit maxStageMetadataLength)`;
    throw new DockerfileError(location, message, { cause: new LimitExceededError('maxStageMetadataLength', MAX_STAGE_METADATA_LENGTH, message) });
  }
  metadataLength.set(state, total);
}

/** Appends a written (or cached) layer to the stage: history step and file system view. */
export function addLayer(state: StageState, layer: BuiltLayer, createdBy: string, cache?: { cached: boolean; origin?: BlobOrigin }): void {
  state.steps.push({ layer, createdBy, ...(cache?.cached ? { cached: true } : {}), ...(cache?.origin ? { origin: cache.origin } : {}) });
  state.fs = state.fs.append({ key: layer.descriptor.digest, mediaType: layer.descriptor.mediaType, diffId: layer.diffId, open: async () => layer.open() });
  state.host.onLayer?.(layer, createdBy, cache?.cached ?? false);
}
