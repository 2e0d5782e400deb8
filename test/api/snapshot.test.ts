/**
 * The public API is deliberate: the names `src/index.ts` exports and their kinds (types
 * included) must equal `test/api/api-snapshot.txt`. After an intended change, run
 * `npm run api:update` and commit the new snapshot with the change.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { exportedNames, repoRoot, runtimeNames, snapshotPath, surfaceText, type ExportedName } from './surface.ts';

/** The categories of the API documentation: typedoc.json's `categoryOrder` (a new one is added there). */
const CATEGORIES = (JSON.parse(readFileSync(path.join(repoRoot, 'typedoc.json'), 'utf8')) as { categoryOrder: string[] }).categoryOrder.filter((c) => c !== '*');
const UPDATE = process.env.OCIBUILD_API_UPDATE === '1';

describe('the public API surface', () => {
  let names: ExportedName[];
  before(() => {
    names = exportedNames();
  });

  it('equals the snapshot (npm run api:update rewrites it)', () => {
    const actual = surfaceText(names);
    if (UPDATE) writeFileSync(snapshotPath, actual);
    const expected = readFileSync(snapshotPath, 'utf8');
    if (actual === expected) return;
    const was = new Set(expected.split('\n').filter(Boolean));
    const now = new Set(actual.split('\n').filter(Boolean));
    const added = [...now].filter((line) => !was.has(line)).map((line) => `  + ${line}`);
    const removed = [...was].filter((line) => !now.has(line)).map((line) => `  - ${line}`);
    assert.fail(
      `src/index.ts exports differ from ${path.relative(repoRoot, snapshotPath)}:\n${[...added, ...removed].join('\n')}\n` +
        'If the change is intended, run `npm run api:update` and commit the snapshot with it.',
    );
  });

  it('lists its names explicitly (no `export *`)', () => {
    const text = readFileSync(path.join(repoRoot, 'src/index.ts'), 'utf8');
    assert.doesNotMatch(text, /export\s+(type\s+)?\*/);
  });

  it('holds exactly the run-time names the module has when imported', async () => {
    const module = (await import('../../src/index.ts')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(module).sort(), runtimeNames(names).sort());
    for (const name of Object.keys(module)) assert.notEqual(module[name], undefined, `${name} is defined`);
  });

  it('puts every name in one documentation category', () => {
    const wrong = names.filter((n) => n.categories.length !== 1 || !CATEGORIES.includes(n.categories[0] as string));
    assert.deepEqual(
      wrong.map((n) => `${n.name}: ${n.categories.join(', ') || 'no @category'}`),
      [],
      `each export needs one @category of ${CATEGORIES.join(', ')}`,
    );
  });

  it('shows an example for every function and class', () => {
    const bare = names.filter((n) => (n.kind === 'function' || n.kind === 'class') && !n.hasExample).map((n) => n.name);
    assert.deepEqual(bare, [], 'functions and classes without an @example in their doc comment');
  });
});
