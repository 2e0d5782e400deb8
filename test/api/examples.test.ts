/**
 * Every `@example` of the public API compiles: each fenced block of an exported declaration's
 * doc comment is type-checked as a module of its own, with `'ocibuild'` resolved to
 * `src/index.ts`, under the repository's strict settings. An example that names a removed
 * export, a renamed option or a wrong argument fails here, not in a reader's editor.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { exportedNames, repoRoot } from './surface.ts';

test('every @example of the public API type-checks against src/index.ts', () => {
  const dir = path.join(repoRoot, 'test/api/examples.virtual');
  const files = new Map<string, string>();
  for (const name of exportedNames()) {
    name.examples.forEach((code, i) => {
      assert.match(code, /from 'ocibuild'/, `${name.name}: an example imports from 'ocibuild' as a user would`);
      files.set(path.join(dir, `${name.name}-${i}.ts`), code.replaceAll("from 'ocibuild'", "from '../../../src/index.ts'"));
    });
  }
  assert.ok(files.size >= 60, `examples found: ${files.size}`);
  const config = ts.readConfigFile(path.join(repoRoot, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot);
  const host = ts.createCompilerHost({ ...options, noEmit: true });
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => files.has(file) || fileExists.call(host, file);
  host.readFile = (file) => files.get(file) ?? readFile.call(host, file);
  host.getSourceFile = (file, language, ...rest) => {
    const text = files.get(file);
    return text !== undefined ? ts.createSourceFile(file, text, language, true) : getSourceFile.call(host, file, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], { ...options, noEmit: true }, host);
  const problems = [...files.keys()].flatMap((file) =>
    [...program.getSyntacticDiagnostics(program.getSourceFile(file)), ...program.getSemanticDiagnostics(program.getSourceFile(file))].map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      return `${path.basename(file)}${where ? `:${where.line + 1}` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    }),
  );
  assert.deepEqual(problems, [], 'examples that do not compile (name-N: the Nth example of that export)');
});
