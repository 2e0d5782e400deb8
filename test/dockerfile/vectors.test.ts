import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DockerfileError } from '../../src/errors.ts';
import { dumpAst, parseDockerfile, parseInstructions } from '../../src/dockerfile/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const vectors = path.join(repoRoot, 'test/vectors/buildkit-dockerfile/parser');

const positive = readdirSync(path.join(vectors, 'testfiles')).sort();
const negative = readdirSync(path.join(vectors, 'testfiles-negative')).sort();

test('the vector directories are present', () => {
  assert.ok(positive.length >= 30, `found ${positive.length} positive vectors`);
  assert.ok(negative.length >= 4, `found ${negative.length} negative vectors`);
});

for (const name of positive) {
  test(`parser vector ${name}`, () => {
    const dir = path.join(vectors, 'testfiles', name);
    const text = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
    const expected = readFileSync(path.join(dir, 'result'), 'utf8');
    const ast = parseDockerfile(text, { file: `${name}/Dockerfile` });
    assert.equal(dumpAst(ast), expected);
  });
  test(`parser vector ${name} with CRLF line endings`, () => {
    const dir = path.join(vectors, 'testfiles', name);
    const text = readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace(/\n/g, '\r\n');
    const expected = readFileSync(path.join(dir, 'result'), 'utf8');
    assert.equal(dumpAst(parseDockerfile(text)), expected);
  });
}

for (const name of negative) {
  test(`negative parser vector ${name} is rejected`, () => {
    const text = readFileSync(path.join(vectors, 'testfiles-negative', name, 'Dockerfile'), 'utf8');
    assert.throws(
      () => parseInstructions(text, { file: `${name}/Dockerfile` }),
      (err: unknown) => err instanceof DockerfileError && err.file === `${name}/Dockerfile` && err.line >= 1,
    );
  });
}
