/**
 * The Dockerfile step cache: plugs into the interpreter's {@link StepHooks}. In the plan phase
 * it keys every step (see `steps-key.ts`); then it looks every layer step up at once (local
 * cache, then the registry cache repo); in the build phase a hit adds the recorded layer and
 * config without running anything (no RUN, no tar, no gzip), a miss runs the step and records
 * the result locally and, in the background, in the cache repo. Corrupt entries (bad record,
 * wrong digest, truncated or missing blob) are misses, never used.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';
import type { BuiltLayer } from '../layer/types.ts';
import type { BlobOrigin } from '../transports/types.ts';
import { Semaphore } from '../blob/semaphore.ts';
import type { Instruction } from '../dockerfile/instructions.ts';
import { addLayer, type BaseImage, type StageState, type StepHooks, type StepPlanContext } from '../dockerfile/interpret-state.ts';
import { FieldHasher } from './field-hasher.ts';
import { explainMiss, rootKey, stepKey, type StepInputs } from './steps-key.ts';
import { FileDigestMemo, memoNameFor } from './steps-sources.ts';
import { copyInputs, metadataInputs, runInputs, UncacheableStep, workdirInputs, type OwnInputs } from './steps-inputs.ts';
import { checkStepRecord, isExpired, STEP_RECORD_SCHEMA, type LocalStepRecord, type StepRecord } from './steps-record.ts';
import type { RegistryStepCache } from './registry-cache.ts';
import type { LocalCache } from './store.ts';

/**
 * Step cache settings of `BuildOptions.cache`.
 * @category Build
 */
export interface StepCacheSettings {
  /** Registry cache repository (`registry.example/team/cache`) shared by machines. */
  repo?: string;
  /** Ignore records older than this: seconds, or a duration (`6h`, `7d`). Default: no limit. */
  ttl?: number | string;
  /** Push step results to `repo` (default true; `--no-push-cache` sets false). */
  push?: boolean;
}

/**
 * What happened to one step.
 * @category Build
 */
export interface StepReport {
  /** Platform built. */
  platform: string;
  /** Stage index. */
  stage: number;
  /** Position of the instruction in its stage (ONBUILD triggers first). */
  step: number;
  /** The instruction as written (shortened). */
  instruction: string;
  /** BuildKit-style name (`[2/5] RUN npm ci`, `[linux/arm64 build 3/4] RUN make`), when the build gives one. */
  name?: string;
  /** The step key, when it has one. */
  key?: string;
  /** `hit` (taken from a cache), `miss` (run and recorded) or `uncached` (run, cannot be cached). */
  status: 'hit' | 'miss' | 'uncached';
  /** Where a hit came from. */
  source?: 'local' | 'registry';
  /** Why it missed (`source app/index.js changed`, `build arg VERSION changed`, `no record for key`) or is uncached. */
  reason?: string;
}

/** Options of {@link StepCache}. */
export interface StepCacheOptions {
  /** The local cache (records in `steps/`, blobs in `blobs/`). */
  cache: LocalCache;
  /** The registry cache repository, if any. */
  registry?: RegistryStepCache;
  /** Push results to the registry (default true). */
  push?: boolean;
  /** Records older than this many milliseconds are ignored. */
  ttlMs?: number;
  /** The build's work directory (cached layers are linked here while the build uses them). */
  workDir: string;
  /** Build creation time (seconds): part of every key. */
  created: number;
  /** gzip encoder identity: part of every key. */
  encoder: string;
  /** RUN mtimes kept, not clamped: part of every key when set. */
  keepRunMtimes?: boolean;
  /** Settings of the RUN sandbox that change what a step can do (`--add-host` entries): part of every RUN key. */
  runExtra?: Readonly<Record<string, string>>;
  /** Identifies "the same step" across builds for miss explanations (context dir and Dockerfile). */
  scope: string;
  /** Receives each step's report. */
  onStep?: (report: StepReport) => void;
  /** Names a step for its report (BuildKit's `[2/5] RUN npm ci`). */
  nameOf?: (state: StageState, instruction: Instruction) => string;
  /** Receives warnings (a failed push). */
  onWarning?: (message: string) => void;
  /**
   * Fetch (and so verify) every layer of a registry hit before using it: set when a target is
   * not in the cache repo's registry, so the push must read the bytes anyway. Otherwise they
   * are fetched only when a later step of the build runs (it may need the files).
   */
  fetchLayers?: boolean;
  /** Abort signal. */
  signal?: AbortSignal;
}

interface Planned {
  key: string | undefined;
  inputs: StepInputs | undefined;
  reason?: string;
  layerStep: boolean;
}

type Found =
  | { hit: true; record: StepRecord; source: 'local' | 'registry'; layer?: BuiltLayer; origin?: BlobOrigin }
  | { hit: false; reason: string | undefined };

const LOOKUP_CONCURRENCY = 8;

function isLayerStep(i: Instruction): boolean {
  return i.kind === 'run' || i.kind === 'copy' || i.kind === 'add' || i.kind === 'workdir';
}

/** The step cache of one platform's Dockerfile build (see the module comment). */
export class StepCache implements StepHooks {
  readonly #o: StepCacheOptions;
  readonly #chain = new Map<StageState, string | undefined>();
  readonly #stageKeys = new Map<number, string | undefined>();
  readonly #planned = new Map<string, Planned>();
  readonly #lookups = new Map<string, Promise<Found>>();
  readonly #pushes: Promise<void>[] = [];
  readonly #memo: FileDigestMemo;
  readonly #platform: string;
  /** Reports of the build phase, in order. */
  readonly reports: StepReport[] = [];

  constructor(options: StepCacheOptions, platform: string) {
    this.#o = options;
    this.#platform = platform;
    this.#memo = new FileDigestMemo(options.cache, memoNameFor(options.scope));
  }

  /** Plan phase: the stage's first key chains on its parent stage's last key, or on the base (root key). */
  enterStage(state: StageState, parent: StageState | undefined, base: BaseImage | undefined): void {
    const key = parent
      ? this.#chain.get(parent)
      : base?.digest === undefined && (base?.layers.length ?? 0) > 0
        ? undefined
        : rootKey({ baseDigest: base?.digest, platform: this.#platform, created: this.#o.created, encoder: this.#o.encoder, ...(this.#o.keepRunMtimes === true ? { keepRunMtimes: true } : {}) });
    this.#chain.set(state, key);
    this.#stageKeys.set(state.index, key);
  }

  /** Plan phase: keys one step (a step whose inputs cannot be read is left uncached, with the steps after it). */
  async plan(state: StageState, ordinal: number, instruction: Instruction, context: StepPlanContext): Promise<void> {
    const parent = this.#chain.get(state);
    const layerStep = isLayerStep(instruction);
    let planned: Planned = { key: undefined, inputs: undefined, layerStep, reason: 'an earlier step cannot be cached' };
    if (parent !== undefined) {
      try {
        const own = await this.#inputs(state, instruction, context);
        const inputs: StepInputs = { parent, ...own };
        planned = { key: stepKey(inputs), inputs, layerStep };
      } catch (error) {
        // A step whose inputs cannot be read (a missing source, a bad flag) is left to the
        // build phase, which reports it at the same point and with the same error as without a cache.
        if (this.#o.signal?.aborted) throw error;
        const systemError = typeof (error as { code?: unknown }).code === 'string';
        if (!(error instanceof UncacheableStep || error instanceof OcibuildError || systemError)) throw error;
        planned = { key: undefined, inputs: undefined, layerStep, reason: (error as Error).message };
      }
    }
    this.#planned.set(`${state.index}:${ordinal}`, planned);
    this.#chain.set(state, planned.key);
    this.#stageKeys.set(state.index, planned.key);
  }

  /** Starts the lookups of every keyed layer step, 8 at a time. */
  planned(): void {
    const queue = [...this.#planned.entries()].filter(([, p]) => p.layerStep && p.key !== undefined);
    const slots = new Semaphore(LOOKUP_CONCURRENCY);
    const limited = async <T>(fn: () => Promise<T>): Promise<T> => {
      const release = await slots.acquire();
      try {
        return await fn();
      } finally {
        release();
      }
    };
    // Every key is known now: a miss for one step never holds back the lookups of later ones.
    for (const [id, p] of queue) {
      const found = limited(() => this.#lookup(p.key as string));
      found.catch(() => undefined);
      this.#lookups.set(id, found);
    }
  }

  /** Build phase: applies a hit, or runs the step and records its result. */
  async step(state: StageState, ordinal: number, instruction: Instruction, execute: () => Promise<void>): Promise<void> {
    const id = `${state.index}:${ordinal}`;
    const planned = this.#planned.get(id);
    const report: StepReport = {
      platform: this.#platform,
      stage: state.index,
      step: ordinal,
      instruction: instruction.node.original.length > 100 ? `${instruction.node.original.slice(0, 99)}…` : instruction.node.original,
      ...(this.#o.nameOf ? { name: this.#o.nameOf(state, instruction) } : {}),
      status: 'uncached',
    };
    if (planned?.key === undefined) {
      await execute();
      this.#report({ ...report, reason: planned?.reason ?? 'not planned' });
      return;
    }
    report.key = planned.key;
    let found = (await this.#lookups.get(id)) ?? { hit: false, reason: undefined };
    if (found.hit && found.source === 'registry' && found.layer && (this.#o.fetchLayers || (await this.#laterRun(id)))) {
      // The bytes will be read: fetch them now, verified, so a corrupt blob is a miss and never a layer.
      found = await fetchOrMiss(found.layer, found);
    }
    if (found.hit) {
      state.config.config = structuredClone(found.record.config ?? {});
      if (found.layer) addLayer(state, found.layer, found.record.createdBy, { cached: true, ...(found.origin ? { origin: found.origin } : {}) });
      else state.steps.push({ createdBy: found.record.createdBy });
      this.#report({ ...report, status: 'hit', source: found.source });
      return;
    }
    const reason = found.reason ?? explainMiss((await this.#previous(id))?.inputs, planned.inputs as StepInputs);
    const before = state.steps.length;
    await execute();
    const added = state.steps.slice(before);
    const step = added[0];
    if (added.length === 1 && step !== undefined) await this.#store(planned.key, state, step);
    this.#report({ ...report, status: 'miss', reason });
  }

  /** True when a layer step after `id` (in build order) will run, so earlier layers' files may be read. */
  async #laterRun(id: string): Promise<boolean> {
    let after = false;
    for (const [other, p] of this.#planned) {
      if (other === id) after = true;
      else if (after && p.layerStep) {
        const result = p.key === undefined ? undefined : await this.#lookups.get(other);
        if (result === undefined || !result.hit) return true;
      }
    }
    return false;
  }

  /** Waits for background pushes, saves the file digest memo and what each step was keyed on. */
  async finish(): Promise<void> {
    await Promise.all(this.#pushes);
    await this.#memo.save();
    for (const [id, p] of this.#planned) {
      if (!p.layerStep || p.inputs === undefined || p.key === undefined) continue;
      const previous = await this.#previous(id);
      if (previous?.key !== p.key) await this.#o.cache.writeJson('step-inputs', this.#identity(id), { key: p.key, inputs: p.inputs }).catch(() => undefined);
    }
  }

  /** Stores a built image's config blob in the cache repo; returns the repo to mount it from, if it is there. */
  async shareConfig(descriptor: Descriptor, bytes: Uint8Array): Promise<BlobOrigin | undefined> {
    const registry = this.#o.registry;
    if (registry === undefined || this.#o.push === false) return undefined;
    try {
      await registry.pushConfig(descriptor, bytes, this.#signal());
      return registry.origin;
    } catch (error) {
      this.#o.onWarning?.(`cache repo ${registry.name}: cannot store the image config: ${(error as Error).message}`);
      return undefined;
    }
  }

  #signal(): { signal?: AbortSignal } {
    return this.#o.signal ? { signal: this.#o.signal } : {};
  }

  #report(report: StepReport): void {
    this.reports.push(report);
    this.#o.onStep?.(report);
  }

  async #inputs(state: StageState, instruction: Instruction, context: StepPlanContext): Promise<OwnInputs> {
    const ctx = { plan: context, stageKey: (i: number) => this.#stageKeys.get(i), memo: this.#memo, ...this.#signal() };
    switch (instruction.kind) {
      case 'copy':
      case 'add':
        return copyInputs(state, instruction, ctx);
      case 'run': {
        const own = await runInputs(state, instruction, ctx);
        return this.#o.runExtra === undefined ? own : { ...own, extra: { ...own.extra, ...this.#o.runExtra } };
      }
      case 'workdir':
        return workdirInputs(state, instruction);
      default:
        return metadataInputs(state, instruction, context.createdBy);
    }
  }

  #identity(id: string): string {
    return new FieldHasher().field('identity').field(this.#o.scope).field(id).field(this.#platform).hex();
  }

  #previous(id: string): Promise<{ key: string; inputs: StepInputs } | undefined> {
    return this.#o.cache.readJson<{ key: string; inputs: StepInputs }>('step-inputs', this.#identity(id));
  }

  async #lookup(key: string): Promise<Found> {
    const local = await this.#lookupLocal(key);
    if (local.hit || this.#o.registry === undefined) return local;
    const registry = this.#o.registry;
    const found = await registry.lookup(key, this.#signal());
    if ('miss' in found) return { hit: false, reason: local.reason ?? (found.miss === 'no record for key' ? undefined : found.miss) };
    if (isExpired(found.record.created, this.#o.ttlMs)) return { hit: false, reason: 'record older than the cache ttl' };
    const record = found.record;
    // Known locally from now on; the blob itself comes over only if something reads it.
    await this.#o.cache.writeJson('steps', key, { ...record, repositories: [registry.name] } satisfies LocalStepRecord).catch(() => undefined);
    return { hit: true, record, source: 'registry', origin: registry.origin, ...(record.layer ? { layer: this.#registryLayer(record) } : {}) };
  }

  async #lookupLocal(key: string): Promise<Found> {
    const cache = this.#o.cache;
    const record = await cache.readJson<LocalStepRecord>('steps', key);
    if (record === undefined) return { hit: false, reason: undefined };
    try {
      checkStepRecord(record, key, `${cache.dir}/steps/${key}.json`);
    } catch (error) {
      return { hit: false, reason: `local record unusable: ${(error as Error).message}` };
    }
    if (isExpired(record.created, this.#o.ttlMs)) return { hit: false, reason: 'record older than the cache ttl' };
    const inRepo = this.#o.registry !== undefined && (record.repositories ?? []).includes(this.#o.registry.name);
    const origin = inRepo ? { origin: (this.#o.registry as RegistryStepCache).origin } : {};
    if (record.layer === undefined) return { hit: true, record, source: 'local', ...origin };
    const descriptor = record.layer.descriptor;
    if (!(await cache.hasBlob(descriptor.digest))) return { hit: false, reason: inRepo ? undefined : 'local layer blob is gone' };
    const file = path.join(this.#o.workDir, `step-${descriptor.digest.slice(descriptor.digest.indexOf(':') + 1)}`);
    try {
      await cache.pinBlob(descriptor.digest, file);
      // Verify before use: a wrong byte or a truncated file must never become a layer.
      const actual = await fileDigest(file);
      if (actual.digest !== descriptor.digest || actual.size !== descriptor.size) {
        await fs.rm(file, { force: true });
        await fs.rm(cache.blobPath(descriptor.digest), { force: true });
        return { hit: false, reason: `local layer blob ${descriptor.digest} is corrupt (digest ${actual.digest}, ${actual.size} bytes)` };
      }
    } catch (error) {
      if (error instanceof OcibuildError && error.code === 'ERR_NOT_FOUND') return { hit: false, reason: 'local layer blob is gone' };
      throw error;
    }
    const layer: BuiltLayer = { ...record.layer, descriptor: { ...descriptor }, path: file, open: () => createReadStream(file) as AsyncIterable<Uint8Array> };
    return { hit: true, record, source: 'local', layer, ...origin };
  }

  /** A layer of a registry record: fetched (verified) into the local cache only when read. */
  #registryLayer(record: StepRecord): BuiltLayer {
    const cache = this.#o.cache;
    const registry = this.#o.registry as RegistryStepCache;
    const layer = record.layer as NonNullable<StepRecord['layer']>;
    const descriptor = { ...layer.descriptor };
    const signal = this.#signal();
    return {
      ...layer,
      descriptor,
      path: cache.blobPath(descriptor.digest),
      open: () =>
        (async function* () {
          if (!(await cache.hasBlob(descriptor.digest, descriptor.size))) {
            await cache.putBlob(descriptor, async function* () {
              yield* await registry.getBlob(descriptor, signal);
            }, signal);
          }
          yield* await cache.openBlob(descriptor, signal);
        })(),
    };
  }

  async #store(key: string, state: StageState, step: StageState['steps'][number]): Promise<void> {
    const cache = this.#o.cache;
    const record: StepRecord = {
      schema: STEP_RECORD_SCHEMA,
      key,
      created: new Date().toISOString(),
      createdBy: step.createdBy,
      platform: this.#platform,
      config: structuredClone(state.config.config ?? {}),
    };
    const built = 'layer' in step ? step.layer : undefined;
    if (built !== undefined) {
      record.layer = { descriptor: { ...built.descriptor }, diffId: built.diffId, uncompressedSize: built.uncompressedSize, entryCount: built.entryCount };
      await cache.putBlob(built.descriptor, () => built.open(), this.#signal());
    }
    await cache.writeJson('steps', key, record);
    const registry = this.#o.registry;
    if (registry === undefined || this.#o.push === false) return;
    const pushed = registry.push(record, built ? () => built.open() : undefined, this.#signal()).then(
      async () => {
        // The final push can mount this blob from the cache repo instead of uploading it again.
        if ('layer' in step) step.origin = registry.origin;
        await cache.writeJson('steps', key, { ...record, repositories: [registry.name] } satisfies LocalStepRecord).catch(() => undefined);
      },
      (error: unknown) => this.#o.onWarning?.(`cache repo ${registry.name}: cannot store step ${key}: ${(error as Error).message}`),
    );
    this.#pushes.push(pushed);
  }
}

async function fetchOrMiss(layer: BuiltLayer, found: Found): Promise<Found> {
  try {
    for await (const chunk of layer.open()) void chunk;
    return found;
  } catch (error) {
    if (!(error instanceof OcibuildError) || error.code === 'ERR_ABORTED') throw error;
    return { hit: false, reason: `cache repo layer ${layer.descriptor.digest} is unusable: ${error.message}` };
  }
}

async function fileDigest(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}
