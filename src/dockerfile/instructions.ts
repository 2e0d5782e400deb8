/**
 * Typed, validated Dockerfile instructions built from parser nodes: flags checked against the
 * set each instruction accepts (as BuildKit's `instructions` package does), arguments grouped
 * into named fields. Words are NOT expanded here: expansion needs the build state and happens
 * in the interpreter, one instruction at a time.
 * @module
 */

import { closestName, DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import type { Heredoc, InstructionNode, KeyValue } from './ast.ts';
import { parseGoDuration } from './go-duration.ts';
import { unknownInstructionMessage } from './parse-line.ts';

export { formatGoDuration, parseGoDuration } from './go-duration.ts';

/** Where an instruction was written. */
export interface InstructionBase {
  /** The parser node it came from. */
  node: InstructionNode;
  /** File and first line, for errors. */
  location: DockerfileLocation;
}

/** `FROM [--platform=P] IMAGE [AS NAME]`. */
export interface FromInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'from';
  /** The image word, unexpanded. */
  image: string;
  /** Stage name (lower-cased as BuildKit compares them), when `AS` is given. */
  name: string | undefined;
  /** `--platform` value, unexpanded. */
  platform: string | undefined;
}

/** One `ARG` declaration. */
export interface ArgDeclaration {
  /** Variable name. */
  name: string;
  /** Default value as written (unexpanded), when given. */
  value: string | undefined;
}

/** `ARG NAME[=default] ...`. */
export interface ArgInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'arg';
  /** The declarations in order. */
  args: ArgDeclaration[];
}

/** `ENV` or `LABEL` key/value pairs (unexpanded). */
export interface PairsInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'env' | 'label';
  /** The pairs. */
  pairs: KeyValue[];
}

/** Instructions with a single word argument (unexpanded): USER, WORKDIR, STOPSIGNAL, MAINTAINER. */
export interface WordInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'user' | 'workdir' | 'stopsignal' | 'maintainer';
  /** The argument. */
  value: string;
}

/** `EXPOSE` and `VOLUME`: a list of words (unexpanded). */
export interface ListInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'expose' | 'volume';
  /** The words. */
  values: string[];
}

/** `CMD`, `ENTRYPOINT`, `SHELL`: exec form (json) or shell form (one string). */
export interface CommandInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'cmd' | 'entrypoint' | 'shell';
  /** The arguments: the JSON array, or a single command string in shell form. */
  args: string[];
  /** True for exec (JSON) form. */
  json: boolean;
}

/** `RUN`: kept typed so a RUN executor can be plugged in later. */
export interface RunInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'run';
  /** The arguments as for CMD. */
  args: string[];
  /** Exec form. */
  json: boolean;
  /** `--mount`, `--network`, `--security` flags as written. */
  flags: Record<string, string[]>;
  /** Here-documents. */
  heredocs: Heredoc[];
}

/** `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD ...`. */
export interface HealthcheckInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'healthcheck';
  /** `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", command]`. */
  test: string[];
  /** Durations in nanoseconds (0 = inherit the runtime default). */
  interval: number;
  /** Timeout in nanoseconds. */
  timeout: number;
  /** Start period in nanoseconds. */
  startPeriod: number;
  /** Start interval in nanoseconds. */
  startInterval: number;
  /** Retries (0 = default). */
  retries: number;
}

/** `ONBUILD INSTRUCTION`. */
export interface OnbuildInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'onbuild';
  /** The trigger text as stored in the image config (`COPY a b`). */
  expression: string;
  /** The trigger, typed. */
  trigger: Instruction;
}

/** `COPY` and `ADD`. */
export interface CopyInstruction extends InstructionBase {
  /** Discriminant: the instruction name. */
  kind: 'copy' | 'add';
  /** Source words (unexpanded); here-doc sources appear as `<<NAME`. */
  sources: string[];
  /** Destination word (unexpanded). */
  dest: string;
  /** Here-documents named by `<<NAME` sources. */
  heredocs: Heredoc[];
  /** `--from` (COPY only), never expanded. */
  from: string | undefined;
  /** `--chown`, unexpanded. */
  chown: string | undefined;
  /** `--chmod`, unexpanded. */
  chmod: string | undefined;
  /** `--link`. */
  link: boolean;
  /** `--parents` (COPY only). */
  parents: boolean;
  /** `--exclude` patterns, unexpanded. */
  exclude: string[];
  /** `--checksum` (ADD only). */
  checksum: string | undefined;
  /** `--keep-git-dir` (ADD only): keep the `.git` directory of a git source. */
  keepGitDir: boolean;
  /** True when `--keep-git-dir` was written (either value): http(s) URLs are then git sources. */
  keepGitDirGiven?: boolean;
  /** `--unpack` (ADD only): undefined means the default (local archives unpacked, URLs not). */
  unpack: boolean | undefined;
}

/** Any typed instruction. */
export type Instruction =
  | FromInstruction
  | ArgInstruction
  | PairsInstruction
  | WordInstruction
  | ListInstruction
  | CommandInstruction
  | RunInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | CopyInstruction;

type FlagKind = 'string' | 'bool' | 'list';

/** Flags each instruction accepts (BuildKit's BFlags definitions). */
const FLAGS: Readonly<Record<string, Readonly<Record<string, FlagKind>>>> = {
  from: { platform: 'string' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  add: { chown: 'string', chmod: 'string', link: 'bool', exclude: 'list', checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool' },
  run: { mount: 'list', network: 'string', security: 'string' },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

interface ParsedFlags {
  strings: Map<string, string>;
  bools: Map<string, boolean>;
  lists: Map<string, string[]>;
}

function parseFlags(node: InstructionNode, location: DockerfileLocation): ParsedFlags {
  const allowed = FLAGS[node.instruction] ?? {};
  const out: ParsedFlags = { strings: new Map(), bools: new Map(), lists: new Map() };
  for (const raw of node.flags) {
    if (!raw.startsWith('--')) throw new DockerfileError(location, `invalid flag ${JSON.stringify(raw)} for ${node.name}`);
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = (eq < 0 ? body : body.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = allowed[name];
    if (kind === undefined) {
      const near = closestName(name, Object.keys(allowed));
      const hint = near !== undefined ? `did you mean ${near}?` : `${node.name.toUpperCase()} accepts: ${Object.keys(allowed).map((f) => `--${f}`).join(', ') || 'no flags'}`;
      throw new DockerfileError(location, `unknown flag: ${name} (${hint})`);
    }
    if (kind === 'bool') {
      if (value === undefined || value.toLowerCase() === 'true') out.bools.set(name, true);
      else if (value.toLowerCase() === 'false') out.bools.set(name, false);
      else throw new DockerfileError(location, `expecting boolean value for flag ${name}, not: ${value}`);
      continue;
    }
    if (value === undefined) throw new DockerfileError(location, `missing a value on flag: ${name}`);
    if (kind === 'list') {
      out.lists.set(name, [...(out.lists.get(name) ?? []), value]);
    } else {
      if (out.strings.has(name)) throw new DockerfileError(location, `duplicate flag specified: ${name}`);
      out.strings.set(name, value);
    }
  }
  return out;
}

function healthDuration(flags: ParsedFlags, name: string, location: DockerfileLocation): number {
  const text = flags.strings.get(name);
  if (text === undefined) return 0;
  let ns: number;
  try {
    ns = parseGoDuration(text);
  } catch {
    throw new DockerfileError(location, `invalid duration for --${name}: ${JSON.stringify(text)}`);
  }
  // BuildKit: a non-zero duration below 1ms is refused (0 means "use the default").
  if (ns !== 0 && ns < 1e6) throw new DockerfileError(location, `--${name} cannot be less than 1ms`);
  return ns;
}

function parseHealthcheck(node: InstructionNode, flags: ParsedFlags, base: InstructionBase): HealthcheckInstruction {
  const { location } = base;
  const type = (node.args[0] ?? '').toUpperCase();
  const empty = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (type === 'NONE') {
    if (node.args.length > 1) throw new DockerfileError(location, 'HEALTHCHECK NONE takes no arguments');
    return { ...base, kind: 'healthcheck', test: ['NONE'], ...empty };
  }
  if (type !== 'CMD') throw new DockerfileError(location, `unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  const rest = node.args.slice(1);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) throw new DockerfileError(location, 'missing command after HEALTHCHECK CMD');
  const test = node.json ? ['CMD', ...rest] : ['CMD-SHELL', rest[0] as string];
  const retriesText = flags.strings.get('retries');
  let retries = 0;
  if (retriesText !== undefined) {
    if (!/^-?\d+$/.test(retriesText)) throw new DockerfileError(location, `invalid --retries value ${JSON.stringify(retriesText)}`);
    retries = Number(retriesText);
    if (retries < 0) throw new DockerfileError(location, '--retries cannot be negative');
  }
  return {
    ...base,
    kind: 'healthcheck',
    test,
    interval: healthDuration(flags, 'interval', location),
    timeout: healthDuration(flags, 'timeout', location),
    startPeriod: healthDuration(flags, 'start-period', location),
    startInterval: healthDuration(flags, 'start-interval', location),
    retries,
  };
}

function parseArgs(node: InstructionNode, location: DockerfileLocation): ArgDeclaration[] {
  return node.args.map((word) => {
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (name === '') throw new DockerfileError(location, 'ARG names can not be blank');
    return { name, value: eq < 0 ? undefined : word.slice(eq + 1) };
  });
}

function parseCopy(node: InstructionNode, flags: ParsedFlags, base: InstructionBase): CopyInstruction {
  const { location } = base;
  const kind = node.instruction as 'copy' | 'add';
  if (node.args.length < 2) throw new DockerfileError(location, `${kind.toUpperCase()} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const sources = node.args.slice(0, -1);
  const dest = node.args[node.args.length - 1] as string;
  const unpack = flags.bools.get('unpack');
  return {
    ...base,
    kind,
    sources,
    dest,
    heredocs: node.heredocs,
    from: flags.strings.get('from'),
    chown: flags.strings.get('chown'),
    chmod: flags.strings.get('chmod'),
    link: flags.bools.get('link') ?? false,
    parents: flags.bools.get('parents') ?? false,
    exclude: flags.lists.get('exclude') ?? [],
    checksum: flags.strings.get('checksum'),
    keepGitDir: flags.bools.get('keep-git-dir') ?? false,
    ...(flags.bools.has('keep-git-dir') ? { keepGitDirGiven: true } : {}),
    unpack,
  };
}

/**
 * `RUN --mount=...,from=$X`: BuildKit refuses variables in `from` when it first parses the
 * mount, before any expansion, whether or not `X` is defined (instructions/commands_runmount.go;
 * testMountFromError). A `$` as the last character is not a variable.
 */
function rejectMountFromVariable(mount: string, location: DockerfileLocation): void {
  for (const field of mount.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0 || field.slice(0, eq).trim().toLowerCase() !== 'from') continue;
    const value = field.slice(eq + 1);
    const dollar = value.indexOf('$');
    if (dollar >= 0 && dollar !== value.length - 1) {
      throw new DockerfileError(location, "'from' doesn't support variable expansion, define alias stage instead");
    }
  }
}

/**
 * Turns one parser node into a typed instruction. Throws {@link DockerfileError} (file and line)
 * for unknown instructions, unknown or malformed flags, and malformed arguments.
 */
export function parseInstruction(node: InstructionNode, file: string): Instruction {
  const location: DockerfileLocation = { file, line: node.startLine, column: node.column };
  const base: InstructionBase = { node, location };
  const flags = parseFlags(node, location);
  switch (node.instruction) {
    case 'from': {
      const [image, as, name, ...extra] = node.args;
      if (image === undefined) throw new DockerfileError(location, 'FROM requires either one or three arguments');
      if (as !== undefined && (as.toLowerCase() !== 'as' || name === undefined || extra.length > 0)) {
        throw new DockerfileError(location, 'FROM requires either one or three arguments');
      }
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/i.test(name)) {
        throw new DockerfileError(location, `invalid name for build stage: ${JSON.stringify(name)}, name can't start with a number or contain symbols`);
      }
      return { ...base, kind: 'from', image, name: name?.toLowerCase(), platform: flags.strings.get('platform') };
    }
    case 'arg':
      if (node.args.length === 0) throw new DockerfileError(location, 'ARG requires at least one argument');
      return { ...base, kind: 'arg', args: parseArgs(node, location) };
    case 'env':
    case 'label':
      if (!node.pairs || node.pairs.length === 0) throw new DockerfileError(location, `${node.instruction.toUpperCase()} requires at least one argument`);
      return { ...base, kind: node.instruction, pairs: node.pairs };
    case 'user':
    case 'workdir':
    case 'stopsignal':
    case 'maintainer': {
      const value = node.args[0];
      if (value === undefined || value === '') throw new DockerfileError(location, `${node.instruction.toUpperCase()} requires exactly one argument`);
      return { ...base, kind: node.instruction, value };
    }
    case 'expose':
    case 'volume':
      if (node.args.length === 0) throw new DockerfileError(location, `${node.instruction.toUpperCase()} requires at least one argument`);
      return { ...base, kind: node.instruction, values: node.args };
    case 'shell':
      if (!node.json) throw new DockerfileError(location, 'SHELL requires the arguments to be in JSON form');
      if (node.args.length === 0) throw new DockerfileError(location, 'SHELL requires at least one argument');
      return { ...base, kind: 'shell', args: node.args, json: true };
    case 'cmd':
    case 'entrypoint':
      return { ...base, kind: node.instruction, args: node.args, json: node.json };
    case 'run':
      for (const mount of flags.lists.get('mount') ?? []) rejectMountFromVariable(mount, location);
      return {
        ...base,
        kind: 'run',
        args: node.args,
        json: node.json,
        heredocs: node.heredocs,
        flags: Object.fromEntries([...flags.lists.entries(), ...[...flags.strings.entries()].map(([k, v]) => [k, [v]] as const)]),
      };
    case 'healthcheck':
      return parseHealthcheck(node, flags, base);
    case 'onbuild': {
      const next = node.next;
      if (!next) throw new DockerfileError(location, 'ONBUILD requires at least one argument');
      if (next.instruction === 'onbuild') throw new DockerfileError(location, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (next.instruction === 'from' || next.instruction === 'maintainer') {
        throw new DockerfileError(location, `${next.instruction.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      }
      const trigger = parseInstruction(next, file);
      return { ...base, kind: 'onbuild', expression: onbuildExpression(node), trigger };
    }
    case 'copy':
    case 'add':
      return parseCopy(node, flags, base);
    default:
      throw new DockerfileError(location, unknownInstructionMessage(node.name));
  }
}

/**
 * The text after `ONBUILD` as BuildKit stores it in the config (leading blanks removed). A
 * trigger with here-documents keeps their bodies and terminators after its first line, so a
 * child build parses `RUN <<EOF` with its script (BuildKit's parseOnBuild; testOnBuildHeredoc).
 */
function onbuildExpression(node: InstructionNode): string {
  let expression = node.original.replace(/^\s*onbuild\s+/i, '');
  for (const doc of node.heredocs) expression += `\n${doc.content}${doc.name}`;
  return expression;
}
