/**
 * What a RUN instruction executes, decided the way BuildKit's dockerfile2llb does: exec form as
 * written; shell form wrapped in the stage's SHELL (default `/bin/sh -c`); a RUN that is only a
 * here-doc runs the document's text in that shell, or, when the text starts with `#!`, runs it as
 * an executable file (placed at `/dev/pipes/NAME`); other here-docs are handed back to the shell
 * as written, so it does the here-doc itself. Also the RUN environment: ARGs in scope (and the
 * predefined proxy args), overridden by ENV. Pure: no I/O.
 * @module
 */
import type { Heredoc } from './ast.ts';
import { chompHeredocContent, parseHeredocWord } from './parse-heredoc.ts';
import { PROXY_ARGS } from './stages.ts';

/** The shell BuildKit and Docker use when SHELL was never set. */
export const DEFAULT_RUN_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** Where BuildKit mounts a `#!` here-doc script. */
export const HEREDOC_SCRIPT_DIR = '/dev/pipes';

/** A RUN's command, plus a script file to mount for `#!` here-docs. */
export interface RunCommand {
  /** The argv to execute. */
  argv: string[];
  /** A file to provide at `path` (mode 0755) for the duration of the step. */
  script?: { path: string; content: string };
}

/** The inputs of {@link runCommand}: a RUN instruction's parsed form. */
export interface RunCommandInput {
  /** The instruction's arguments (one string in shell form). */
  args: readonly string[];
  /** Exec (JSON) form. */
  json: boolean;
  /** Here-documents of the instruction. */
  heredocs: readonly Heredoc[];
  /** The stage's SHELL, if set. */
  shell: readonly string[] | undefined;
}

function withShell(shell: readonly string[] | undefined, args: readonly string[]): string[] {
  return [...(shell !== undefined && shell.length > 0 ? shell : DEFAULT_RUN_SHELL), ...args];
}

function isOnlyHeredoc(line: string): boolean {
  try {
    return parseHeredocWord(line.trim()) !== undefined;
  } catch {
    return false;
  }
}

/** Computes the argv of a RUN (see the module comment). */
export function runCommand(input: RunCommandInput): RunCommand {
  if (input.json) return { argv: [...input.args] };
  const line = input.args.join(' ');
  const first = input.heredocs[0];
  if (first === undefined) return { argv: withShell(input.shell, [line]) };
  const data = first.chomp ? chompHeredocContent(first.content) : first.content;
  if (input.heredocs.length === 1 && isOnlyHeredoc(line)) {
    // As BuildKit: the expand flag is ignored here, the shell expands the script when it runs.
    if (data.startsWith('#!')) {
      const file = `${HEREDOC_SCRIPT_DIR}/${first.name}`;
      return { argv: withShell(input.shell, [file]), script: { path: file, content: data } };
    }
    return { argv: withShell(input.shell, [data]) };
  }
  // Several documents, or a command line around one: the shell reads the here-docs itself.
  let full = line;
  for (const doc of input.heredocs) full += `\n${doc.content}${doc.name}`;
  return { argv: withShell(input.shell, [full]) };
}

/** Splits `KEY=value` (a bare `KEY` has an empty value). */
function splitEnv(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/**
 * The environment of a RUN: ARGs in scope (they are visible to RUN but never persisted), the
 * proxy build args even when undeclared (as Docker does), then the config's Env, which wins over
 * an ARG of the same name (Dockerfile reference, "Using ARG variables").
 */
export function runEnvironment(config: readonly string[] | undefined, args: ReadonlyMap<string, string>, buildArgs: Readonly<Record<string, string>>): string[] {
  const env = new Map<string, string>();
  for (const [key, value] of proxyEnvironment(buildArgs)) env.set(key, value);
  for (const [key, value] of args) env.set(key, value);
  for (const entry of config ?? []) {
    const [key, value] = splitEnv(entry);
    env.delete(key);
    env.set(key, value);
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * The proxy variables a RUN gets from the build args: BuildKit takes each proxy build arg
 * whatever its case (`--build-arg http_proxy=…` or `HTTP_PROXY=…`) and sets both spellings
 * (`HTTP_PROXY` and `http_proxy`), as tools read one or the other (its testBuiltinArgs). When
 * both spellings are given, each keeps its own value.
 */
export function proxyEnvironment(buildArgs: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const lower of new Set([...PROXY_ARGS].map((name) => name.toLowerCase()))) {
    const upper = lower.toUpperCase();
    if (!Object.hasOwn(buildArgs, lower) && !Object.hasOwn(buildArgs, upper)) continue;
    const lowerValue = buildArgs[lower] ?? buildArgs[upper] ?? '';
    const upperValue = buildArgs[upper] ?? buildArgs[lower] ?? '';
    out.set(upper, upperValue);
    out.set(lower, lowerValue);
  }
  return out;
}

/** A short, single-line form of a command for error messages. */
export function summarizeCommand(argv: readonly string[], max = 120): string {
  const text = argv.join(' ').replace(/\s*\n\s*/g, ' ⏎ ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The shortest secret value (or line of one) that {@link redactSecrets} hides; shorter ones would mangle any text. */
export const MIN_REDACTED_LENGTH = 4;

/**
 * The strings that stand for secret `values` in text: each whole value and each of its lines,
 * trimmed, when at least {@link MIN_REDACTED_LENGTH} characters long; longest first, so a value
 * is hidden before a line of it.
 */
export function secretNeedles(values: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const value of values) {
    for (const candidate of [value, value.trim(), ...value.split(/\r?\n/).map((l) => l.trim())]) {
      if (candidate.length >= MIN_REDACTED_LENGTH) needles.add(candidate);
    }
  }
  return [...needles].sort((a, b) => b.length - a.length);
}

/**
 * Replaces every occurrence of a secret value in `text` with `***` (see {@link secretNeedles}).
 * Used on a failing step's stderr tail and on sandbox errors before they reach an error message.
 */
export function redactSecrets(text: string, values: readonly string[]): string {
  return secretNeedles(values).reduce((out, needle) => out.split(needle).join('***'), text);
}
