// Daemon failures as typed errors: no socket, a refused load (JSON message stream errorDetail),
// an HTTP error with the daemon's message, a daemon that stops answering, a tarball past its
// bound, and the staged archive removed afterwards. A scripted HTTP server on a unix socket
// stands in for the daemon where the real one cannot be made to fail.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { OcibuildError } from '../../src/errors.ts';
import { buildImage } from '../../src/index.ts';
import { copyImage } from '../../src/image/copy.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { daemonTransport } from '../../src/transports/daemon.ts';
import { dockerEndpoint, parseDaemonHost, podmanEndpoint } from '../../src/transports/daemon-endpoint.ts';
import { messageStreamError } from '../../src/transports/daemon-client.ts';
import { parseTarget } from '../../src/transports/target.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

function isCode(code: string, text?: RegExp) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code && (text === undefined || text.test(error.message));
}

describe('daemon failures', { concurrency: false }, () => {
  let tmp: string;
  let layout: string;
  let server: Server;
  let socket: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  let loads = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-daemon-err-'));
    layout = (await buildBusyboxLayout(path.join(tmp, 'busybox'))).layoutPath;
    socket = path.join(tmp, 'fake.sock');
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  const load = (name: string, options: Parameters<typeof daemonTransport>[2] = {}): Promise<unknown> =>
    copyImage(ociLayout(layout), 'latest', daemonTransport('docker', name, { endpoint: parseDaemonHost(`unix://${socket}`, 'test'), tempDir: tmp, ...options }), [name]);

  /** Work folders the transport made in `tmp` (none may be left). */
  const leftovers = async (): Promise<string[]> => (await fs.readdir(tmp)).filter((n) => n.startsWith('ocibuild-'));

  it('says there is no daemon, naming the address and the way out', async () => {
    const missing = path.join(tmp, 'absent.sock');
    await assert.rejects(
      copyImage(ociLayout(layout), 'latest', daemonTransport('docker', 'app:1', { env: { DOCKER_HOST: `unix://${missing}` }, tempDir: tmp }), ['app:1']),
      isCode('ERR_TRANSPORT', new RegExp(`no Docker daemon at unix://${missing}; set DOCKER_HOST or use podman:`)),
    );
    assert.deepEqual(await leftovers(), []);
  });

  it('reports a refused load from the JSON message stream', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        loads++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"stream":"working\\n"}\r\n{"errorDetail":{"message":"no space on the store"},"error":"no space on the store"}\r\n');
      });
    };
    await assert.rejects(load('app:1'), isCode('ERR_TRANSPORT', /refused the image: no space on the store/));
    assert.equal(loads, 1);
    assert.deepEqual(await leftovers(), []);
  });

  it('reports an HTTP error with the daemon message', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"message":"storage driver exploded"}');
      });
    };
    await assert.rejects(load('app:1'), isCode('ERR_TRANSPORT', /answered 500: storage driver exploded/));
  });

  it('gives up on a daemon that stops answering (idle timeout)', async () => {
    handler = (req) => {
      req.resume(); // reads the body, never answers
    };
    await assert.rejects(load('app:1', { limits: { idleTimeoutMs: 300 } }), (e: unknown) => isCode('ERR_TIMEOUT', /idleTimeoutMs/)(e));
    assert.deepEqual(await leftovers(), []);
  });

  it('stops a load when aborted, leaving nothing', async () => {
    handler = (req) => {
      req.resume();
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user stop')), 300);
    const name = 'app:1';
    await assert.rejects(
      copyImage(ociLayout(layout), 'latest', daemonTransport('docker', name, { endpoint: parseDaemonHost(`unix://${socket}`, 'test'), tempDir: tmp }), [name], { signal: controller.signal }),
      isCode('ERR_ABORTED'),
    );
    assert.deepEqual(await leftovers(), []);
  });

  it('refuses a daemon image tarball past maxImageBytes', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      res.end(Buffer.alloc(8192));
    };
    const source = daemonTransport('docker', 'app:1', { endpoint: parseDaemonHost(`unix://${socket}`, 'test'), tempDir: tmp, limits: { maxImageBytes: 4096 } });
    await assert.rejects(source.getManifest(''), isCode('ERR_LIMIT_EXCEEDED', /maxImageBytes/));
    await source.close();
    assert.deepEqual(await leftovers(), []);
  });

  it('refuses an error body past maxMessageBytes instead of reading it all', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(`{"message":"${'x'.repeat(4096)}"}`);
    };
    const source = daemonTransport('docker', 'app:1', { endpoint: parseDaemonHost(`unix://${socket}`, 'test'), tempDir: tmp, limits: { maxMessageBytes: 1024 } });
    // The message is cut; the 404 still says what it is.
    await assert.rejects(source.getManifest(''), isCode('ERR_NOT_FOUND', /answered 404: HTTP 404/));
    await source.close();
  });

  it('fails a build before any work when the daemon is not there', async () => {
    const missing = path.join(tmp, 'absent.sock');
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = `unix://${missing}`;
    try {
      // The layer's source does not exist either: the daemon check comes first.
      await assert.rejects(
        buildImage({ from: `oci:${layout}:latest`, layers: [{ directories: [{ source: path.join(tmp, 'no-such-dir') }] }], to: 'docker-daemon:app:1', cache: false }),
        isCode('ERR_TRANSPORT', /no Docker daemon at/),
      );
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
    await assert.rejects(
      daemonTransport('podman', 'app:1', { podmanVia: 'cli', podmanCommand: path.join(tmp, 'no-podman') }).ping(),
      isCode('ERR_TRANSPORT', /no podman socket at .* and no .*no-podman command/),
    );
  });

  it('speaks plain HTTP to a tcp:// daemon', async () => {
    const tcp = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(req.url === '/_ping' ? 200 : 500, { 'Content-Type': 'application/json' });
        res.end(req.url === '/_ping' ? 'OK' : '{"message":"tcp daemon says no"}');
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const { port } = tcp.address() as { port: number };
    try {
      const env = { DOCKER_HOST: `tcp://127.0.0.1:${port}` };
      await daemonTransport('docker', 'app:1', { env }).ping();
      await assert.rejects(
        copyImage(ociLayout(layout), 'latest', daemonTransport('docker', 'app:1', { env, tempDir: tmp }), ['app:1']),
        isCode('ERR_TRANSPORT', /tcp daemon says no/),
      );
    } finally {
      tcp.closeAllConnections();
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('says permission denied for a socket the user may not open', { skip: spawnSync('setpriv', ['--version']).status === 0 || process.getuid?.() !== 0 ? false : 'needs setpriv to drop root' }, async () => {
    // Root opens any socket: the check runs as nobody (setpriv) when the tests run as root.
    const open = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-perm-'));
    try {
      await fs.chmod(open, 0o755);
      const locked = path.join(open, 'locked');
      await fs.mkdir(locked, { mode: 0o700 });
      const sock = path.join(locked, 'docker.sock');
      const listener = createServer(() => undefined);
      await new Promise<void>((resolve) => listener.listen(sock, resolve));
      const script = path.join(open, 'ping.mts');
      const module = new URL('../../src/transports/daemon.ts', import.meta.url).pathname;
      await fs.writeFile(script, `import { daemonTransport } from ${JSON.stringify(module)};\ntry { await daemonTransport('docker', 'a:1', { env: { DOCKER_HOST: 'unix://${sock}' } }).ping(); console.log('no error'); } catch (e) { console.log(e.code + ' ' + e.message); }\n`);
      await fs.chmod(script, 0o644);
      const node = [process.execPath, '--import', 'tsx', script];
      const argv = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
      const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
      listener.close();
      assert.match(result.stdout, new RegExp(`^ERR_TRANSPORT permission denied on unix://${sock}: this user may not use the docker socket`), result.stderr);
    } finally {
      await fs.rm(open, { recursive: true, force: true });
    }
  });
});

describe('daemon addresses and names', () => {
  it('reads DOCKER_HOST, CONTAINER_HOST and the default sockets', () => {
    assert.deepEqual(dockerEndpoint({}), { kind: 'unix', socketPath: '/var/run/docker.sock', display: 'unix:///var/run/docker.sock' });
    assert.equal((dockerEndpoint({ DOCKER_HOST: 'unix:///x/d.sock' }) as { socketPath: string }).socketPath, '/x/d.sock');
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }), { kind: 'tcp', host: '127.0.0.1', port: 2375, display: 'tcp://127.0.0.1:2375' });
    assert.throws(() => dockerEndpoint({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1' }), isCode('ERR_UNSUPPORTED'));
    assert.throws(() => dockerEndpoint({ DOCKER_HOST: 'ssh://me@host' }), isCode('ERR_UNSUPPORTED'));
    assert.equal((podmanEndpoint({}, 0) as { socketPath: string }).socketPath, '/run/podman/podman.sock');
    assert.equal((podmanEndpoint({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000) as { socketPath: string }).socketPath, '/run/user/1000/podman/podman.sock');
    assert.equal((podmanEndpoint({ CONTAINER_HOST: 'unix:///p.sock' }, 1000) as { socketPath: string }).socketPath, '/p.sock');
  });

  it('parses daemon and root filesystem targets', () => {
    assert.deepEqual(parseTarget('docker-daemon:app'), { kind: 'docker-daemon', reference: 'app:latest', ref: parseTarget('docker-daemon:app').ref, input: 'docker-daemon:app' });
    assert.equal(parseTarget('podman:localhost:5000/team/app:2').reference, 'localhost:5000/team/app:2');
    assert.throws(() => parseTarget('docker-daemon:app@sha256:' + 'a'.repeat(64)), isCode('ERR_INVALID_REFERENCE'));
    assert.throws(() => parseTarget('podman:'), isCode('ERR_INVALID_REFERENCE'));
    assert.deepEqual(parseTarget('local:out/rootfs'), { kind: 'local', path: 'out/rootfs', input: 'local:out/rootfs' });
    assert.deepEqual(parseTarget('tar:/tmp/rootfs.tar'), { kind: 'tar', path: '/tmp/rootfs.tar', input: 'tar:/tmp/rootfs.tar' });
    assert.throws(() => parseTarget('local:'), isCode('ERR_INVALID_REFERENCE'));
  });

  it('finds the error of a JSON message stream', () => {
    assert.equal(messageStreamError('{"stream":"Loaded image: a:1\\n"}\r\n'), undefined);
    assert.equal(messageStreamError('{"errorDetail":{"message":"bad"},"error":"bad"}'), 'bad');
    assert.equal(messageStreamError('garbage\n{"error":"worse"}'), 'worse');
  });
});
