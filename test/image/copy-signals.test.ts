import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyImage } from '../../src/image/copy.ts';
import { createRegistryClient } from '../../src/registry/client.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { parseReference } from '../../src/reference.ts';
import { buildRandomLayout, type RandomLayout } from '../helpers/fixtures.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

describe('copyImage abort listeners', () => {
  let dir: string;
  let registry: TestRegistry;
  let image: RandomLayout;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-copy-signals-'));
    registry = await startRegistry();
    image = await buildRandomLayout(join(dir, 'src'), { layers: 14, layerSize: 64 * 1024, tag: 'v1' });
  });
  after(async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('push and pull many layers at high concurrency without piling listeners on one signal', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    const client = createRegistryClient({ credentials: async () => undefined, concurrency: 16 });
    try {
      const controller = new AbortController();
      const listenerCounts: number[] = [];
      const options = {
        concurrency: 16,
        signal: controller.signal,
        onEvent: () => listenerCounts.push(getEventListeners(controller.signal, 'abort').length),
      };
      const ref = parseReference(`${registry.host}/signals/app:v1`);
      await copyImage(ociLayout(image.layoutPath), 'v1', registryTransport(ref, client), ['v1'], options);
      const pulled = await copyImage(registryTransport(ref, client), 'v1', ociLayout(join(dir, 'pulled')), ['v1'], options);
      assert.equal(pulled.digest, image.manifestDigest);
      assert.ok(listenerCounts.length > 30, 'events were seen');
      assert.equal(Math.max(...listenerCounts), 1, "the caller's signal holds one listener during a copy");
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'and none afterwards');
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      await client.close?.();
    }
  });
});
