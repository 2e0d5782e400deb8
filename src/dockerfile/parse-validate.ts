/**
 * Instruction-level checks that BuildKit makes after parsing (in its `instructions` package)
 * and that need no build state: unknown instructions, missing arguments, SHELL not in JSON
 * form, blank ARG names, invalid ONBUILD triggers, instructions before the first FROM.
 * Flag names and values are checked by the typed instruction layer.
 * @module
 */

import { DockerfileError } from '../errors.ts';
import type { Dockerfile, InstructionNode } from './ast.ts';
import { isKnownInstruction, unknownInstructionMessage } from './parse-line.ts';

/** Minimum number of arguments per instruction (ENV/LABEL count key/value triples). */
const MIN_ARGS: Readonly<Record<string, number>> = {
  from: 1,
  arg: 1,
  env: 1,
  label: 1,
  expose: 1,
  user: 1,
  workdir: 1,
  volume: 1,
  stopsignal: 1,
  maintainer: 1,
  shell: 1,
  healthcheck: 1,
};

/**
 * Rejects what BuildKit rejects before building. Throws {@link DockerfileError} naming the file
 * and line of the first problem; returns the same tree for chaining.
 */
export function validateDockerfile(ast: Dockerfile): Dockerfile {
  let seenFrom = false;
  for (const node of ast.instructions) {
    validateInstruction(ast.file, node, false);
    if (node.instruction === 'from') seenFrom = true;
    else if (node.instruction !== 'arg' && !seenFrom) {
      throw locate(ast.file, node, `no build stage in current context: ${node.name} must come after FROM`);
    }
  }
  return ast;
}

function validateInstruction(file: string, node: InstructionNode, isTrigger: boolean): void {
  const upper = node.instruction.toUpperCase();
  if (!isKnownInstruction(node.instruction)) {
    throw locate(file, node, unknownInstructionMessage(node.name));
  }
  const min = MIN_ARGS[node.instruction];
  if (min !== undefined && node.args.length < min) {
    throw locate(file, node, `${upper} requires at least one argument`);
  }
  switch (node.instruction) {
    case 'copy':
    case 'add':
      if (node.args.length < 2) throw locate(file, node, `${upper} requires at least two arguments`);
      break;
    case 'shell':
      if (!node.json) throw locate(file, node, 'SHELL requires the arguments to be in JSON form');
      break;
    case 'arg':
      for (const word of node.args) {
        if (word.split('=', 1)[0] === '') throw locate(file, node, 'ARG names can not be blank');
      }
      break;
    case 'onbuild':
      if (!node.next) throw locate(file, node, 'ONBUILD requires at least one argument');
      if (isTrigger) throw locate(file, node, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (node.next.instruction === 'onbuild') {
        throw locate(file, node, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      }
      if (node.next.instruction === 'from' || node.next.instruction === 'maintainer') {
        throw locate(file, node, `${node.next.name.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      }
      validateInstruction(file, node.next, true);
      break;
  }
}

function locate(file: string, node: InstructionNode, message: string): DockerfileError {
  return new DockerfileError({ file, line: node.startLine, column: node.column }, message);
}
