/**
 * The inputs of each Dockerfile step's cache key (see `docs/cache.md`): the instruction after
 * expansion in a canonical JSON form with all its flags, the variables it can see (RUN) or
 * used (others), and the content it reads (COPY/ADD sources after `.dockerignore`, ADD URLs,
 * `RUN --mount=type=bind` sources, `--from` stages and images).
 * @module
 */
import { DockerfileError } from '../errors.ts';
import { formatPlatform } from '../oci/platform.ts';
import { parseMountFlag } from '../run/mounts.ts';
import { chompHeredocContent } from '../dockerfile/parse-heredoc.ts';
import { expandWithMatches } from '../dockerfile/shell.ts';
import { collectContextSources, type CopyItem } from '../dockerfile/copy.ts';
import { downloadItem, isUrlSource } from '../dockerfile/copy-archive.ts';
import { destinationPath } from '../dockerfile/interpret-copy.ts';
import { parseGitSource } from '../dockerfile/git-ref.ts';
import { expansionEnv, type StageState, type StepPlanContext } from '../dockerfile/interpret-state.ts';
import { runCommand } from '../dockerfile/run-command.ts';
import type { CopyInstruction, Instruction, RunInstruction, WordInstruction } from '../dockerfile/instructions.ts';
import { hashCopyItems, type FileDigestMemo } from './steps-sources.ts';
import type { StepInputs } from './steps-key.ts';

/** What computing inputs needs besides the stage state. */
export interface InputContext {
  /** The plan context the interpreter passed. */
  plan: StepPlanContext;
  /** Final key of an earlier stage (planned already); undefined when it has none. */
  stageKey(index: number): string | undefined;
  /** File digest memo for context files. */
  memo: FileDigestMemo;
  /** Abort signal. */
  signal?: AbortSignal;
}

/** Inputs without the parent key (the caller chains it). */
export type OwnInputs = Omit<StepInputs, 'parent'>;

/** Expands words and records the variables they used. */
class Expander {
  readonly used = new Map<string, string>();
  readonly #env: Map<string, string>;
  constructor(
    private readonly state: StageState,
    private readonly instruction: Instruction,
  ) {
    this.#env = expansionEnv(state);
  }

  word(word: string, heredoc = false): string {
    try {
      const r = expandWithMatches(word, this.#env, { escape: this.state.host.escape, ...(heredoc ? { skipProcessQuotes: true } : {}) });
      for (const name of r.matched) this.used.set(name, this.#env.get(name) ?? '');
      return r.result;
    } catch (error) {
      throw new DockerfileError(this.instruction.location, (error as Error).message, { cause: error });
    }
  }

  variables(): Record<string, string> {
    return Object.fromEntries(this.used);
  }
}

function platformOf(state: StageState): string {
  return formatPlatform(state.platform);
}

/** Inputs of a config-only step: its history text says everything (ARG: names only, values count where used). */
export function metadataInputs(state: StageState, instruction: Instruction, createdBy: string | undefined): OwnInputs {
  let text = createdBy ?? '';
  if (instruction.kind === 'arg') text = `ARG ${instruction.args.map((a) => a.name).join(' ')}`;
  else if (instruction.kind === 'onbuild') text = `ONBUILD ${instruction.expression}`;
  return { instruction: text, variables: {}, platform: platformOf(state), sources: [], extra: {} };
}

/** Inputs of WORKDIR: the resolved directory and the user who would own a created one. */
export function workdirInputs(state: StageState, instruction: WordInstruction): OwnInputs {
  const x = new Expander(state, instruction);
  const value = x.word(instruction.value);
  const previous = state.config.config?.WorkingDir || '/';
  const text = JSON.stringify(['WORKDIR', previous, value, state.config.config?.User ?? '']);
  return { instruction: text, variables: x.variables(), platform: platformOf(state), sources: [], extra: {} };
}

/** Inputs of COPY/ADD (hashes every context source; downloads an ADD URL without `--checksum`). */
export async function copyInputs(state: StageState, i: CopyInstruction, ctx: InputContext): Promise<OwnInputs> {
  const host = state.host;
  const x = new Expander(state, i);
  const heredocByName = new Map(i.heredocs.map((h) => [h.name, h]));
  const words: string[] = [];
  const heredocs: [string, string][] = [];
  for (const raw of i.sources) {
    const m = /^<<-?(['"]?)(.+)\1$/.exec(raw);
    const doc = m ? heredocByName.get(m[2] as string) : undefined;
    if (doc) {
      const content = doc.chomp ? chompHeredocContent(doc.content) : doc.content;
      heredocs.push([doc.name, doc.expand ? x.word(content, true) : content]);
    } else words.push(x.word(raw));
  }
  const destWord = x.word(i.dest);
  const canonical = {
    kind: i.kind,
    words,
    heredocs,
    dest: destinationPath(destWord, state.config.config?.WorkingDir),
    from: i.from ?? null,
    chown: i.chown !== undefined ? x.word(i.chown) : null,
    chmod: i.chmod !== undefined ? x.word(i.chmod) : null,
    link: i.link,
    parents: i.parents,
    exclude: i.exclude.map((e) => x.word(e)),
    checksum: i.checksum ?? null,
    unpack: i.unpack ?? null,
    keepGitDir: i.keepGitDir,
  };
  const extra: Record<string, string> = {};
  let sources: [string, string][] = [];
  const from = ctx.plan.copyFrom;
  if (from !== undefined) {
    if ('stage' in from) extra[`stage ${i.from}`] = ctx.stageKey(from.stage) ?? uncacheable(i, `stage ${from.stage} has no key`);
    else extra[`image ${i.from}`] = from.image.digest ?? uncacheable(i, 'the --from image has no digest');
  } else {
    // A git ref (a branch) moves: the step is fetched, never taken from the cache.
    if (i.kind === 'add' && words.some((w) => parseGitSource(w, { keepGitDirGiven: i.keepGitDirGiven === true }) !== undefined)) uncacheable(i, 'ADD of a git repository');
    const collect = { location: i.location, what: i.kind.toUpperCase(), exclude: canonical.exclude, parents: i.parents };
    const local = words.filter((w) => !(i.kind === 'add' && isUrlSource(w)));
    const items: CopyItem[] = await collectContextSources(local, { dir: host.contextDir, ignore: host.ignore }, collect);
    for (const url of words.filter((w) => i.kind === 'add' && isUrlSource(w))) {
      // With --checksum the content is known without downloading; otherwise the content is the key.
      if (i.checksum !== undefined) extra[`url ${url}`] = i.checksum;
      else items.push(await downloadItem(url, { workDir: host.workDir, checksum: undefined, location: i.location, signal: ctx.signal }));
    }
    sources = await hashCopyItems(items, { contextDir: host.contextDir, memo: ctx.memo, signal: ctx.signal });
  }
  return { instruction: JSON.stringify(canonical), variables: x.variables(), platform: platformOf(state), sources, extra };
}

/** Inputs of RUN: the command, every ARG in scope and the env, WORKDIR, USER, flags, bind mount sources. */
export async function runInputs(state: StageState, i: RunInstruction, ctx: InputContext): Promise<OwnInputs> {
  const config = state.config.config ?? {};
  const workdir = config.WorkingDir || '/';
  const command = runCommand({ args: i.args, json: i.json, heredocs: i.heredocs, shell: config.Shell });
  const variables: Record<string, string> = Object.fromEntries(state.args);
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    variables[eq < 0 ? entry : entry.slice(0, eq)] = eq < 0 ? '' : entry.slice(eq + 1);
  }
  const canonical = { kind: 'run', argv: command.argv, script: command.script ?? null, workdir, user: config.User ?? '', flags: i.flags };
  const extra: Record<string, string> = {};
  // The step's hostname (BuildKit's BUILDKIT_SANDBOX_HOSTNAME build arg) is what `hostname` prints.
  const hostname = state.host.buildArgs['BUILDKIT_SANDBOX_HOSTNAME'];
  if (hostname) extra['sandbox hostname'] = hostname;
  let sources: [string, string][] = [];
  const x = new Expander(state, i);
  for (const [n, flag] of (i.flags.mount ?? []).entries()) {
    const spec = parseMountFlag(flag, workdir, (w) => x.word(w));
    if (spec.type !== 'bind') continue;
    if (spec.from === undefined) {
      const collect = { location: i.location, what: 'RUN --mount', exclude: [], parents: false };
      const items = await collectContextSources([spec.source], { dir: state.host.contextDir, ignore: undefined }, collect);
      const hashed = await hashCopyItems(items, { contextDir: state.host.contextDir, memo: ctx.memo, signal: ctx.signal });
      sources = sources.concat(hashed.map(([p, d]) => [`mount ${n}: ${p}`, d] as [string, string]));
      continue;
    }
    const stage = ctx.plan.stageIndex(spec.from);
    if (stage !== undefined) extra[`mount ${n} stage ${spec.from}`] = ctx.stageKey(stage) ?? uncacheable(i, `stage ${spec.from} has no key`);
    else extra[`mount ${n} image ${spec.from}`] = (await state.host.openImage(spec.from, state.platform)).digest ?? uncacheable(i, `--mount from=${spec.from} has no digest`);
  }
  return { instruction: JSON.stringify(canonical), variables, platform: platformOf(state), sources, extra };
}

/** Thrown when a step's inputs cannot be fully known: the step and its successors are then not cached. */
export class UncacheableStep extends Error {}

function uncacheable(i: Instruction, why: string): never {
  throw new UncacheableStep(`${i.location.file}:${i.location.line}: ${why}`);
}
