/**
 * The Dockerfile interpreter: builds the stages a target needs, in dependency order, applying
 * each instruction to a stage state (config edits, one layer per COPY/ADD, WORKDIR directories).
 * Every base image is resolved (metadata only) and every needed stage checked for RUN before
 * any layer is written, so an unsupported Dockerfile fails before doing work.
 * @module
 */

import { DockerfileError, UnsupportedError, throwIfAborted } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import { normalizePlatform } from '../oci/platform.ts';
import type { ImageConfig, Platform } from '../oci/types.ts';
import { parseDockerfile } from './parse.ts';
import { createIgnoreMatcher, loadDockerignore } from './ignore.ts';
import { parseInstruction } from './instructions.ts';
import type { Instruction } from './instructions.ts';
import { addWithDependencies, assertNoRun, mountedStages, resolveCopyFrom } from './stages.ts';
import type { ResolvedStage, StageGraph } from './stages.ts';
import { StageFilesystem } from './interpret-fs.ts';
import { applyMetadata } from './interpret-meta.ts';
import { applyCopy, applyWorkdir, workdirPath, type CopyFromSource } from './interpret-copy.ts';
import type { BaseImage, InterpreterHost, StageState, StepHooks, StepPlanContext } from './interpret-state.ts';
import { addLayer, ArgScope, expansionEnv } from './interpret-state.ts';

/** Docker's default PATH, added when the base image has none (BuildKit does the same). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Parses ONBUILD trigger texts from an image config into instructions located at the FROM. */
export function parseTriggers(texts: readonly string[], location: DockerfileLocation): Instruction[] {
  return texts.map((text) => {
    try {
      const ast = parseDockerfile(text, { file: location.file });
      const node = ast.instructions[0];
      if (!node || ast.instructions.length !== 1) throw new Error('onbuild trigger should be a single expression');
      node.startLine = location.line;
      node.endLine = location.line;
      const instruction = parseInstruction(node, location.file);
      if (instruction.kind === 'onbuild' || instruction.kind === 'from') throw new Error(`${instruction.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      return instruction;
    } catch (error) {
      if (error instanceof DockerfileError && error.line === location.line) throw error;
      throw new DockerfileError(location, `invalid ONBUILD trigger ${JSON.stringify(text)} in base image: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** The stages the ONBUILD triggers of stage `index`'s base image read (`COPY --from`, `RUN --mount=...,from=`). */
function triggerStageDeps(triggers: readonly Instruction[], graph: StageGraph, names: ReadonlyMap<string, number>, index: number): number[] {
  const deps: number[] = [];
  for (const trigger of triggers) {
    if (trigger.kind === 'copy' && trigger.from !== undefined) {
      const from = resolveCopyFrom(trigger, graph.stages, names, index);
      if (from.kind === 'stage') deps.push(from.index);
    } else if (trigger.kind === 'run') {
      deps.push(...mountedStages(trigger, graph.stages, index));
    }
  }
  return deps;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Runs the stages of `graph` that the target needs and returns the target's final state. */
export async function interpretStages(graph: StageGraph, host: InterpreterHost): Promise<StageState> {
  const names = new Map<string, number>();
  for (const s of graph.stages) if (s.name !== undefined) names.set(s.name, s.index);

  // 1. Resolve every base image up front (metadata only) so RUN in triggers is found before work.
  // A base image's ONBUILD triggers may name stages the Dockerfile alone does not need
  // (`ONBUILD COPY --from=otherstage ...`, BuildKit's testOnBuildNewDeps): those join the build,
  // with their own bases and dependencies, until nothing new is found.
  const bases = new Map<number, BaseImage>();
  const imageTriggers = new Map<number, Instruction[]>();
  const needed = new Set(graph.order);
  for (let grown = true; grown; ) {
    grown = false;
    for (const index of [...needed].sort((a, b) => a - b)) {
      throwIfAborted(host.signal);
      const stage = graph.stages[index] as ResolvedStage;
      if (stage.base.kind === 'stage' || bases.has(index)) continue;
      const platform = stage.platform ?? host.platform;
      const base = stage.base.kind === 'scratch' ? host.scratch(platform) : await host.openImage(stage.base.reference, platform);
      bases.set(index, base);
      const triggers = base.config.config?.OnBuild ?? [];
      if (triggers.length === 0) continue;
      const parsed = parseTriggers(triggers, stage.from.location);
      imageTriggers.set(index, parsed);
      for (const dep of triggerStageDeps(parsed, graph, names, index)) grown = addWithDependencies(graph.stages, needed, dep) || grown;
    }
  }
  if (needed.size > graph.order.length) graph = { ...graph, order: [...needed].sort((a, b) => a - b) };
  if (!host.runStep) assertNoRun(graph, imageTriggers);

  // 2a. Apply every config-only instruction of every needed stage (ENV, EXPOSE, ARG, ... with
  // their variable expansion) and check every --from, so a bad line anywhere fails before the
  // first layer is written (BuildKit converts the whole file to LLB before it runs anything).
  await walkStages(graph, host, bases, imageTriggers, names, 'validate');

  // 2. With a step cache, compute every step key first (config-only steps applied, nothing
  // else run), so cache lookups for all steps can go out at once.
  if (host.steps) {
    await walkStages(graph, host, bases, imageTriggers, names, 'plan');
    host.steps.planned();
  }
  // 3. Build the stages in order.
  const states = await walkStages(graph, host, bases, imageTriggers, names, 'build');
  const target = states.get(graph.target) as StageState;
  finalizeConfig(target.config, host.platform);
  return target;
}

async function walkStages(
  graph: StageGraph,
  host: InterpreterHost,
  bases: ReadonlyMap<number, BaseImage>,
  imageTriggers: ReadonlyMap<number, Instruction[]>,
  names: ReadonlyMap<string, number>,
  mode: 'validate' | 'plan' | 'build',
): Promise<Map<number, StageState>> {
  const states = new Map<number, StageState>();
  for (const index of graph.order) {
    const stage = graph.stages[index] as ResolvedStage;
    const parent = stage.base.kind === 'stage' ? states.get(stage.base.index) : undefined;
    const state = initStage(stage, host, bases.get(index), parent);
    if (mode === 'plan') host.steps?.enterStage(state, parent, bases.get(index));
    const triggers =
      stage.base.kind === 'stage'
        ? (graph.stages[stage.base.index] as ResolvedStage).instructions.flatMap((i) => (i.kind === 'onbuild' ? [i.trigger] : []))
        : (imageTriggers.get(index) ?? []);
    for (const [ordinal, instruction] of [...triggers, ...stage.instructions].entries()) {
      throwIfAborted(host.signal);
      if (mode === 'validate') validateStep(state, instruction, graph, names);
      else if (mode === 'plan') await planStep(state, ordinal, instruction, graph, names);
      else if (host.steps && isLayerStep(instruction)) {
        await host.steps.step(state, ordinal, instruction, () => dispatch(state, instruction, graph, names, states));
      } else await dispatch(state, instruction, graph, names, states);
    }
    states.set(index, state);
  }
  return states;
}

function isLayerStep(i: Instruction): boolean {
  return i.kind === 'run' || i.kind === 'copy' || i.kind === 'add' || i.kind === 'workdir';
}

/**
 * Validate phase of one step: config-only instructions are applied (to a state that is thrown
 * away), WORKDIR only sets the path, COPY --from is resolved; nothing touches a file system.
 */
function validateStep(state: StageState, instruction: Instruction, graph: StageGraph, names: ReadonlyMap<string, number>): void {
  if (instruction.kind === 'run') return;
  if (instruction.kind === 'copy' || instruction.kind === 'add') {
    if (instruction.kind === 'copy' && instruction.from !== undefined) resolveCopyFrom(instruction, graph.stages, names, state.index);
    return;
  }
  if (instruction.kind === 'workdir') {
    (state.config.config ??= {}).WorkingDir = workdirPath(state, instruction);
    return;
  }
  applyMetadata(state, instruction);
}

/** Plan phase of one step: layer steps are only keyed; config-only steps are applied, then keyed. */
async function planStep(state: StageState, ordinal: number, instruction: Instruction, graph: StageGraph, names: ReadonlyMap<string, number>): Promise<void> {
  const hooks = state.host.steps as StepHooks;
  const stageIndex = (name: string): number | undefined => (/^\d+$/.test(name) ? Number(name) : names.get(name.toLowerCase()));
  if (instruction.kind === 'copy' || instruction.kind === 'add') {
    let copyFrom: StepPlanContext['copyFrom'];
    if (instruction.kind === 'copy' && instruction.from !== undefined) {
      const source = resolveCopyFrom(instruction, graph.stages, names, state.index);
      // A directory context has no digest: the step (and what follows) is then not cached.
      if (source.kind === 'image' && state.host.namedContext?.(source.reference)?.kind === 'dir') copyFrom = { image: { config: {} as BaseImage['config'], layers: [], image: undefined } };
      else copyFrom = source.kind === 'stage' ? { stage: source.index } : { image: await state.host.openImage(source.reference, state.platform) };
    }
    await hooks.plan(state, ordinal, instruction, { stageIndex, copyFrom });
  } else if (instruction.kind === 'run') {
    await hooks.plan(state, ordinal, instruction, { stageIndex });
  } else if (instruction.kind === 'workdir') {
    await hooks.plan(state, ordinal, instruction, { stageIndex });
    (state.config.config ??= {}).WorkingDir = workdirPath(state, instruction);
  } else {
    const createdBy = applyMetadata(state, instruction);
    await hooks.plan(state, ordinal, instruction, { stageIndex, createdBy });
  }
}

function initStage(stage: ResolvedStage, host: InterpreterHost, base: BaseImage | undefined, parent: StageState | undefined): StageState {
  let state: StageState;
  if (parent) {
    state = {
      index: stage.index,
      name: stage.name,
      host,
      config: clone(parent.config),
      root: parent.root,
      steps: [...parent.steps],
      fs: parent.fs,
      args: new ArgScope(parent.args),
      cmdSet: false,
      platform: parent.platform,
    };
  } else {
    const b = base as BaseImage;
    const config = clone(b.config);
    state = {
      index: stage.index,
      name: stage.name,
      host,
      config,
      root: b,
      steps: [],
      fs: new StageFilesystem(b.layers, host.cache),
      args: new ArgScope(),
      cmdSet: false,
      platform: stage.platform ?? host.platform,
    };
  }
  const c = (state.config.config ??= {});
  // Triggers run once, in this stage; they are not inherited further.
  delete c.OnBuild;
  delete c.ArgsEscaped;
  if (!(c.Env ?? []).some((e) => e.startsWith('PATH='))) c.Env = [...(c.Env ?? []), `PATH=${DEFAULT_PATH}`];
  // BuildKit's empty image has WorkingDir "/" (its emptyImage; testDockerfileScratchConfig).
  if (stage.base.kind === 'scratch' && (c.WorkingDir ?? '') === '') c.WorkingDir = '/';
  return state;
}

/**
 * The ARGs a RUN's history names before its command, as BuildKit writes them (`RUN |2 foo=bar2
 * bar=123 /bin/sh -c ls`, its testExportedHistoryFlattenArgs): each ARG declared in the stage
 * once, in the order first declared, with the value the step sees (an ENV of that name wins).
 */
function runArgsPrefix(state: StageState): string {
  if (state.args.size === 0) return '';
  const seen = expansionEnv(state);
  const pairs = [...state.args].map(([key, value]) => `${key}=${seen.get(key) ?? value}`);
  return `|${pairs.length} ${pairs.join(' ')} `;
}

async function dispatch(
  state: StageState,
  instruction: Instruction,
  graph: StageGraph,
  names: ReadonlyMap<string, number>,
  states: ReadonlyMap<number, StageState>,
): Promise<void> {
  switch (instruction.kind) {
    case 'from':
      throw new DockerfileError(instruction.location, 'internal: FROM inside a stage');
    case 'run': {
      if (!state.host.runStep) throw new UnsupportedError(`${instruction.location.file}:${instruction.location.line}: RUN is not supported yet (no RUN executor)`);
      const layer = await state.host.runStep(state, instruction, (i) => states.get(i)?.fs.layers);
      const command = instruction.json ? instruction.args.join(' ') : [...(state.config.config?.Shell ?? ['/bin/sh', '-c']), ...instruction.args].join(' ');
      const createdBy = `RUN ${runArgsPrefix(state)}${command} # buildkit`;
      if (layer) addLayer(state, layer, createdBy);
      else state.steps.push({ createdBy });
      return;
    }
    case 'copy':
    case 'add': {
      let from: CopyFromSource;
      if (instruction.kind === 'copy' && instruction.from !== undefined) {
        const source = resolveCopyFrom(instruction, graph.stages, names, state.index);
        if (source.kind === 'stage') {
          const other = states.get(source.index);
          if (!other) throw new DockerfileError(instruction.location, `internal: stage ${source.index} was not built`);
          from = { fs: other.fs };
        } else if (state.host.namedContext?.(source.reference)?.kind === 'dir') {
          const named = state.host.namedContext(source.reference) as { kind: 'dir'; dir: string };
          // A directory context is sent like the main one: its own .dockerignore applies.
          const ignoreFile = await loadDockerignore(named.dir);
          from = { context: { dir: named.dir, ignore: ignoreFile.patterns.length > 0 ? createIgnoreMatcher(ignoreFile.patterns) : undefined } };
        } else {
          const image = await state.host.openImage(source.reference, state.platform);
          from = { fs: new StageFilesystem(image.layers, state.host.cache) };
        }
      }
      await applyCopy(state, instruction, from);
      return;
    }
    case 'workdir':
      await applyWorkdir(state, instruction);
      return;
    default: {
      const createdBy = applyMetadata(state, instruction);
      if (createdBy !== undefined) state.steps.push({ createdBy });
    }
  }
}

/** The final image config: the target platform, no Docker-only ArgsEscaped. */
function finalizeConfig(config: ImageConfig, platform: Platform): void {
  const p = normalizePlatform(platform);
  config.os = p.os;
  config.architecture = p.architecture;
  if (p.variant !== undefined) config.variant = p.variant;
  else delete config.variant;
  delete config.config?.ArgsEscaped;
}
