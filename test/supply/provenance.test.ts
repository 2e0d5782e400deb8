// SLSA v1 provenance: statement shape, secrets left out, reproducibility, and buildImage's
// attachments (same digests twice with SOURCE_DATE_EPOCH; timings only without it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../src/pipeline/index.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { readAttachment } from '../../src/supply/referrers.ts';
import {
  IN_TOTO_STATEMENT_V1,
  provenanceAttachment,
  provenanceStatement,
  publicParameters,
  SLSA_PROVENANCE_V1,
} from '../../src/supply/provenance.ts';

const digest = `sha256:${'ab'.repeat(32)}`;
let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-provenance-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('statement: in-toto v1 with a SLSA v1 predicate, subject digest set, builder and invocation id', () => {
  const statement = provenanceStatement({
    subject: [{ name: 'registry.example/app:1', digest }],
    externalParameters: { dockerfile: 'Dockerfile', platforms: ['linux/amd64'] },
    resolvedDependencies: [{ name: 'base', uri: 'pkg:docker/debian@12', digest: { sha256: 'cd'.repeat(32) } }],
  }) as { _type: string; predicateType: string; subject: unknown[]; predicate: { buildDefinition: { buildType: string; resolvedDependencies: unknown[] }; runDetails: { builder: { id: string }; metadata: Record<string, string> } } };
  assert.equal(statement._type, IN_TOTO_STATEMENT_V1);
  assert.equal(statement.predicateType, SLSA_PROVENANCE_V1);
  assert.deepEqual(statement.subject, [{ name: 'registry.example/app:1', digest: { sha256: 'ab'.repeat(32) } }]);
  assert.match(statement.predicate.buildDefinition.buildType, /^https:\/\/ocibuild\.dev\//);
  assert.match(statement.predicate.runDetails.builder.id, /^https:\/\//);
  assert.match(statement.predicate.runDetails.metadata['invocationId'] as string, /^[0-9a-f]{64}$/);
  assert.equal(statement.predicate.runDetails.metadata['startedOn'], undefined);
  assert.equal(statement.predicate.buildDefinition.resolvedDependencies.length, 1);
});

test('secret-looking build args (any case) and secrets are left out; other parameters kept', () => {
  const kept = publicParameters({
    buildArgs: { API_TOKEN: 't', github_token: 't', DB_PASSWORD: 'p', ssh_key: 'k', AWS_SECRET_ACCESS_KEY: 's', NPM_CREDENTIALS: 'c', VERSION: '1.2', NODE_ENV: 'production' },
    secrets: { npmrc: { env: 'X' } },
    target: 'prod',
  });
  assert.deepEqual(kept, { buildArgs: { VERSION: '1.2', NODE_ENV: 'production' }, target: 'prod' });
  assert.deepEqual(publicParameters({ buildArgs: { TOKEN: 'x' } }), {});
});

test('equal input, equal bytes; timings change the statement only when given', () => {
  const input = { subject: [{ name: 'app', digest }], externalParameters: { buildArgs: { A: '1' } } };
  const created = new Date(Date.UTC(2024, 0, 1));
  const one = provenanceAttachment(input, created);
  const two = provenanceAttachment(input, created);
  assert.deepEqual(one.bytes, two.bytes);
  assert.equal(one.artifactType, 'application/vnd.in-toto+json');
  assert.equal(one.annotations?.['in-toto.io/predicate-type'], SLSA_PROVENANCE_V1);
  const timed = provenanceStatement({ ...input, startedOn: new Date(Date.UTC(2024, 0, 1, 0, 0, 1)), finishedOn: new Date(Date.UTC(2024, 0, 1, 0, 0, 5)) }) as { predicate: { runDetails: { metadata: Record<string, string> } } };
  assert.deepEqual(timed.predicate.runDetails.metadata['startedOn'], '2024-01-01T00:00:01Z');
  assert.deepEqual(timed.predicate.runDetails.metadata['finishedOn'], '2024-01-01T00:00:05Z');
  assert.throws(() => provenanceStatement({ subject: [], externalParameters: {} }), { code: 'ERR_INVALID_ARGUMENT' });
});

test('buildImage provenance: per platform image, same digests twice with sourceDateEpoch, timings without it', async () => {
  const layers = [{ entries: [{ type: 'file' as const, path: '/p.txt', source: new TextEncoder().encode('p\n') }] }];
  const build = (dir: string, sourceDateEpoch?: number) =>
    buildImage({
      layers,
      to: `oci:${path.join(tmp, dir)}:v1`,
      platforms: ['linux/amd64', 'linux/arm64'],
      cache: false,
      provenance: true,
      buildArgs: { API_TOKEN: 'never-recorded' },
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    });
  const first = await build('one', 1_700_000_000);
  const second = await build('two', 1_700_000_000);
  assert.equal(first.digest, second.digest);
  assert.equal(first.attachments?.length, 2, 'one provenance per platform image');
  assert.deepEqual(first.attachments?.map((a) => a.digest), second.attachments?.map((a) => a.digest));
  const children = first.index?.manifests.map((m) => m.digest) ?? [];
  assert.deepEqual(first.attachments?.map((a) => a.subject).sort(), [...children].sort());
  const layout = ociLayout(path.join(tmp, 'one'));
  const read = await readAttachment(layout, children[0] as string, ['application/vnd.in-toto+json']);
  assert.ok(read);
  const text = Buffer.from(read.bytes).toString();
  assert.doesNotMatch(text, /never-recorded|API_TOKEN/);
  assert.doesNotMatch(text, /startedOn/);

  const saved = process.env.SOURCE_DATE_EPOCH;
  delete process.env.SOURCE_DATE_EPOCH;
  try {
    const timed = await build('three');
    const readTimed = await readAttachment(ociLayout(path.join(tmp, 'three')), timed.index?.manifests[0]?.digest as string, ['application/vnd.in-toto+json']);
    assert.match(Buffer.from(readTimed?.bytes ?? []).toString(), /"startedOn":"\d{4}-/);
  } finally {
    if (saved !== undefined) process.env.SOURCE_DATE_EPOCH = saved;
  }
});
