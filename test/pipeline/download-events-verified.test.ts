/**
 * `withDownloadEvents` passes a verified blob stream on as verified (issue 15): before, its
 * plain generator dropped the claim and every pulled blob was hashed twice (by the registry
 * client and again by the oci: layout or cache that wrote it).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { VerifiedStream, verifyStream } from '../../src/blob/verify.ts';
import { withDownloadEvents, type SourceEvent } from '../../src/pipeline/source-events.ts';
import type { Transport } from '../../src/transports/types.ts';

const bytes = new TextEncoder().encode('layer bytes');
const descriptor = { mediaType: 'application/octet-stream', digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.byteLength };

function sourceOf(stream: () => AsyncIterable<Uint8Array>): Transport {
  return { getBlob: async () => stream() } as unknown as Transport;
}

async function* chunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data.subarray(0, 5);
  yield data.subarray(5);
}

test('a verified source stays verified through the download events, which still fire', async () => {
  const events: SourceEvent[] = [];
  const wrapped = withDownloadEvents(sourceOf(() => verifyStream(chunks(bytes), descriptor, 'test')), 'img', (e) => events.push(e));
  const body = await wrapped.getBlob(descriptor);
  assert.deepEqual(VerifiedStream.targetOf(body), { digest: descriptor.digest, size: descriptor.size });
  let read = 0;
  for await (const chunk of body) read += chunk.byteLength;
  assert.equal(read, bytes.byteLength);
  assert.deepEqual(events.map((e) => (e.type === 'download' ? e.phase : e.type)), ['start', 'done']);
});

test('a wrong blob still fails through the wrapper, and an unverified source is not claimed verified', async () => {
  const wrong = { ...descriptor, digest: `sha256:${'0'.repeat(64)}` };
  const wrapped = withDownloadEvents(sourceOf(() => verifyStream(chunks(bytes), wrong, 'test')), 'img', () => undefined);
  await assert.rejects(async () => {
    for await (const _ of await wrapped.getBlob(wrong)) void _;
  }, { code: 'ERR_DIGEST_MISMATCH' });
  const plain = withDownloadEvents(sourceOf(() => chunks(bytes)), 'img', () => undefined);
  assert.equal(VerifiedStream.targetOf(await plain.getBlob(descriptor)), undefined);
});
