/**
 * The stage graph of a Dockerfile: stages split at FROM, global ARGs (before the first FROM)
 * resolved with build args and the predefined platform args, stage bases resolved (scratch,
 * an earlier stage, or an image), `COPY --from` dependencies, the target, and the stages the
 * target needs in dependency order. Pure: no I/O.
 * @module
 */

import { closestName, DockerfileError, UnsupportedError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import { formatPlatform, normalizePlatform, parsePlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import type { Dockerfile, EscapeToken, ParseWarning } from './ast.ts';
import { parseInstruction } from './instructions.ts';
import type { ArgInstruction, CopyInstruction, FromInstruction, Instruction, RunInstruction } from './instructions.ts';
import { expandWithMatches, WordExpansionError } from './shell.ts';

/** One stage as written: its FROM and the instructions up to the next FROM. */
export interface StageDefinition {
  /** 0-based position in the file. */
  index: number;
  /** Lower-cased `AS` name, if any. */
  name: string | undefined;
  /** The FROM instruction. */
  from: FromInstruction;
  /** The instructions after FROM. */
  instructions: Instruction[];
}

/** What a stage starts from. */
export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; reference: string };

/** A stage with its base, platform and dependencies resolved. */
export interface ResolvedStage extends StageDefinition {
  /** The base after expanding global ARGs. */
  base: StageBase;
  /** `--platform` of FROM, expanded and parsed, if given. */
  platform: Platform | undefined;
  /** Indexes of stages this one reads from with `COPY --from` (own or triggered by a stage base's ONBUILD). */
  stageDeps: Set<number>;
}

/** The whole plan of which stages to build. */
export interface StageGraph {
  /** The Dockerfile name for errors. */
  file: string;
  /** Escape character for word expansion. */
  escape: EscapeToken;
  /** Global ARG values (build args applied, defaults expanded), including the predefined ones. */
  globalArgs: Map<string, string>;
  /** Every stage, in file order. */
  stages: ResolvedStage[];
  /** Index of the target stage. */
  target: number;
  /** Indexes of the stages the target needs (itself included), in an order where dependencies come first. */
  order: number[];
  /** Non-fatal findings, with BuildKit's lint rule names (`DuplicateStageName`). */
  warnings: ParseWarning[];
}

/** Inputs of {@link planStages}. */
export interface StageOptions {
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** Stage to build (name or index); default the last one. */
  target?: string;
  /** The platform being built (TARGETPLATFORM). */
  targetPlatform: Platform;
  /** The platform building (BUILDPLATFORM); default the target's. */
  buildPlatform?: Platform;
  /**
   * Tells whether a named build context of that name exists. A stage with such a name is
   * replaced by the context, as in BuildKit (testNamedImageContext, testNamedLocalContext): its
   * name no longer refers to it, so `FROM name` and `--from=name` reach the context.
   */
  namedContext?: (name: string) => boolean;
}

/** Build args usable in RUN without an ARG declaration, never written to history. */
export const PROXY_ARGS: ReadonlySet<string> = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** The predefined platform ARGs for a target and build platform. */
export function predefinedArgs(target: Platform, build: Platform): Map<string, string> {
  const t = normalizePlatform(target);
  const b = normalizePlatform(build);
  return new Map([
    ['TARGETPLATFORM', formatPlatform(t)],
    ['TARGETOS', t.os],
    ['TARGETARCH', t.architecture],
    ['TARGETVARIANT', t.variant ?? ''],
    ['BUILDPLATFORM', formatPlatform(b)],
    ['BUILDOS', b.os],
    ['BUILDARCH', b.architecture],
    ['BUILDVARIANT', b.variant ?? ''],
  ]);
}

/** Expands one word, turning expansion errors into {@link DockerfileError}s at `location`. */
export function expandAt(word: string, env: ReadonlyMap<string, string>, escape: EscapeToken, location: DockerfileLocation): string {
  try {
    return expandWithMatches(word, env, { escape }).result;
  } catch (error) {
    if (error instanceof WordExpansionError) throw new DockerfileError(location, error.message, { cause: error });
    throw error;
  }
}

/** Splits typed instructions into global ARGs and stages. */
export function splitStages(ast: Dockerfile): { globalArgs: ArgInstruction[]; stages: StageDefinition[] } {
  const globalArgs: ArgInstruction[] = [];
  const stages: StageDefinition[] = [];
  for (const node of ast.instructions) {
    const instruction = parseInstruction(node, ast.file);
    if (instruction.kind === 'from') {
      stages.push({ index: stages.length, name: instruction.name, from: instruction, instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) {
      current.instructions.push(instruction);
    } else if (instruction.kind === 'arg') {
      globalArgs.push(instruction);
    } else {
      throw new DockerfileError(instruction.location, `no build stage in current context: ${node.name} must come after FROM`);
    }
  }
  if (stages.length === 0) throw new DockerfileError({ file: ast.file, line: 1 }, 'dockerfile contains no stages to build');
  return { globalArgs, stages };
}

/** Resolves the stage graph: global args, bases, dependencies, target, build order. */
export function planStages(ast: Dockerfile, options: StageOptions): StageGraph {
  const { globalArgs: argInstructions, stages: definitions } = splitStages(ast);
  const buildArgs = options.buildArgs ?? {};
  const escape = ast.escapeToken;
  const globalArgs = predefinedArgs(options.targetPlatform, options.buildPlatform ?? options.targetPlatform);
  // The stage the build ends with, as BuildKit names it to `ARG TARGETSTAGE` (its
  // testTargetStageNameArg): the target, else the last stage's name, else `default`.
  globalArgs.set('TARGETSTAGE', options.target?.toLowerCase() ?? definitions[definitions.length - 1]?.name ?? 'default');
  for (const instruction of argInstructions) {
    for (const arg of instruction.args) {
      const given = Object.hasOwn(buildArgs, arg.name) ? buildArgs[arg.name] : undefined;
      if (given !== undefined) globalArgs.set(arg.name, given);
      else if (arg.value !== undefined) globalArgs.set(arg.name, expandAt(arg.value, globalArgs, escape, instruction.location));
    }
  }

  // Names map to the latest stage defined so far: a duplicate name is only BuildKit's
  // DuplicateStageName lint warning, and references after it see the new definition.
  const names = new Map<string, number>();
  const warnings: ParseWarning[] = [];
  const stages: ResolvedStage[] = [];
  for (const original of definitions) {
    const def = original.name !== undefined && options.namedContext?.(original.name) ? { ...original, name: undefined } : original;
    const image = expandAt(def.from.image, globalArgs, escape, def.from.location);
    if (image === '') throw new DockerfileError(def.from.location, `base name (${def.from.image}) should not be blank`);
    let base: StageBase;
    const byName = names.get(image.toLowerCase());
    if (byName !== undefined) base = { kind: 'stage', index: byName };
    else if (image.toLowerCase() === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', reference: image };
    let platform: Platform | undefined;
    if (def.from.platform !== undefined) {
      const text = expandAt(def.from.platform, globalArgs, escape, def.from.location);
      if (text === '') throw new DockerfileError(def.from.location, `empty platform value from expression ${def.from.platform}`);
      try {
        platform = normalizePlatform(parsePlatform(text));
      } catch (error) {
        throw new DockerfileError(def.from.location, `failed to parse platform ${text}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (def.name !== undefined) {
      if (names.has(def.name)) {
        warnings.push({ rule: 'DuplicateStageName', line: def.from.location.line, message: `Duplicate stage name ${JSON.stringify(def.name)}, stage names should be unique` });
      }
      names.set(def.name, def.index);
    }
    stages.push({ ...def, base, platform, stageDeps: new Set() });
  }

  const later: { stage: number; index: number; copy: CopyInstruction }[] = [];
  for (const stage of stages) {
    const copies: CopyInstruction[] = [];
    for (const instruction of stage.instructions) {
      if (instruction.kind === 'copy') copies.push(instruction);
    }
    // A stage base's own ONBUILD triggers run in this stage (BuildKit does the same).
    if (stage.base.kind === 'stage') {
      for (const instruction of (stages[stage.base.index] as ResolvedStage).instructions) {
        if (instruction.kind === 'onbuild' && instruction.trigger.kind === 'copy') copies.push(instruction.trigger);
      }
    }
    for (const copy of copies) {
      if (copy.from === undefined) continue;
      const from = resolveCopyFrom(copy, stages, names, stage.index, true);
      if (from.kind === 'stage' && from.index >= stage.index) later.push({ stage: stage.index, index: from.index, copy });
      if (from.kind === 'stage') stage.stageDeps.add(from.index);
    }
    // `RUN --mount=...,from=STAGE` reads that stage's filesystem, so the stage is needed too.
    for (const instruction of stage.instructions) {
      if (instruction.kind === 'run') for (const index of mountedStages(instruction, stages, stage.index)) stage.stageDeps.add(index);
    }
  }

  checkLaterCopies(stages, later);

  const target = selectTarget(stages, names, options.target, ast.file);
  const needed = new Set<number>();
  addWithDependencies(stages, needed, target);
  // Bases and --from stages are always earlier in the file, so file order is a dependency order.
  const order = [...needed].sort((a, b) => a - b);
  return { file: ast.file, escape, globalArgs, stages, target, order, warnings };
}

/**
 * The stage a name refers to from stage `before`: the latest one of that name defined before
 * it (names are case-insensitive), or undefined.
 */
export function stageIndexBefore(stages: readonly StageDefinition[], name: string, before: number): number | undefined {
  const wanted = name.toLowerCase();
  for (let i = Math.min(before, stages.length) - 1; i >= 0; i--) if (stages[i]?.name === wanted) return i;
  return undefined;
}

/** The earlier stages a RUN's `--mount=...,from=STAGE` flags read (by name or index), seen from stage `current`. */
export function mountedStages(run: RunInstruction, stages: readonly StageDefinition[], current: number): number[] {
  const out: number[] = [];
  for (const mount of run.flags.mount ?? []) {
    const from = mountFrom(mount);
    if (from === undefined) continue;
    const index = /^\d+$/.test(from) ? Number(from) : stageIndexBefore(stages, from, current);
    if (index !== undefined && index < current) out.push(index);
  }
  return out;
}

/**
 * Adds stage `index` and everything it needs (its base stage and `--from` stages, transitively)
 * to `needed`; true when `index` was not there yet.
 */
export function addWithDependencies(stages: readonly ResolvedStage[], needed: Set<number>, index: number): boolean {
  if (needed.has(index)) return false;
  needed.add(index);
  const stage = stages[index] as ResolvedStage;
  if (stage.base.kind === 'stage') addWithDependencies(stages, needed, stage.base.index);
  for (const dep of stage.stageDeps) addWithDependencies(stages, needed, dep);
  return true;
}

/** The `from=` field of a `--mount` value (stage names and image references hold no commas). */
function mountFrom(mount: string): string | undefined {
  for (const field of mount.split(',')) {
    const eq = field.indexOf('=');
    if (eq > 0 && field.slice(0, eq).trim().toLowerCase() === 'from') return field.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** BuildKit's error for `COPY --from` of the current or a later stage that is not part of a cycle (its testOutOfOrderStage). */
function laterStageError(copy: CopyInstruction): DockerfileError {
  return new DockerfileError(copy.location, `cannot copy from stage ${JSON.stringify(copy.from)}, it needs to be defined before current stage`);
}

/**
 * Rejects `COPY --from` of the current or a later stage, found while the graph was made: as
 * BuildKit, one that closes a cycle (a stage copying from itself, or from a stage that needs it)
 * is "circular dependency detected on stage: NAME", any other "needs to be defined before
 * current stage".
 */
function checkLaterCopies(stages: readonly ResolvedStage[], later: readonly { stage: number; index: number; copy: CopyInstruction }[]): void {
  for (const { stage, index, copy } of later) {
    const needed = new Set<number>();
    addWithDependencies(stages, needed, index);
    if (needed.has(stage)) {
      const s = stages[stage] as ResolvedStage;
      throw new DockerfileError(copy.location, `circular dependency detected on stage: ${s.name ?? String(stage)}`);
    }
  }
  const first = later[0];
  if (first !== undefined) throw laterStageError(first.copy);
}

/** Resolves `--from` of a COPY: a stage (by name or index, defined before `current`) or an image. */
export function resolveCopyFrom(
  copy: CopyInstruction,
  stages: readonly StageDefinition[],
  names: ReadonlyMap<string, number>,
  current: number,
  allowLater = false,
): { kind: 'stage'; index: number } | { kind: 'image'; reference: string } {
  const from = copy.from as string;
  if (from.includes('$')) {
    throw new DockerfileError(copy.location, 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
  }
  let index: number | undefined;
  if (/^\d+$/.test(from)) {
    index = Number(from);
    if (index >= stages.length) throw new DockerfileError(copy.location, `invalid stage index ${from}`);
  } else {
    index = stageIndexBefore(stages, from, current) ?? names.get(from.toLowerCase());
  }
  if (index === undefined) return { kind: 'image', reference: from };
  if (index >= current && !allowLater) throw laterStageError(copy);
  return { kind: 'stage', index };
}

function selectTarget(stages: readonly ResolvedStage[], names: ReadonlyMap<string, number>, target: string | undefined, file: string): number {
  if (target === undefined || target === '') return stages.length - 1;
  const index = names.get(target.toLowerCase());
  if (index === undefined) {
    const known = [...names.keys()];
    const near = closestName(target, known);
    const hint = near !== undefined ? ` (did you mean ${near}?)` : known.length ? ` (stages: ${known.join(', ')})` : '';
    throw new DockerfileError({ file, line: 1 }, `target stage ${JSON.stringify(target)} could not be found${hint}`);
  }
  return index;
}

/**
 * Throws {@link UnsupportedError} naming file and line when a needed stage contains RUN (also as
 * a triggered ONBUILD of a stage base) and no RUN executor is available.
 */
export function assertNoRun(graph: StageGraph, extraTriggers: ReadonlyMap<number, readonly Instruction[]> = new Map()): void {
  for (const index of graph.order) {
    const stage = graph.stages[index] as ResolvedStage;
    const candidates: Instruction[] = [...(extraTriggers.get(index) ?? [])];
    if (stage.base.kind === 'stage') {
      for (const i of (graph.stages[stage.base.index] as ResolvedStage).instructions) if (i.kind === 'onbuild') candidates.push(i.trigger);
    }
    candidates.push(...stage.instructions);
    const run = candidates.find((i) => i.kind === 'run');
    if (run) {
      throw new UnsupportedError(`${run.location.file}:${run.location.line}: RUN is not supported yet (no RUN executor); stage ${stage.name ?? stage.index} needs it`);
    }
  }
}
