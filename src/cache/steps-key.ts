/**
 * Dockerfile step cache keys: SHA-256 over a length-prefixed encoding of everything that
 * decides a step's result (parent key, instruction after expansion, the variables it can see
 * or used, the platform, the content of its sources). Pure: no I/O. See `docs/cache.md`.
 * @module
 */
import { FieldHasher } from './field-hasher.ts';

/** Version of the step key encoding; bump it when the encoding or a step's output changes. */
export const STEP_KEY_VERSION = 'ocibuild-step-key/2';

/**
 * The inputs of one step, kept in a readable form so a later miss can say which one changed.
 * Maps are encoded sorted by name; `sources` keeps its order (it is the copy order).
 */
export interface StepInputs {
  /** Key of the previous step (or of the stage's base). */
  parent: string;
  /** The instruction after expansion, flags included (`COPY --chown=1:1 a /dst/`). */
  instruction: string;
  /** Build args and env the step can see (RUN) or used (others), name to value. */
  variables: Record<string, string>;
  /** Target platform (`linux/amd64`). */
  platform: string;
  /** Source content: display path (context-relative where possible) and a node digest, in order. */
  sources: [string, string][];
  /** Other inputs (`from-stage`, `url-checksum`, mount sources...), name to value. */
  extra: Record<string, string>;
}

/** The key of a step from its inputs (64 hex digits). */
export function stepKey(inputs: StepInputs): string {
  const h = new FieldHasher().field(STEP_KEY_VERSION).field('step');
  h.field(inputs.parent).field(inputs.instruction).map(inputs.variables).field(inputs.platform);
  h.field(inputs.sources.length);
  for (const [name, digest] of inputs.sources) h.field(name).field(digest);
  h.map(inputs.extra);
  return h.hex();
}

/** What a stage's first step chains on. */
export interface RootKeyInputs {
  /** Digest of the base's platform manifest; undefined for `scratch`. */
  baseDigest: string | undefined;
  /** Target platform. */
  platform: string;
  /** Creation time (seconds) used for new entries' mtimes and history. */
  created: number;
  /** gzip encoder identity (changes the layer bytes). */
  encoder: string;
  /** RUN mtimes kept instead of clamped to `created` (`keepRunMtimes`): other RUN layers. */
  keepRunMtimes?: boolean;
}

/** The key a stage's first step uses as its parent. */
export function rootKey(inputs: RootKeyInputs): string {
  const h = new FieldHasher()
    .field(STEP_KEY_VERSION)
    .field('root')
    .field(inputs.baseDigest ?? 'scratch')
    .field(inputs.platform)
    .field(inputs.created)
    .field(inputs.encoder);
  // Hashed only when set, so the keys of default (clamped) builds stay what they were.
  if (inputs.keepRunMtimes === true) h.field('run-mtimes-kept');
  return h.hex();
}

/** Digest of one copy source node (its structure and content). */
export function sourceNodeDigest(fields: readonly (string | number | undefined)[]): string {
  const h = new FieldHasher().field('node');
  for (const f of fields) h.field(f);
  return h.hex();
}

function changedNames(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}

function list(names: string[], max = 3): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/**
 * Says why `current` missed, given the inputs of the same step's previous key: the first of
 * the step's own inputs that changed (platform, build arg, instruction, source, other), else
 * the parent (an earlier step changed).
 */
export function explainMiss(previous: StepInputs | undefined, current: StepInputs): string {
  if (previous === undefined) return 'no record for key';
  if (previous.platform !== current.platform) return `platform changed (${previous.platform} to ${current.platform})`;
  // Variables before the instruction: the instruction is compared after expansion, so a
  // changed variable it uses changes its text too.
  const vars = changedNames(previous.variables, current.variables);
  if (vars.length > 0) return `build arg ${list(vars)} changed`;
  if (previous.instruction !== current.instruction) return 'instruction changed';
  const before = new Map(previous.sources);
  const after = new Map(current.sources);
  const sources = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p)).sort();
  if (sources.length > 0) {
    const verb = (p: string): string => (!before.has(p) ? 'added' : !after.has(p) ? 'removed' : 'changed');
    return `source ${list(sources.map((p) => `${p} ${verb(p)}`))}`;
  }
  if (previous.sources.join('\n') !== current.sources.join('\n')) return 'source order changed';
  const extra = changedNames(previous.extra, current.extra);
  if (extra.length > 0) return `${list(extra)} changed`;
  if (previous.parent !== current.parent) return 'previous step changed';
  return 'no record for key';
}
