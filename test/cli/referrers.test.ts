// `build --sbom --provenance`, `inspect --referrers`, `sbom` and `copy --referrers` against a
// real distribution registry (2.8: no referrers API, so everything goes through the
// sha256-<hex> fallback tag) and oci: layouts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { createRegistryClient } from '../../src/registry/index.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { attachArtifact } from '../../src/supply/attach.ts';
import { readAttachment } from '../../src/supply/referrers.ts';

let tmp: string;
let registry: TestRegistry;
let context: string;
const env = { SOURCE_DATE_EPOCH: '1700000000', NPM_SECRET: 'hunter2-secret-value', OCIBUILD_CACHE_DIR: '' };

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { ...process.env, ...env });
}

interface Summary {
  Digest: string;
  Referrers: { Subject: string; ArtifactType: string; Digest: string; Size: number; Annotations: Record<string, string> }[];
}

async function referrers(ref: string): Promise<Summary> {
  const listed = await cli(['inspect', '--referrers', ref]);
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as Summary;
}

const build = (to: string, extra: string[] = []) =>
  cli(['build', context, '--sbom', '--provenance', '--build-arg', 'API_TOKEN=s3cr3t-token-value', '--build-arg', 'VERSION=1.2', '--secret', 'id=npmrc,env=NPM_SECRET', '-t', to, ...extra]);

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-referrers-'));
  registry = await startRegistry();
  context = path.join(tmp, 'ctx');
  await fs.mkdir(context);
  await fs.writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nARG API_TOKEN\nARG VERSION\nCOPY a.txt /a.txt\n');
  await fs.writeFile(path.join(context, 'a.txt'), 'a\n');
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('build attaches an SBOM and provenance; list, fetch back, copy with referrers to a repo and an oci: layout', async () => {
  const ref = `${registry.host}/app/cli:1`;
  const built = await build(ref);
  assert.equal(built.code, 0, built.stderr);
  const digest = built.stdout.trim().split(/\s+/)[0] as string;

  const listed = await referrers(ref);
  assert.equal(listed.Digest, digest);
  const types = listed.Referrers.map((r) => r.ArtifactType).sort();
  assert.deepEqual(types, ['application/spdx+json', 'application/vnd.in-toto+json']);
  for (const r of listed.Referrers) {
    assert.equal(r.Subject, digest);
    assert.equal(r.Annotations['org.opencontainers.image.created'], '2023-11-14T22:13:20Z');
  }

  // The SBOM back: SPDX JSON describing this image.
  const sbom = await cli(['sbom', ref]);
  assert.equal(sbom.code, 0, sbom.stderr);
  const spdx = JSON.parse(sbom.stdout) as { spdxVersion: string };
  assert.match(spdx.spdxVersion, /^SPDX-2\./);
  assert.ok(sbom.stdout.includes(digest.slice('sha256:'.length)), 'the SBOM names the image digest');
  const noCycloneDx = await cli(['sbom', ref, '--format', 'cyclonedx']);
  assert.equal(noCycloneDx.code, 1);
  assert.match(noCycloneDx.stderr, /no cyclonedx SBOM is attached/);

  // The provenance back: subject is the image, no secret in it.
  const client = createRegistryClient();
  const repo = registryTransport(`${registry.host}/app/cli`, client);
  try {
    const provenance = await readAttachment(repo, digest, ['application/vnd.in-toto+json']);
    assert.ok(provenance);
    const text = Buffer.from(provenance.bytes).toString();
    const statement = JSON.parse(text) as {
      _type: string;
      subject: { digest: { sha256: string } }[];
      predicateType: string;
      predicate: { buildDefinition: { externalParameters: { buildArgs?: Record<string, string>; dockerfile?: string } }; runDetails: { metadata: Record<string, string> } };
    };
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
    assert.equal(`sha256:${statement.subject[0]?.digest.sha256}`, digest);
    // The SOURCE_DATE_EPOCH variable is also a build arg, as buildx passes it on.
    assert.deepEqual(statement.predicate.buildDefinition.externalParameters.buildArgs, { SOURCE_DATE_EPOCH: '1700000000', VERSION: '1.2' });
    assert.doesNotMatch(text, /API_TOKEN|s3cr3t-token-value|hunter2-secret-value|npmrc/);
    // No local path: the statement is the same wherever the build ran.
    assert.ok(!text.includes(tmp), 'no local path in the provenance');
    assert.equal(statement.predicate.buildDefinition.externalParameters.dockerfile, 'Dockerfile');
    const dependencies = (statement.predicate.buildDefinition as unknown as { resolvedDependencies: { name: string; digest: { sha256: string } }[] }).resolvedDependencies;
    const dockerfileText = await fs.readFile(path.join(context, 'Dockerfile'));
    assert.equal(dependencies.find((d) => d.name === 'dockerfile')?.digest.sha256, createHash('sha256').update(dockerfileText).digest('hex'));
    // SOURCE_DATE_EPOCH is set: no timings.
    assert.equal(statement.predicate.runDetails.metadata['startedOn'], undefined);

    // A signature of the SBOM (another tool's), to be carried by copy --referrers too.
    const sbomEntry = listed.Referrers.find((r) => r.ArtifactType === 'application/spdx+json');
    assert.ok(sbomEntry);
    const signature = await attachArtifact(
      repo,
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sbomEntry.Digest, size: sbomEntry.Size },
      { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: new TextEncoder().encode('{"critical":{}}') },
    );
    const withSignature = await referrers(ref);
    assert.equal(withSignature.Referrers.length, 3);
    assert.ok(withSignature.Referrers.some((r) => r.Digest === signature.descriptor.digest && r.Subject === sbomEntry.Digest));

    // Same inputs, same digests: the image and every attachment (a second build adds no referrer).
    const again = await build(ref);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim().split(/\s+/)[0], digest);
    assert.deepEqual((await referrers(ref)).Referrers.map((r) => r.Digest).sort(), withSignature.Referrers.map((r) => r.Digest).sort());

    const expected = withSignature.Referrers.map((r) => `${r.Subject} ${r.Digest}`).sort();
    // copy --referrers to another repository (fallback tags written there) ...
    const copied = await cli(['copy', '--referrers', ref, `${registry.host}/mirror/cli:1`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.deepEqual((await referrers(`${registry.host}/mirror/cli:1`)).Referrers.map((r) => `${r.Subject} ${r.Digest}`).sort(), expected);
    // ... and to an oci: layout, where they are listed untagged in index.json.
    const layout = path.join(tmp, 'layout');
    const toLayout = await cli(['copy', '--referrers', ref, `oci:${layout}:v1`]);
    assert.equal(toLayout.code, 0, toLayout.stderr);
    assert.deepEqual((await referrers(`oci:${layout}:v1`)).Referrers.map((r) => `${r.Subject} ${r.Digest}`).sort(), expected);
    const sbomFromLayout = await cli(['sbom', `oci:${layout}:v1`]);
    assert.equal(sbomFromLayout.code, 0, sbomFromLayout.stderr);
    assert.equal(sbomFromLayout.stdout, sbom.stdout);
    // Without --referrers nothing but the image moves.
    const plain = await cli(['copy', ref, `${registry.host}/plain/cli:1`]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual((await referrers(`${registry.host}/plain/cli:1`)).Referrers, []);
  } finally {
    await client.close();
  }
});

test('build to oci: gets the attachments in index.json; docker-archive warns and is written without them', async () => {
  const layout = path.join(tmp, 'built-layout');
  const archive = path.join(tmp, 'image.tar');
  const built = await build(`oci:${layout}:v1`, ['--tar', archive]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /warning: docker-archive:.*cannot hold referrers/);
  await fs.stat(archive);
  const listed = await referrers(`oci:${layout}:v1`);
  assert.deepEqual(listed.Referrers.map((r) => r.ArtifactType).sort(), ['application/spdx+json', 'application/vnd.in-toto+json']);
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  assert.equal(index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== undefined).length, 1, 'only the image is tagged');
  assert.equal(index.manifests.length, 3);
  // skopeo still reads the image by its tag next to the untagged artifacts.
  const { stdout: raw } = await promisify(execFile)('skopeo', ['inspect', '--raw', `oci:${layout}:v1`], { encoding: 'buffer' });
  assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, listed.Digest);

  const refused = await cli(['copy', '--referrers', `oci:${layout}:v1`, `docker-archive:${path.join(tmp, 'other.tar')}`]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot hold referrers/);
  await assert.rejects(fs.stat(path.join(tmp, 'other.tar')), { code: 'ENOENT' });

  const bad = await cli(['build', context, '--sbom=xml', '-t', `oci:${layout}:v2`]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--sbom: unknown SBOM format "xml": expected one of spdx, cyclonedx/);
  const both = await cli(['build', context, '--provenance', '--no-provenance', '-t', `oci:${layout}:v2`]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--provenance and --no-provenance cannot be combined/);
  const tags = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  assert.ok(!tags.manifests.some((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v2'), 'nothing written on a usage error');
});

test('ocibuild node attaches an SBOM from the lockfile and provenance by default; --no-sbom --no-provenance turn them off', async () => {
  const { nodeBase } = await import('../presets/node-base.ts');
  const { makeNpmApp } = await import('../presets/npm-app.ts');
  const base = await nodeBase();
  const app = await makeNpmApp(path.join(tmp, 'npm'));
  const ref = `${registry.host}/node/app:1`;
  const built = await cli(['node', app.dir, '--from', base.ref, '--to', ref, '--no-cache']);
  assert.equal(built.code, 0, built.stderr);
  const listed = await referrers(ref);
  assert.deepEqual(listed.Referrers.map((r) => r.ArtifactType).sort(), ['application/spdx+json', 'application/vnd.in-toto+json']);
  const sbom = await cli(['sbom', ref]);
  assert.equal(sbom.code, 0, sbom.stderr);
  const names = (JSON.parse(sbom.stdout) as { packages: { name: string }[] }).packages.map((p) => p.name);
  assert.ok(names.includes('left-pad-lite') && names.includes('@acme/util'), names.join(', '));
  assert.ok(!names.includes('devtool'), 'dev dependencies are not in the image');

  const plainRef = `${registry.host}/node/plain:1`;
  const plain = await cli(['node', app.dir, '--from', base.ref, '--to', plainRef, '--no-cache', '--no-sbom', '--no-provenance']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual((await referrers(plainRef)).Referrers, []);
});
