/**
 * The public surface of `src/index.ts` as text: one line per exported name, sorted, with its
 * kind, computed with the TypeScript compiler so type-only exports count as much as values.
 * The API snapshot test compares it with `api-snapshot.txt`; `npm run api:update` rewrites it.
 * @module
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where the snapshot of the surface is kept. */
export const snapshotPath = path.join(repoRoot, 'test/api/api-snapshot.txt');

/** One exported name of the entry point. */
export interface ExportedName {
  name: string;
  /** `function`, `class`, `const`, `let`, `enum`, `namespace`, `interface` or `type`. */
  kind: string;
  /** Exported with `export type` (no run-time value even when the declaration has one). */
  typeOnly: boolean;
  /** The `@category` tags of its declarations' doc comments. */
  categories: string[];
  /** Whether a doc comment of one of its declarations has an `@example`. */
  hasExample: boolean;
  /** The code of its `@example` blocks (the fenced part). */
  examples: string[];
}

/** The doc-comment tags of a declaration (a variable's are on its statement). */
function tagsOf(declaration: ts.Declaration): readonly ts.JSDocTag[] {
  const host = ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration;
  return ts.getJSDocTags(host);
}

function commentText(tag: ts.JSDocTag): string {
  return (typeof tag.comment === 'string' ? tag.comment : ts.getTextOfJSDocComment(tag.comment) ?? '').trim();
}

function kindOf(symbol: ts.Symbol): string {
  const flags = symbol.flags;
  if (flags & ts.SymbolFlags.Function) return 'function';
  if (flags & ts.SymbolFlags.Class) return 'class';
  if (flags & ts.SymbolFlags.Enum) return 'enum';
  if (flags & ts.SymbolFlags.Variable) {
    const declaration = symbol.valueDeclaration;
    const list = declaration?.parent;
    return list && ts.isVariableDeclarationList(list) && list.flags & ts.NodeFlags.Const ? 'const' : 'let';
  }
  if (flags & ts.SymbolFlags.Interface) return 'interface';
  if (flags & ts.SymbolFlags.TypeAlias) return 'type';
  if (flags & ts.SymbolFlags.Module) return 'namespace';
  return `unknown(${flags})`;
}

/** Every name `src/index.ts` exports, sorted by name. */
export function exportedNames(entry = path.join(repoRoot, 'src/index.ts')): ExportedName[] {
  const configFile = ts.readConfigFile(path.join(repoRoot, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, repoRoot);
  const program = ts.createProgram([entry], { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error(`${entry}: not found`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${entry}: not a module`);
  const names: ExportedName[] = [];
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const typeOnly = symbol.declarations?.some((d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) ?? false;
    const tags = (target.declarations ?? []).flatMap((d) => tagsOf(d));
    const categories = [...new Set(tags.filter((t) => t.tagName.text === 'category').map(commentText))];
    const exampleTags = tags.filter((t) => t.tagName.text === 'example');
    const examples = exampleTags.flatMap((t) => [...commentText(t).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string));
    names.push({ name: symbol.getName(), kind: kindOf(target), typeOnly, categories, hasExample: exampleTags.length > 0, examples });
  }
  return names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The snapshot text: `kind name` per line (`type-only` marked), sorted by name. */
export function surfaceText(names: readonly ExportedName[] = exportedNames()): string {
  return names.map((n) => `${n.name}: ${n.kind}${n.typeOnly && !['interface', 'type'].includes(n.kind) ? ' (type-only)' : ''}\n`).join('');
}

/** The names that exist at run time (what `import * as ocibuild` holds). */
export function runtimeNames(names: readonly ExportedName[] = exportedNames()): string[] {
  return names.filter((n) => !n.typeOnly && !['interface', 'type'].includes(n.kind)).map((n) => n.name);
}
