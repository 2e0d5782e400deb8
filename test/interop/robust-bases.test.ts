/**
 * Base images other tools write, used as `FROM` and copied: buildah (OCI layout, docker-archive),
 * umoci (no top-level mediaType), skopeo (Docker v2s2 in a registry, zstd in a registry and a
 * layout, docker-archive with uncompressed layers behind symlinks, uncompressed layers labelled
 * gzip). For each, ocibuild builds a Dockerfile whose `COPY --chown=app` reads /etc/passwd, whose
 * `RUN` needs the base extracted and whose `WORKDIR` creates a directory, into an OCI layout and
 * a registry; `umoci unpack` and `skopeo` read the results. `copy` round-trips every base.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { diffTrees, readTree, unpackImage } from '../helpers/tree.ts';
import { ocibuildCopy } from './ocibuild.ts';
import { buildRobustBases, type RobustBases } from './robust-fixtures.ts';
import { skopeo, skopeoCopy, skopeoInspect } from './tools.ts';
import { sha256 } from '../helpers/data.ts';

const DOCKERFILE = [
  'ARG BASE',
  'FROM ${BASE}',
  'WORKDIR /work',
  'COPY --chown=app:app hello.txt ./',
  "RUN cat /etc/nonce /etc/buildah.txt > /work/ran.txt && stat -c '%u:%g' /work/hello.txt > /work/owner.txt",
  '',
].join('\n');

let tmp: string;
let registry: TestRegistry;
let fixtures: RobustBases;
let context: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-bases-'));
  registry = await startRegistry();
  // skopeo's oci: destination wants the parent directory to exist.
  for (const dir of ['pulled', 'recopied', 'normalised', 'copies']) await fs.mkdir(path.join(tmp, dir), { recursive: true });
  fixtures = await buildRobustBases(path.join(tmp, 'bases'), registry.host);
  context = path.join(tmp, 'context');
  await fs.mkdir(context);
  await fs.writeFile(path.join(context, 'hello.txt'), 'hello\n');
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * The manifest bytes tagged `tag` in an OCI layout, read from the files: skopeo 1.9 skips index
 * entries with a Docker media type (it cannot read back the Docker manifests it writes there).
 */
async function layoutManifest(layout: string, tag = 'latest'): Promise<string> {
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(entry, `${layout} has tag ${tag}`);
  return fs.readFile(path.join(layout, 'blobs', 'sha256', entry.digest.slice('sha256:'.length)), 'utf8');
}

/** The manifest bytes a source serves, as skopeo reads them. */
async function rawManifest(source: string): Promise<string> {
  const arg = source.startsWith('oci:') || source.startsWith('docker-archive:') ? source : `docker://${source}`;
  return skopeo(['inspect', '--raw', '--tls-verify=false', arg]);
}


describe('robustness: bases written by buildah, umoci and skopeo', () => {
  it('the mislabelled fixtures really hold uncompressed tars behind gzip media types', async () => {
    for (const name of ['docker-lie', 'oci-lie']) {
      const blobs = path.join(tmp, 'bases', name, 'blobs', 'sha256');
      let tars = 0;
      for (const file of await fs.readdir(blobs)) {
        const head = (await fs.readFile(path.join(blobs, file))).subarray(0, 512);
        if (head.subarray(257, 262).toString() === 'ustar') tars++;
        assert.ok(!(head[0] === 0x1f && head[1] === 0x8b), `${name}/${file} is gzip`);
      }
      assert.equal(tars, 2, `${name} has two plain tar layers`);
    }
  });

  it('builds COPY --chown, RUN and WORKDIR on every base into oci: and a registry that umoci and skopeo read', async () => {
    const failures: string[] = [];
    for (const base of fixtures.bases) {
      const layout = path.join(tmp, 'out', base.name);
      const repo = `${registry.host}/out-${base.name}:latest`;
      try {
        const built = await buildImage({
          dockerfile: { text: DOCKERFILE },
          context,
          buildArgs: { BASE: base.source },
          to: [`oci:${layout}:latest`, repo],
          cache: false,
        });
        // umoci 0.4.7 reads neither zstd layers nor plain tars labelled gzip (a base that mislabels
        // its layers is passed on as it is: same bytes, same descriptors); skopeo re-compresses
        // those to gzip first (it detects compression by content), then umoci unpacks.
        const direct = !base.layerTypes.some((t) => t.endsWith('+zstd')) && !base.name.startsWith('plain-labelled');
        const readable = direct ? layout : path.join(tmp, 'normalised', base.name);
        if (!direct) await skopeoCopy(`oci:${layout}:latest`, `oci:${readable}:latest`, ['--dest-compress-format', 'gzip']);
        const unpacked = await unpackImage(readable, 'latest', path.join(tmp, 'unpack', base.name));
        const ran = await fs.readFile(path.join(unpacked.rootfs, 'work', 'ran.txt'), 'utf8');
        assert.equal(ran, `${fixtures.nonce}\nbuilt-by-buildah\n`, `${base.name}: RUN saw the base files`);
        assert.equal(await fs.readFile(path.join(unpacked.rootfs, 'work', 'owner.txt'), 'utf8'), '1000:1000\n', `${base.name}: --chown=app resolved from /etc/passwd`);
        const hello = await fs.stat(path.join(unpacked.rootfs, 'work', 'hello.txt'));
        assert.deepEqual([hello.uid, hello.gid], [1000, 1000], `${base.name}: hello.txt owner in the layer`);
        if (base.name === 'umoci') await fs.access(path.join(unpacked.rootfs, 'etc', 'umoci.txt'));

        const inspected = await skopeoInspect(repo);
        assert.equal(inspected.Digest, built.digest, `${base.name}: registry digest`);
        assert.ok(inspected.Layers.length >= base.layers + 2, `${base.name}: ${inspected.Layers.length} layers`);
        // The registry copy holds the same tree as the layout (pulled by skopeo, unpacked by umoci).
        const pulled = path.join(tmp, 'pulled', base.name);
        await skopeoCopy(`docker://${repo}`, `oci:${pulled}:latest`, ['--dest-compress-format', 'gzip']);
        const again = await unpackImage(pulled, 'latest', path.join(tmp, 'unpack-pulled', base.name));
        assert.deepEqual(diffTrees(await readTree(unpacked.rootfs), await readTree(again.rootfs), {}, ['layout', 'registry']), []);
      } catch (error) {
        failures.push(`${base.name}: ${(error as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('copies every base to oci: and a registry; manifests stay byte-identical where the source keeps them', async () => {
    const failures: string[] = [];
    for (const base of fixtures.bases) {
      try {
        const toLayout = await ocibuildCopy(base.source.startsWith('oci:') || base.source.startsWith('docker-archive:') ? base.source : `docker://${base.source}`, `oci:${path.join(tmp, 'copies', base.name)}:latest`);
        const toRegistry = await ocibuildCopy(
          base.source.startsWith('oci:') || base.source.startsWith('docker-archive:') ? base.source : `docker://${base.source}`,
          `docker://${registry.host}/copy-${base.name}:latest`,
        );
        assert.equal(toRegistry.digest, toLayout.digest, `${base.name}: same manifest in both destinations`);
        const copied = await layoutManifest(path.join(tmp, 'copies', base.name));
        assert.equal(sha256(copied), toLayout.digest);
        assert.equal(await rawManifest(`${registry.host}/copy-${base.name}:latest`), copied, `${base.name}: registry bytes`);
        if (base.rawManifest) {
          const source = base.source.startsWith('oci:') ? await layoutManifest(base.source.slice(4, base.source.lastIndexOf(':'))) : await rawManifest(base.source);
          assert.equal(copied, source, `${base.name}: source bytes kept`);
        }
        // skopeo reads every copied blob back (verifying digests) into a layout of its own.
        await skopeoCopy(`docker://${registry.host}/copy-${base.name}:latest`, `oci:${path.join(tmp, 'recopied', base.name)}:latest`);
      } catch (error) {
        failures.push(`${base.name}: ${(error as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});
