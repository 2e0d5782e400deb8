/**
 * Step records: what a cached Dockerfile step produced (its layer and diffID, or no layer,
 * the container config after it, its history text), as stored in the local cache
 * (`DIR/steps/KEY.json`) and as the config blob of a registry cache artifact. Pure: no I/O.
 * @module
 */
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import { isDigest } from '../oci/digest.ts';
import type { ContainerConfig, Descriptor } from '../oci/types.ts';

/** Schema marker of {@link StepRecord}. */
export const STEP_RECORD_SCHEMA = 'ocibuild.step/1';

/** The layer a step produced. */
export interface StepLayer {
  /** Descriptor of the compressed blob. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** Uncompressed size. */
  uncompressedSize: number;
  /** Number of tar entries. */
  entryCount: number;
}

/** What one step produced. */
export interface StepRecord {
  /** Always {@link STEP_RECORD_SCHEMA}. */
  schema: typeof STEP_RECORD_SCHEMA;
  /** The step key (64 hex digits). */
  key: string;
  /** When the record was made (RFC 3339); the TTL counts from here. */
  created: string;
  /** The history text of the step. */
  createdBy: string;
  /** Platform it was built for (informative: the platform is part of the key). */
  platform: string;
  /** The container config after the step. */
  config: ContainerConfig | undefined;
  /** The layer, or absent for a step that changed no file (RUN with no change, WORKDIR of an existing directory). */
  layer?: StepLayer;
}

/** A local record: a {@link StepRecord} plus the cache repositories it is known to be in. */
export interface LocalStepRecord extends StepRecord {
  /** `registry/repository` of cache repos the record was pushed to or pulled from. */
  repositories?: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Checks that `value` is a record for `key`; throws `ERR_INVALID_CONFIG` naming `where` and
 * the field otherwise (a foreign or torn document must never be used as a cache hit).
 */
export function checkStepRecord(value: unknown, key: string, where: string): asserts value is StepRecord {
  const fail = (field: string): never => {
    throw new OcibuildError('ERR_INVALID_CONFIG', `${where}: step record field ${field} is missing or invalid`);
  };
  if (!isObject(value)) fail('(document)');
  const r = value as Record<string, unknown>;
  if (r.schema !== STEP_RECORD_SCHEMA) fail('schema');
  if (r.key !== key) fail('key');
  if (typeof r.created !== 'string' || Number.isNaN(Date.parse(r.created))) fail('created');
  if (typeof r.createdBy !== 'string') fail('createdBy');
  if (typeof r.platform !== 'string') fail('platform');
  if (r.config !== undefined && !isObject(r.config)) fail('config');
  if (r.layer !== undefined) {
    if (!isObject(r.layer)) fail('layer');
    const layer = r.layer as Record<string, unknown>;
    const d = layer.descriptor;
    if (!isObject(d) || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !isDigest(d.digest) || !isCount(d.size)) fail('layer.descriptor');
    if (typeof layer.diffId !== 'string' || !isDigest(layer.diffId)) fail('layer.diffId');
    if (!isCount(layer.uncompressedSize)) fail('layer.uncompressedSize');
    if (!isCount(layer.entryCount)) fail('layer.entryCount');
  }
}

/** True when a record made at `created` is older than `ttlMs` at `now`. */
export function isExpired(created: string, ttlMs: number | undefined, now = Date.now()): boolean {
  return ttlMs !== undefined && now - Date.parse(created) > ttlMs;
}

/**
 * Parses a TTL: a number of seconds, or a duration such as `90s`, `30m`, `6h`, `7d`, `1h30m`
 * (kaniko's `--cache-ttl` takes Go durations). Returns milliseconds.
 */
export function parseTtl(value: number | string): number {
  if (typeof value === 'number') {
    if (!(value >= 0) || !Number.isFinite(value)) throw new InvalidArgumentError(`cache ttl must be a non-negative number of seconds, got ${value}`);
    return value * 1000;
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return parseTtl(Number(text));
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new InvalidArgumentError(`invalid cache ttl ${JSON.stringify(value)}: use seconds or a duration like 6h, 30m, 7d`);
    total += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}
