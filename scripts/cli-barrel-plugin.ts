/**
 * An esbuild plugin for the CLI bundle: each `import { … } from '…/index.ts'` of a CLI module
 * (the library's public entry, the only library module the CLI may import: see
 * scripts/import-graph.ts) is rewritten, in the bundle only, into imports from the modules that
 * define those names.
 *
 * Why: esbuild's code splitting decides which chunk a module goes to by the entry points that
 * reach the module through import statements, whichever of its exports they use. Through the
 * barrel every command reached every library module, so the chunks every command loads held
 * all of them (1.5 MB with undici: `ocibuild copy` parsed the Dockerfile interpreter and the
 * RUN sandbox). Imported from their modules, each command loads what it reaches.
 *
 * The sources are unchanged (the layering check still sees imports of the public entry); a
 * name the entry does not export, or exports in a form this plugin does not follow (`export *`),
 * is left imported from the barrel or sub-barrel that has it, which is correct, only less split.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Plugin } from 'esbuild';
import ts from 'typescript';

/** Where a name the entry exports is defined: the module and the name it has there. */
interface Origin {
  file: string;
  name: string;
}

/** Follows `export { a as b } from './m.ts'` chains from `file` for `name`; undefined when `file` defines it (or hides it behind `export *`). */
function reexportOf(file: string, name: string, parsed: Map<string, ts.SourceFile>): Origin | undefined {
  let source = parsed.get(file);
  if (source === undefined) {
    source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    parsed.set(file, source);
  }
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement) || statement.moduleSpecifier === undefined || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const clause = statement.exportClause;
    if (clause === undefined || !ts.isNamedExports(clause)) continue;
    for (const element of clause.elements) {
      if (element.name.text !== name) continue;
      return { file: path.resolve(path.dirname(file), statement.moduleSpecifier.text), name: (element.propertyName ?? element.name).text };
    }
  }
  return undefined;
}

/** The defining module of `name` exported by `entry` (the last module in the chain of re-exports). */
function originOf(entry: string, name: string, parsed: Map<string, ts.SourceFile>): Origin {
  let origin: Origin = { file: entry, name };
  for (let next = reexportOf(origin.file, origin.name, parsed); next !== undefined; next = reexportOf(origin.file, origin.name, parsed)) origin = next;
  return origin;
}

/** The plugin for modules under `cliDir` importing `entry` (absolute paths). */
export function barrelImportsPlugin(entry: string, cliDir: string): Plugin {
  const parsed = new Map<string, ts.SourceFile>();
  return {
    name: 'ocibuild-cli-barrel-imports',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (!args.path.startsWith(cliDir + path.sep)) return undefined;
        const text = readFileSync(args.path, 'utf8');
        const source = ts.createSourceFile(args.path, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
        const edits: { start: number; end: number; text: string }[] = [];
        for (const statement of source.statements) {
          if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
          if (path.resolve(path.dirname(args.path), statement.moduleSpecifier.text) !== entry) continue;
          const clause = statement.importClause;
          const bindings = clause?.namedBindings;
          // Type-only imports vanish anyway; a default or namespace import of the entry is left alone.
          if (clause === undefined || clause.isTypeOnly || clause.name !== undefined || bindings === undefined || !ts.isNamedImports(bindings)) continue;
          const byFile = new Map<string, string[]>();
          for (const element of bindings.elements) {
            if (element.isTypeOnly) continue;
            const local = element.name.text;
            const origin = originOf(entry, (element.propertyName ?? element.name).text, parsed);
            const list = byFile.get(origin.file) ?? [];
            list.push(origin.name === local ? local : `${origin.name} as ${local}`);
            byFile.set(origin.file, list);
          }
          const replacement = [...byFile].map(([file, names]) => `import { ${names.join(', ')} } from ${JSON.stringify(file)};`).join(' ');
          edits.push({ start: statement.getStart(source), end: statement.getEnd(), text: replacement });
        }
        let contents = text;
        for (const edit of edits.reverse()) contents = contents.slice(0, edit.start) + edit.text + contents.slice(edit.end);
        return { contents, loader: 'ts' };
      });
    },
  };
}
