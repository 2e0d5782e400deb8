import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DockerfileError } from '../../src/errors.ts';
import {
  chompHeredocContent,
  dumpAst,
  parseDockerfile,
  parseInstructions,
} from '../../src/dockerfile/index.ts';
import type { Heredoc } from '../../src/dockerfile/index.ts';

function heredocs(text: string): Heredoc[][] {
  return parseDockerfile(text).instructions.map((n) => n.heredocs);
}

function doc(name: string, content: string, extra: Partial<Heredoc> = {}): Heredoc {
  return { name, content, expand: true, chomp: false, fileDescriptor: 0, ...extra };
}

function rejects(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parseInstructions(text, { file: 'ctx/Dockerfile' }),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      assert.equal(err.code, 'ERR_DOCKERFILE');
      assert.equal(err.file, 'ctx/Dockerfile');
      assert.equal(err.line, line, err.message);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`ctx/Dockerfile:${line}: `), err.message);
      return true;
    },
  );
}

test('here-docs as BuildKit extracts them', () => {
  const text = [
    'FROM alpine:3.6',
    'USER <<INVALID',
    'INVALID',
    'RUN <<EMPTY',
    'EMPTY',
    'RUN 3<<EMPTY2',
    'EMPTY2',
    'RUN "<<NOHEREDOC"',
    'RUN <<INDENT',
    '\tfoo',
    '\tbar',
    'INDENT',
    'RUN <<-UNINDENT',
    '\tbaz',
    '\tquux',
    '\tUNINDENT',
    "RUN <<-'NOEXPAND'",
    "\tdon't expand $NAME",
    'NOEXPAND',
    'RUN <<COMMENT',
    '# internal comment',
    'echo foo bar # trailing comment',
    'COMMENT',
    'RUN --mount=type=cache,target=/foo <<MOUNT',
    'echo hello',
    'MOUNT',
    'COPY <<FILE1 <<FILE2 /dest',
    'content 1',
    'FILE1',
    'content 2',
    'FILE2',
    'COPY <<X <<Y /dest',
    'Y',
    'X',
    'X',
    'Y',
    'RUN <<COMPLEX python3',
    "print('hello world')",
    'COMPLEX',
    "RUN <<eo'f'",
    'echo foo',
    'eof',
    "RUN <<eo\\'f",
    'echo foo',
    "eo'f",
    "RUN <<'e'o\\'f",
    'echo foo',
    "eo'f",
    "RUN <<'one two'",
    'echo bar',
    'one two',
    'RUN <<$EOF',
    '$EOF',
    'RUN <<  EOF',
    'EOF',
    'RUN <<  EOF  > foo',
    'EOF',
    'RUN ["<<EOF"]',
    'RUN <<"EOF"',
    'x',
    'EOF',
    '',
  ].join('\n');
  assert.deepEqual(heredocs(text), [
    [],
    [],
    [],
    [doc('EMPTY', '')],
    [doc('EMPTY2', '', { fileDescriptor: 3 })],
    [],
    [doc('INDENT', '\tfoo\n\tbar\n')],
    [doc('UNINDENT', '\tbaz\n\tquux\n', { chomp: true })],
    [doc('NOEXPAND', "\tdon't expand $NAME\n", { chomp: true, expand: false })],
    [doc('COMMENT', '# internal comment\necho foo bar # trailing comment\n')],
    [doc('MOUNT', 'echo hello\n')],
    [doc('FILE1', 'content 1\n'), doc('FILE2', 'content 2\n')],
    [doc('X', 'Y\n'), doc('Y', 'X\n')],
    [doc('COMPLEX', "print('hello world')\n")],
    [doc('eof', 'echo foo\n', { expand: false })],
    [doc("eo'f", 'echo foo\n')],
    [doc("eo'f", 'echo foo\n', { expand: false })],
    [doc('one two', 'echo bar\n', { expand: false })],
    [doc('$EOF', '')],
    [doc('EOF', '')],
    [doc('EOF', '')],
    [],
    [doc('EOF', 'x\n', { expand: false })],
  ]);
  assert.equal(chompHeredocContent('\thello\n\t\tworld\n'), 'hello\nworld\n');
});

test('here-doc instructions keep their arguments and line range', () => {
  const ast = parseDockerfile('FROM scratch\nCOPY --chmod=755 <<EOF /app/run.sh\n#!/bin/sh\necho hi\nEOF\nLABEL a=b\n');
  const copy = ast.instructions[1]!;
  assert.deepEqual(copy.flags, ['--chmod=755']);
  assert.deepEqual(copy.args, ['<<EOF', '/app/run.sh']);
  assert.equal(copy.startLine, 2);
  assert.equal(copy.endLine, 5);
  assert.equal(ast.instructions[2]!.startLine, 6);
});

test('ONBUILD triggers are nested nodes and may carry here-docs', () => {
  const ast = parseDockerfile('FROM a\nonbuild copy --from=b <<EOF /x\nhi\nEOF\n');
  const onbuild = ast.instructions[1]!;
  assert.equal(onbuild.instruction, 'onbuild');
  assert.equal(onbuild.name, 'onbuild');
  assert.equal(onbuild.next?.instruction, 'copy');
  assert.deepEqual(onbuild.next?.flags, ['--from=b']);
  assert.deepEqual(onbuild.heredocs, [doc('EOF', 'hi\n')]);
  assert.equal(dumpAst(ast), '(from "a")\n(onbuild (copy ["--from=b"] "<<EOF" "/x"))\n');
});

test('an unterminated here-doc is an error at its instruction', () => {
  rejects('FROM a\nRUN <<EOF\necho\n', 2, /unterminated heredoc/);
  // BuildKit ignores a line it cannot lex: no here-doc, the next line is an instruction.
  const unbalanced = parseDockerfile("FROM a\nRUN <<'EOF\necho\n");
  assert.deepEqual(unbalanced.instructions.map((n) => n.heredocs.length), [0, 0, 0]);
});

test('parser directives: escape, syntax, check, case-insensitive, only at the top', () => {
  const ast = parseDockerfile('# Syntax = docker/dockerfile:1\n#ESCAPE=`\n# check=skip=all\nFROM a\nRUN echo \\ `\n  done\n');
  assert.deepEqual(ast.directives, [
    { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
    { name: 'escape', value: '`', line: 2 },
    { name: 'check', value: 'skip=all', line: 3 },
  ]);
  assert.equal(ast.escapeToken, '`');
  assert.deepEqual(ast.instructions[1]!.args, ['echo \\   done']);

  // A directive after a blank line, a comment or an instruction is just a comment.
  for (const text of ['\n# escape=`\nFROM a\n', '# hello\n# escape=`\nFROM a\n', 'FROM a\n# escape=`\n']) {
    const late = parseDockerfile(text);
    assert.equal(late.escapeToken, '\\');
    assert.deepEqual(late.directives, []);
  }
  // An unknown key ends the directive block without an error.
  assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM a\n').escapeToken, '\\');
  rejects('# escape=`\n# escape=\\\nFROM a\n', 2, /only one escape parser directive/);
  rejects('# syntax=a\n# SYNTAX=b\nFROM a\n', 2, /only one syntax parser directive/);
  rejects('# escape=x\nFROM a\n', 1, /invalid escape token 'x'/);
});

test('BOM, CRLF, comments in continuations and positions', () => {
  const ast = parseDockerfile('\ufeffFROM a\r\n  # note\r\n    run echo a \\\r\n# dropped\r\n\r\n    b\r\n');
  assert.equal(ast.instructions.length, 2);
  const run = ast.instructions[1]!;
  assert.equal(run.instruction, 'run');
  assert.equal(run.name, 'run');
  assert.deepEqual(run.args, ['echo a     b']);
  assert.deepEqual(run.comments, ['note']);
  assert.equal(run.startLine, 3);
  assert.equal(run.endLine, 6);
  assert.equal(run.column, 5);
  assert.equal(ast.warnings.length, 1);
  assert.equal(ast.warnings[0]!.rule, 'NoEmptyContinuation');
});

test('flags come off the front with quotes removed; JSON and shell forms', () => {
  const ast = parseDockerfile(
    [
      'FROM --platform=$BUILDPLATFORM golang AS build',
      'COPY --from=build --chown="app user" --link a "b c" /dst/',
      'RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=x make',
      'CMD ["a", 1]x',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'VOLUME ["/a", "/b"]',
      'SHELL ["powershell", "-command"]',
      'ENV A=1 B="two words" C=3',
      'LABEL version 1.0 beta',
      'EXPOSE 80/tcp 53/udp',
      '',
    ].join('\n'),
  );
  const [from, copy, run, cmd, entrypoint, volume, shell, env, label, expose] = ast.instructions;
  assert.deepEqual(from!.flags, ['--platform=$BUILDPLATFORM']);
  assert.deepEqual(from!.args, ['golang', 'AS', 'build']);
  assert.deepEqual(copy!.flags, ['--from=build', '--chown=app user', '--link']);
  assert.deepEqual(copy!.args, ['a', '"b', 'c"', '/dst/']);
  assert.deepEqual(run!.flags, ['--mount=type=cache,target=/root/.cache', '--mount=type=secret,id=x']);
  assert.deepEqual(run!.args, ['make']);
  assert.equal(cmd!.json, false);
  assert.deepEqual(cmd!.args, ['["a", 1]x']);
  assert.equal(entrypoint!.json, true);
  assert.deepEqual(volume!.args, ['/a', '/b']);
  assert.equal(shell!.json, true);
  assert.deepEqual(env!.pairs, [
    { key: 'A', value: '1', separator: '=' },
    { key: 'B', value: '"two words"', separator: '=' },
    { key: 'C', value: '3', separator: '=' },
  ]);
  assert.deepEqual(label!.pairs, [{ key: 'version', value: '1.0 beta', separator: '' }]);
  assert.deepEqual(expose!.args, ['80/tcp', '53/udp']);
});

test('parse errors name file and line', () => {
  rejects('FROM a\n\nENV PATH\n', 3, /ENV must have two arguments/);
  rejects('FROM a\nLABEL a=b c\n', 2, /can't find =/);
  rejects('FROM a\nCMD [ "echo", [ "nested" ] ]\n', 2, /strings only/);
  rejects('', 1, /no instructions/);
  rejects('# only\n# comments\n', 2, /no instructions/);
});

test('validation rejects what BuildKit rejects before building', () => {
  rejects('FROM a\n\nFOO bar\n', 3, /unknown instruction: FOO/);
  rejects('FROM a\nONBUILD BAR x\n', 2, /unknown instruction: BAR/);
  rejects('FROM a\nSHELL /bin/sh -c\n', 2, /SHELL requires the arguments to be in JSON form/);
  rejects('FROM a\nARG\n', 2, /ARG requires at least one argument/);
  rejects('FROM a\nARG =x\n', 2, /ARG names can not be blank/);
  rejects('FROM a\nCOPY onlyone\n', 2, /at least two arguments/);
  rejects('FROM a\nONBUILD ONBUILD RUN x\n', 2, /Chaining ONBUILD/);
  rejects('FROM a\nONBUILD FROM b\n', 2, /FROM isn't allowed as an ONBUILD trigger/);
  rejects('ARG v=1\nRUN x\nFROM a\n', 2, /no build stage/);
  rejects('FROM\n', 1, /FROM requires at least one argument/);
  // The positive forms pass.
  const ok = parseInstructions('ARG v=1\nFROM a:$v\nCOPY <<EOF /x\nhi\nEOF\nONBUILD RUN make\n');
  assert.equal(ok.instructions.length, 4);
});

test('errors carry the column of the instruction', () => {
  assert.throws(
    () => parseInstructions('FROM a\n   FOO x\n'),
    (err: unknown) => err instanceof DockerfileError && err.line === 2 && err.column === 4,
  );
});

test('unknown instructions dump as BuildKit prints them', () => {
  assert.equal(dumpAst(parseDockerfile('FROM a\nfoo bar baz\n')), '(from "a")\n(foo "")\n');
});
