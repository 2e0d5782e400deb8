/**
 * A clone alone passes its tests (issue 12): no source, test or benchmark reaches for data
 * beside the repository (the upstream vectors once lived in a sibling `shared/` folder), and
 * the vendored vectors keep their licence and note of origin.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|js|mjs|sh)$/.test(entry.name)) out.push(full);
  }
  return out;
}

test('no file reads data from beside the repository', () => {
  // `repoRoot, '..'`-style joins and the old sibling folder; this file names them only in patterns.
  const outside = [/shared\/vectors/, /resolve\(\s*repoRoot\s*,\s*['"]\.\.\//, /join\(\s*repoRoot\s*,\s*['"]\.\.\//];
  const offenders: string[] = [];
  for (const top of ['src', 'test', 'bench', 'scripts', '.ci']) {
    const dir = path.join(repoRoot, top);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourceFiles(dir)) {
      if (file === fileURLToPath(import.meta.url) || file.startsWith(path.join(repoRoot, 'test/vectors'))) continue;
      const text = fs.readFileSync(file, 'utf8');
      for (const pattern of outside) if (pattern.test(text)) offenders.push(`${path.relative(repoRoot, file)}: ${pattern}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('each vendored vector folder has its upstream licence, and the README names origin and commit', () => {
  const vectors = path.join(repoRoot, 'test/vectors');
  const folders = fs.readdirSync(vectors, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(folders.sort(), ['buildkit-dockerfile', 'oci-image-spec', 'sbom']);
  const readme = fs.readFileSync(path.join(vectors, 'README.md'), 'utf8');
  for (const folder of folders) assert.ok(readme.includes(`## ${folder}/`), `README section for ${folder}`);
  for (const folder of ['buildkit-dockerfile', 'oci-image-spec']) {
    assert.match(fs.readFileSync(path.join(vectors, folder, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  }
  assert.equal(readme.match(/commit `[0-9a-f]{40}`/g)?.length, 2, 'one upstream commit per Apache-2.0 folder');
  // The SBOM schemas come from two projects under two licences: each keeps its own, and their
  // README names the origin and commit of each.
  const sbomReadme = fs.readFileSync(path.join(vectors, 'sbom', 'README.md'), 'utf8');
  assert.match(fs.readFileSync(path.join(vectors, 'sbom', 'spdx', 'LICENSE'), 'utf8'), /Community Specification License/);
  assert.match(fs.readFileSync(path.join(vectors, 'sbom', 'cyclonedx', 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  assert.ok((sbomReadme.match(/[0-9a-f]{40}/g)?.length ?? 0) >= 2, 'the SBOM schemas README names the upstream commits');
});
