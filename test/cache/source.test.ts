import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedSource } from '../../src/cache/source.ts';
import { openCache } from '../../src/cache/store.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { dockerArchive } from '../../src/transports/docker-archive.ts';
import { pushImage, pushReferrer, runTransportConformance, sampleImage } from '../transports/conformance.ts';
import type { Transport } from '../../src/transports/types.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function fixtureDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ocibuild-cached-'));
  dirs.push(dir);
  return dir;
}

// The caching source wraps a base image's transport: it must keep that transport's contract,
// and declare what the inner one declares.
runTransportConformance('cachedSource over ociLayout', async () => {
  const dir = await fixtureDir();
  const cache = await openCache({ dir: join(dir, 'cache') });
  const open = () => cachedSource(ociLayout(join(dir, 'layout')), cache);
  return { transport: open(), reopen: open, cleanup: async () => undefined };
});

runTransportConformance(
  'cachedSource over dockerArchive',
  async () => {
    const dir = await fixtureDir();
    const cache = await openCache({ dir: join(dir, 'cache') });
    const open = () => cachedSource(dockerArchive(join(dir, 'image.tar')), cache);
    return { transport: open(), reopen: open, cleanup: async () => undefined };
  },
  { preservesManifests: false },
);

describe('cachedSource writes', () => {
  it('stores a manifest read by tag once when the inner transport hands out the same object again', async () => {
    const dir = await fixtureDir();
    const writer = ociLayout(join(dir, 'layout'));
    await pushImage(writer, sampleImage('stored-once'), 'v1');
    await writer.commit();
    const cache = await openCache({ dir: join(dir, 'cache') });
    const writes: string[] = [];
    const counting = {
      ...cache,
      putManifest: async (m: Parameters<typeof cache.putManifest>[0]) => {
        writes.push(`manifest ${m.digest}`);
        await cache.putManifest(m);
      },
      putReference: async (...args: Parameters<typeof cache.putReference>) => {
        writes.push(`reference ${args[1]}`);
        await cache.putReference(...args);
      },
    };
    // As a session hands it out: one read of the tag, the same object for every caller.
    const layout = ociLayout(join(dir, 'layout'));
    const read = layout.getManifest('v1');
    const inner: Transport = { ...layout, getManifest: (ref, opts) => (ref === 'v1' ? read : layout.getManifest(ref, opts)) };
    const first = cachedSource(inner, counting, { name: 'base' });
    const second = cachedSource(inner, counting, { name: 'base' });
    for (const source of [first, first, second]) assert.equal((await source.getManifest('v1')).digest, (await read).digest);
    assert.deepEqual(writes, [`manifest ${(await read).digest}`, 'reference v1']);
    // A fresh read of the tag (another object) is stored again; a name of its own too.
    const fresh = cachedSource(layout, counting, { name: 'base' });
    await fresh.getManifest('v1');
    await cachedSource(inner, counting, { name: 'other' }).getManifest('v1');
    assert.equal(writes.filter((w) => w === 'reference v1').length, 3);
    const offline = cachedSource(layout, cache, { offline: true, name: 'other' });
    assert.equal((await offline.getManifest('v1')).digest, (await read).digest);
  });
});

describe('cachedSource capabilities', () => {
  it('passes the inner capability flags through', async () => {
    const dir = await fixtureDir();
    const cache = await openCache({ dir: join(dir, 'cache') });
    const archive = cachedSource(dockerArchive(join(dir, 'image.tar')), cache);
    assert.equal(archive.acceptsIndex, false);
    assert.equal(archive.acceptsArtifacts, false);
    assert.equal(archive.needsForeignLayers, true);
    assert.equal(typeof archive.listReferrers, 'undefined');
    const layout = cachedSource(ociLayout(join(dir, 'layout')), cache);
    assert.equal(layout.acceptsIndex, undefined);
    assert.equal(typeof layout.listReferrers, 'function');
    assert.equal(typeof layout.commit, 'function');
    await archive.close?.();
    await layout.close?.();
  });

  it('asks the inner transport for referrers each time online, and declares none offline', async () => {
    const dir = await fixtureDir();
    const cache = await openCache({ dir: join(dir, 'cache') });
    const path = join(dir, 'layout');
    const writer = ociLayout(path);
    const image = sampleImage('cached-referrers');
    await pushImage(writer, image, 'v1');
    await writer.commit();
    // The inner transport answers live, as a registry does: each call opens the layout afresh.
    let asked = 0;
    const live = ociLayout(path);
    const inner: Transport = {
      description: live.description,
      getManifest: (r, o) => live.getManifest(r, o),
      putManifest: (m, r, o) => live.putManifest(m, r, o),
      hasBlob: (d, o) => live.hasBlob(d, o),
      getBlob: (d, o) => live.getBlob(d, o),
      putBlob: (d, b, o) => live.putBlob(d, b, o),
      close: () => live.close(),
      listReferrers: (digest, o) => {
        asked++;
        return ociLayout(path).listReferrers(digest, o);
      },
    };
    const online = cachedSource(inner, cache);
    assert.deepEqual(await online.listReferrers!(image.manifest.digest), []);
    // A referrer added after the first listing is seen: listings are never cached.
    const sbom = await pushReferrer(writer, image.manifest, 'application/spdx+json', 'later');
    await writer.commit();
    assert.deepEqual(await online.listReferrers!(image.manifest.digest), [sbom]);
    assert.equal(asked, 2);
    const offline = cachedSource(ociLayout(path), cache, { offline: true });
    assert.equal(offline.listReferrers, undefined);
    assert.equal(offline.commit, undefined);
    await Promise.all([writer.close(), online.close?.(), offline.close?.()]);
  });
});
