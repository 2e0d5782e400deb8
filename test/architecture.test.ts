import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { checkGraph, findCycles, importGraph, importsOf, type Edge } from '../scripts/import-graph.ts';

const srcDir = fileURLToPath(new URL('../src', import.meta.url));

test('src/ has no import cycle between folders and no import against the layering', () => {
  const forbidden: string[] = [];
  const check = checkGraph(importGraph(srcDir, forbidden), forbidden);
  assert.deepEqual(check.cycles, [], check.errors.join('\n'));
  assert.deepEqual(check.errors, []);
});

test('the script exits 0 on src/ and prints the graph', async () => {
  const script = fileURLToPath(new URL('../scripts/import-graph.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script]);
  assert.match(stdout, /^transports -> /m);
});

test('type-only, re-export and dynamic imports are edges; comments are not', () => {
  const text = [
    "import type { A } from '../a/x.ts';",
    "export { B } from './b.ts';",
    "import {\n  C,\n  type D,\n} from '../c/y.ts';",
    "const e = await import('../e/z.ts');",
    "import 'node:fs';",
    "// import { F } from '../f/w.ts';",
    "/* import { G } from '../g/v.ts'; */",
  ].join('\n');
  assert.deepEqual(importsOf(text).sort(), ['../a/x.ts', '../c/y.ts', '../e/z.ts', './b.ts', 'node:fs']);
});

test('a cycle and an upward import are found', () => {
  const edge = (from: string, to: string): [string, Edge] => [to, { from, to, files: [`${from}/x.ts`] }];
  const graph = new Map([
    ['oci', new Map([edge('oci', 'registry')])],
    ['registry', new Map([edge('registry', 'transports')])],
    ['transports', new Map([edge('transports', 'registry')])],
  ]);
  assert.deepEqual(findCycles(graph), [['registry', 'transports']]);
  const check = checkGraph(graph);
  assert.ok(check.errors.some((e) => e.startsWith('oci -> registry goes up a layer')), check.errors.join('\n'));
  assert.ok(check.errors.some((e) => e.startsWith('cycle between registry, transports')), check.errors.join('\n'));
});
