/**
 * Wiring of the step cache into a Dockerfile build: which cache settings turn it on, the
 * registry cache repo over the build's registry client, the key parts that come from build
 * options (creation time, encoder), and the build result's step totals.
 * @module
 */
import { defaultGzipEncoder, encoderFormat } from '../compress/choose.ts';
import type { LayerEncoder } from '../compress/types.ts';
import type { RegistryClient } from '../registry/client.ts';
import { parseTarget } from '../transports/target.ts';
import { encoderIdentity } from './key.ts';
import { registryStepCache } from './registry-cache.ts';
import { parseTtl } from './steps-record.ts';
import { StepCache, type StepCacheSettings, type StepReport } from './steps.ts';
import type { LocalCache } from './store.ts';
import type { Instruction } from '../dockerfile/instructions.ts';
import type { StageState } from '../dockerfile/interpret-state.ts';

/** Inputs of {@link createStepCache}. */
export interface CreateStepCacheOptions {
  /** The local cache of the build (the step cache needs one). */
  cache: LocalCache;
  /** `BuildOptions.cache` (may carry `repo`, `ttl`, `push`). */
  settings: StepCacheSettings | false | undefined;
  /** The build's targets: layers of registry hits are fetched when one is outside the cache repo's registry. */
  targets: readonly string[];
  /** The build's registry client (for `repo`). */
  client: () => RegistryClient;
  /** The build's work directory. */
  workDir: string;
  /** Creation time in seconds. */
  created: number;
  /** The layer encoder, gzip or zstd (default libdeflate gzip): its identity is part of every step key. */
  encoder?: LayerEncoder;
  /** `BuildOptions.keepRunMtimes`: RUN layers then differ, so the keys do. */
  keepRunMtimes?: boolean;
  /** `BuildOptions.addHosts`: what RUN resolves differs, so the RUN keys do. */
  addHosts?: Readonly<Record<string, string>>;
  /** Context directory and Dockerfile name: "the same step" across builds. */
  scope: string;
  /** `linux/amd64`. */
  platform: string;
  /** Per-step reports. */
  onStep?: (report: StepReport) => void;
  /** Names a step for its report (BuildKit's `[2/5] RUN npm ci`). */
  nameOf?: (state: StageState, instruction: Instruction) => string;
  /** Warnings. */
  onWarning?: (message: string) => void;
  /** Abort signal. */
  signal?: AbortSignal;
}

/** Creates the step cache of one platform of a Dockerfile build. */
export function createStepCache(options: CreateStepCacheOptions): StepCache {
  const settings = options.settings === false ? {} : (options.settings ?? {});
  const repo = settings.repo !== undefined && settings.repo !== '' ? registryStepCache(settings.repo, options.client()) : undefined;
  return new StepCache(
    {
      cache: options.cache,
      registry: repo,
      push: settings.push ?? true,
      ttlMs: settings.ttl !== undefined ? parseTtl(settings.ttl) : undefined,
      workDir: options.workDir,
      created: options.created,
      encoder: stepEncoderIdentity(options.encoder ?? defaultGzipEncoder),
      keepRunMtimes: options.keepRunMtimes,
      ...(options.addHosts !== undefined && Object.keys(options.addHosts).length > 0
        ? { runExtra: Object.fromEntries(Object.entries(options.addHosts).map(([host, ip]) => [`add-host ${host}`, ip])) }
        : {}),
      scope: options.scope,
      onStep: options.onStep,
      nameOf: options.nameOf,
      onWarning: options.onWarning,
      signal: options.signal,
      fetchLayers: repo !== undefined && options.targets.some((t) => {
        const target = parseTarget(t);
        return target.kind !== 'registry' || target.ref?.registry !== repo.origin.registry;
      }),
    },
    options.platform,
  );
}

/** The encoder part of step keys: gzip identities as before zstd existed; zstd ones prefixed with the format. */
function stepEncoderIdentity(encoder: LayerEncoder): string {
  const format = encoderFormat(encoder);
  const identity = encoderIdentity(encoder, format);
  return format === 'gzip' ? identity : `${format}:${identity}`;
}
