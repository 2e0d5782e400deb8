/**
 * Dockerfile front end: parser, AST dump, word expansion and `.dockerignore` handling.
 * @module
 */

export type {
  Dockerfile,
  EscapeToken,
  Heredoc,
  InstructionNode,
  KeyValue,
  ParserDirective,
  ParseWarning,
} from './ast.ts';
export { parseDockerfile } from './parse.ts';
export type { ParseOptions } from './parse.ts';
export { validateDockerfile } from './parse-validate.ts';
export { chompHeredocContent } from './parse-heredoc.ts';
export { dumpAst, dumpInstruction, goQuote } from './dump.ts';
export { expandWord, expandWords, expandWithMatches, WordExpansionError } from './shell.ts';
export type { ExpandOptions, ExpansionEnv, ExpansionResult } from './shell.ts';
export {
  cleanPath,
  createIgnoreMatcher,
  ignoreFileCandidates,
  loadDockerignore,
  parseDockerignore,
  selectIgnoreFile,
} from './ignore.ts';
export type { IgnoreMatcher, LoadedDockerignore, ParseDockerignoreOptions } from './ignore.ts';
export type { CompiledPattern } from './ignore-pattern.ts';

import type { Dockerfile } from './ast.ts';
import { parseDockerfile } from './parse.ts';
import type { ParseOptions } from './parse.ts';
import { validateDockerfile } from './parse-validate.ts';

/**
 * Parses and validates a Dockerfile in one step; throws `DockerfileError` naming file and line.
 * @example
 * ```ts
 * import { DockerfileError, parseInstructions } from 'ocibuild';
 *
 * try {
 *   parseInstructions('FROM busybox\nFROB x\n', { file: 'Dockerfile' });
 * } catch (error) {
 *   if (error instanceof DockerfileError) console.log(`${error.file}:${error.line}: ${error.message}`);
 * }
 * ```
 * @category Dockerfile
 */
export function parseInstructions(text: string, options: ParseOptions = {}): Dockerfile {
  return validateDockerfile(parseDockerfile(text, options));
}
