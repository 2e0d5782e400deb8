import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { findOwnVersion, ocibuildVersion } from '../../src/pipeline/sbom.ts';
import { repoRoot } from '../helpers/cli.ts';

const ownVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('the version recorded in SBOMs and provenance', () => {
  it('is package.json\'s, wherever the module sits: src/pipeline, dist/pipeline or dist/cli/chunks', async () => {
    assert.equal(ocibuildVersion(), ownVersion);
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-own-version-'));
    try {
      // Three levels down, so that the walk (at most 5 levels up) stays inside the temp folder.
      const pkg = path.join(root, 'a/b/c');
      await fs.mkdir(path.join(pkg, 'dist/cli/chunks'), { recursive: true });
      await fs.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'ocibuild', version: '9.8.7' }));
      // A dependency's package.json on the way up is not ours.
      await fs.writeFile(path.join(pkg, 'dist/package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
      assert.equal(findOwnVersion(path.join(pkg, 'dist/cli/chunks')), '9.8.7');
      assert.equal(findOwnVersion(path.join(pkg, 'dist')), '9.8.7');
      assert.equal(findOwnVersion(pkg), '9.8.7');
      await fs.rm(path.join(pkg, 'package.json'));
      assert.equal(findOwnVersion(path.join(pkg, 'dist/cli/chunks')), '0.0.0');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('is package.json\'s in the bundled CLI too (its chunks sit two levels below dist/)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-own-version-cli-'));
    try {
      await fs.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
      await fs.writeFile(path.join(dir, 'a'), 'a');
      const cli = [path.join(repoRoot, 'dist/cli/main.js')];
      const layout = path.join(dir, 'out');
      execFileSync(process.execPath, [...cli, 'build', dir, '--to', `oci:${layout}:v`, '--sbom', '--progress', 'quiet']);
      const sbom = JSON.parse(execFileSync(process.execPath, [...cli, 'sbom', `oci:${layout}:v`], { encoding: 'utf8' })) as { creationInfo: { creators: string[] } };
      assert.deepEqual(sbom.creationInfo.creators, [`Tool: ocibuild-${ownVersion}`]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
