// docker-daemon: and podman: targets against a real podman store: loaded through the Docker
// Engine API (podman system service on a private socket, as DOCKER_HOST and as CONTAINER_HOST)
// and through the podman command, read back with `podman image inspect`; a daemon image as a
// build base; one platform of a multi-platform build.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildImage, type BuildEvent } from '../../src/index.ts';
import { OcibuildError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { openImage } from '../../src/image/open.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { daemonTransport } from '../../src/transports/daemon.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { runCli } from '../helpers/cli.ts';
import { podmanAvailable, podmanStore, type PodmanStore } from './daemon-podman.ts';

const run = promisify(execFile);
const skip = podmanAvailable() ? false : 'podman is not installed';

function isCode(code: string, text?: RegExp) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code && (text === undefined || text.test(error.message));
}

/** Runs `fn` with environment variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

const config = { cmd: ['cat', '/hello.txt'], env: { GREETING: 'hi' }, labels: { 'org.example.test': 'daemon' } };
const helloLayer = [{ entries: [{ type: 'file' as const, path: '/hello.txt', source: new TextEncoder().encode('hello\n') }], createdBy: 'hello' }];

describe('daemon targets', { skip, concurrency: false }, () => {
  let tmp: string;
  let store: PodmanStore;
  let socket: string;
  let base: string;
  let multi: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-daemon-'));
    store = await podmanStore();
    socket = await store.serve();
    base = `oci:${(await buildBusyboxLayout(path.join(tmp, 'busybox'))).layoutPath}:latest`;
    const m = await buildBusyboxLayout(path.join(tmp, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
    multi = `oci:${m.layoutPath}:multi`;
  });

  after(async () => {
    await store?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('loads a build into the daemon DOCKER_HOST names (Engine API), with its config and layers', async () => {
    const result = await withEnv({ DOCKER_HOST: `unix://${socket}` }, () =>
      buildImage({ from: base, layers: helloLayer, config, to: 'docker-daemon:localhost/ocitest:1', tags: ['extra'], cache: false }),
    );
    const image = await store.inspect('localhost/ocitest:1');
    assert.deepEqual(image.Config.Cmd, ['cat', '/hello.txt']);
    assert.ok(image.Config.Env?.includes('GREETING=hi'), String(image.Config.Env));
    assert.equal(image.Config.Labels?.['org.example.test'], 'daemon');
    assert.deepEqual(image.RootFS.Layers, result.config.rootfs.diff_ids);
    assert.equal(image.Id, result.manifest.config.digest.slice('sha256:'.length));
    assert.ok(image.RepoTags.includes('localhost/ocitest:extra'), `extra tags name the same repository: ${image.RepoTags.join(', ')}`);
  });

  it('a build with SBOM and provenance still loads: the store has no place for referrers, which is said (as for a docker-archive)', async () => {
    const events: BuildEvent[] = [];
    const result = await withEnv({ DOCKER_HOST: `unix://${socket}` }, () =>
      buildImage({ from: base, layers: helloLayer, config, to: 'docker-daemon:localhost/ocitest:attested', cache: false, sbom: true, provenance: true, onEvent: (e) => events.push(e) }),
    );
    const image = await store.inspect('localhost/ocitest:attested');
    assert.equal(image.Id, result.manifest.config.digest.slice('sha256:'.length));
    const skipped = events.filter((e) => e.type === 'attach-skipped');
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]?.type === 'attach-skipped' ? skipped[0].message : '', /docker-daemon:localhost\/ocitest:attested: a docker-daemon image store .* cannot hold referrers/);
    assert.deepEqual(result.attachments, []);
  });

  it('loads through the podman socket CONTAINER_HOST names', async () => {
    const result = await withEnv({ CONTAINER_HOST: `unix://${socket}`, DOCKER_HOST: undefined }, () =>
      buildImage({ from: base, layers: helloLayer, config: { ...config, labels: { via: 'podman-socket' } }, to: 'podman:localhost/ocitest:socket', cache: false }),
    );
    const image = await store.inspect('localhost/ocitest:socket');
    assert.equal(image.Config.Labels?.['via'], 'podman-socket');
    assert.deepEqual(image.RootFS.Layers, result.config.rootfs.diff_ids);
  });

  it('loads through the podman command (podman load -q) into the store OCIBUILD_PODMAN_ARGS names', async () => {
    const result = await withEnv({ CONTAINER_HOST: undefined, OCIBUILD_PODMAN_ARGS: store.args.join(' '), XDG_RUNTIME_DIR: path.join(tmp, 'no-runtime') }, async () => {
      // No socket where podman's client would look: the command is used.
      return buildImage({ from: base, layers: helloLayer, config: { ...config, labels: { via: 'podman-cli' } }, to: 'podman:localhost/ocitest:cli', cache: false });
    });
    const image = await store.inspect('localhost/ocitest:cli');
    assert.equal(image.Config.Labels?.['via'], 'podman-cli');
    assert.deepEqual(image.RootFS.Layers, result.config.rootfs.diff_ids);
    // And the same through the transport with the command forced.
    await copyImage(ociLayout(base.slice(4, -':latest'.length)), 'latest', daemonTransport('podman', 'localhost/forced:cli', { podmanVia: 'cli', podmanArgs: store.args }), ['localhost/forced:cli']);
    assert.equal((await store.inspect('localhost/forced:cli')).RootFS.Layers.length, 1);
  });

  it('reads a daemon image as a base (GET /images/{name}/get and podman save)', async () => {
    const loaded = await store.inspect('localhost/ocitest:1');
    const out = path.join(tmp, 'from-daemon');
    const second = [{ entries: [{ type: 'file' as const, path: '/second.txt', source: new TextEncoder().encode('2\n') }], createdBy: 'second' }];
    const built = await withEnv({ DOCKER_HOST: `unix://${socket}` }, () =>
      buildImage({ from: 'docker-daemon:localhost/ocitest:1', layers: second, to: `oci:${out}:v1`, cache: false }),
    );
    assert.deepEqual(built.config.rootfs.diff_ids.slice(0, -1), loaded.RootFS.Layers);
    assert.deepEqual(built.config.config?.Cmd, ['cat', '/hello.txt'], 'the base config is kept');
    const { stdout } = await run('skopeo', ['inspect', '--config', '--raw', `oci:${out}:v1`]);
    assert.deepEqual((JSON.parse(stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, built.config.rootfs.diff_ids);

    const viaCli = await withEnv({ CONTAINER_HOST: undefined, OCIBUILD_PODMAN_ARGS: store.args.join(' '), XDG_RUNTIME_DIR: path.join(tmp, 'no-runtime') }, () =>
      buildImage({ from: 'podman:localhost/ocitest:1', layers: second, to: `oci:${out}:v2`, cache: false }),
    );
    assert.deepEqual(viaCli.config.rootfs.diff_ids, built.config.rootfs.diff_ids);
  });

  it('says when a daemon image is not there', async () => {
    await withEnv({ DOCKER_HOST: `unix://${socket}` }, async () => {
      await assert.rejects(buildImage({ from: 'docker-daemon:localhost/nosuch:1', to: `oci:${path.join(tmp, 'never')}`, cache: false }), isCode('ERR_NOT_FOUND', /nosuch/));
    });
    const source = daemonTransport('podman', 'localhost/nosuch:1', { podmanVia: 'cli', podmanArgs: store.args });
    await assert.rejects(source.getManifest(''), isCode('ERR_NOT_FOUND', /nosuch/));
    await source.close();
  });

  it('loads the host platform of a multi-platform build, or the one asked for, and says so', async () => {
    const events: BuildEvent[] = [];
    await withEnv({ DOCKER_HOST: `unix://${socket}` }, () =>
      buildImage({ from: multi, platforms: 'all', layers: helloLayer, to: 'docker-daemon:localhost/multi:host', cache: false, onEvent: (e) => events.push(e) }),
    );
    const warning = events.find((e) => e.type === 'target-warning');
    assert.ok(warning && warning.type === 'target-warning', 'a target-warning event');
    assert.match(warning.message, /loaded linux\/amd64 \(the host's platform\), not linux\/arm64/);
    assert.equal((await store.inspect('localhost/multi:host')).Architecture, 'amd64');

    await withEnv({ DOCKER_HOST: `unix://${socket}` }, () =>
      buildImage({ from: multi, platforms: 'all', layers: helloLayer, to: 'docker-daemon:localhost/multi:arm', loadPlatform: 'linux/arm64', cache: false }),
    );
    assert.equal((await store.inspect('localhost/multi:arm')).Architecture, 'arm64');
    await withEnv({ DOCKER_HOST: `unix://${socket}` }, async () => {
      await assert.rejects(
        buildImage({ from: multi, platforms: 'all', layers: helloLayer, to: 'docker-daemon:localhost/multi:s390x', loadPlatform: 'linux/s390x', cache: false }),
        isCode('ERR_NOT_FOUND', /linux\/amd64, linux\/arm64/),
      );
    });
  });

  it('ocibuild copy loads into a daemon and reads one back (CLI)', async () => {
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}` };
    const loaded = await runCli(['copy', '--progress', 'plain', multi, 'docker-daemon:localhost/cli:1'], env);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stderr, /warning: docker-daemon:localhost\/cli:1 holds one platform: loaded linux\/amd64/);
    assert.equal((await store.inspect('localhost/cli:1')).Architecture, 'amd64');
    const arm = await runCli(['copy', '--platform', 'linux/arm64', multi, 'docker-daemon:localhost/cli:arm'], env);
    assert.equal(arm.code, 0, arm.stderr);
    assert.equal((await store.inspect('localhost/cli:arm')).Architecture, 'arm64');
    const out = path.join(tmp, 'cli-copy');
    const back = await runCli(['copy', 'docker-daemon:localhost/cli:arm', `oci:${out}:x`], env);
    assert.equal(back.code, 0, back.stderr);
    // (skopeo 1.9 does not read the Docker v2.2 manifest a daemon image keeps out of an OCI layout.)
    assert.equal((await openImage(ociLayout(out), 'x')).config.architecture, 'arm64');
    const missing = await runCli(['copy', multi, 'docker-daemon:localhost/cli:2'], { ...process.env, DOCKER_HOST: `unix://${path.join(tmp, 'none.sock')}` });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Docker daemon at unix:\/\/.*none\.sock; set DOCKER_HOST or use podman:/);
  });

  it('leaves no staged archive in the temp folder', async () => {
    const mine = (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`ocibuild-${process.pid}-daemon-`));
    assert.deepEqual(mine, []);
  });
});
