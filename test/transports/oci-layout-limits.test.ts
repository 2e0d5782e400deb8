/**
 * Bounds on an untrusted OCI layout (docs/limits.md, "OCI layouts"): a manifest declared (or
 * stored) larger than `maxManifestBytes` is refused before it is read into memory, and an
 * `index.json` larger than `maxIndexBytes` before it is parsed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LimitExceededError } from '../../src/errors.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';

const HUGE = `sha256:${'b'.repeat(64)}`;

describe('OCI layout limits', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-limits-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function layout(name: string, index: unknown, padding = 0): Promise<string> {
    const path = join(dir, name);
    await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(path, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(path, 'index.json'), JSON.stringify(index) + ' '.repeat(padding));
    return path;
  }

  const limitError = (limit: string, value: number) => (error: unknown): boolean => {
    assert.ok(error instanceof LimitExceededError, String(error));
    assert.equal(error.limit, limit);
    assert.equal(error.value, value);
    assert.match(error.message, new RegExp(`raise the ociLayout option ${limit}`));
    return true;
  };

  it('refuses a tagged manifest whose descriptor declares more than maxManifestBytes', async () => {
    const path = await layout('declared', {
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: HUGE, size: 5 * 1024 * 1024, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    });
    // The blob file need not even exist: the declared size is enough to refuse.
    await assert.rejects(ociLayout(path).getManifest('v1'), limitError('maxManifestBytes', 4 * 1024 * 1024));
  });

  it('refuses a manifest read by digest whose file is larger than maxManifestBytes', async () => {
    const path = await layout('stored', { schemaVersion: 2, manifests: [] });
    await writeFile(join(path, 'blobs', 'sha256', HUGE.slice(7)), Buffer.alloc(2048, 0x20));
    await assert.rejects(ociLayout(path, { maxManifestBytes: 1024 }).getManifest(HUGE), limitError('maxManifestBytes', 1024));
  });

  it('refuses an index.json larger than maxIndexBytes before parsing it', async () => {
    const path = await layout('big-index', { schemaVersion: 2, manifests: [] }, 4096);
    await assert.rejects(ociLayout(path, { maxIndexBytes: 1024 }).listTags(), limitError('maxIndexBytes', 1024));
    assert.deepEqual(await ociLayout(path).listTags(), []);
  });
});
