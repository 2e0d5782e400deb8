import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistryClient } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { makeImage } from './fixtures.ts';

describe('parallel blob downloads of one registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => stopAll());

  const settledWithin = async (promise: Promise<unknown>, ms: number): Promise<boolean> =>
    Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

  it('are six by default (as skopeo copies six blobs at once): a seventh waits for a slot', { timeout: 30_000 }, async () => {
    const client = createRegistryClient({ retries: { count: 0 } });
    try {
      const repo = { registry: registry.host, repository: 'slots/app' };
      const images = Array.from({ length: 7 }, (_, i) => makeImage(`slot-${i}`, 200_000));
      for (const image of images) await client.putBlob(repo, image.layerDescriptor, image.layer);
      // getBlob resolves once its request is answered and holds its slot until the stream ends.
      const six = Promise.all(images.slice(0, 6).map((image) => client.getBlob(repo, image.layerDescriptor)));
      assert.equal(await settledWithin(six, 5000), true, 'six downloads did not start at once');
      const open = await six;
      const seventh = client.getBlob(repo, images[6]!.layerDescriptor);
      assert.equal(await settledWithin(seventh, 300), false, 'the seventh download started while six were open');
      await open[0]![Symbol.asyncIterator]().return!();
      assert.equal(await settledWithin(seventh, 5000), true, 'the seventh download did not start when a slot was freed');
      for (const stream of [...open.slice(1), await seventh]) await stream[Symbol.asyncIterator]().return!();
    } finally {
      await client.close();
    }
  });
});
