/**
 * Test helper: a podman store of its own (vfs driver, private --root and --runroot) and, on
 * demand, `podman system service` serving the Docker-compatible API on a unix socket in it.
 * @module
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { request } from 'node:http';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** True when the podman command runs here. */
export function podmanAvailable(): boolean {
  return spawnSync('podman', ['--version']).status === 0;
}

/** An isolated podman store. */
export interface PodmanStore {
  /** Its folder (removed by `stop`). */
  dir: string;
  /** Global arguments selecting the store (`--storage-driver vfs --root ... --runroot ...`). */
  args: string[];
  /** The API socket, once `serve` ran. */
  socket?: string;
  /** Starts `podman system service` on `DIR/podman.sock` and waits until it answers `_ping`. */
  serve(): Promise<string>;
  /** Runs podman with the store's arguments; returns stdout. */
  podman(...args: string[]): Promise<string>;
  /** `podman image inspect NAME`, parsed. */
  inspect(name: string): Promise<PodmanImage>;
  /** Stops the service and removes the store. */
  stop(): Promise<void>;
}

/** The fields of `podman image inspect` the tests compare. */
export interface PodmanImage {
  Id: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Config: { Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> };
  RootFS: { Layers: string[] };
}

/** Creates a store in a new temp folder. */
export async function podmanStore(): Promise<PodmanStore> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-podman-'));
  const args = ['--storage-driver', 'vfs', '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--tmpdir', path.join(dir, 'tmp')];
  await fs.mkdir(path.join(dir, 'tmp'));
  let service: ChildProcess | undefined;
  const store: PodmanStore = {
    dir,
    args,
    async serve() {
      const socket = path.join(dir, 'podman.sock');
      service = spawn('podman', [...args, 'system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
      const deadline = Date.now() + 20_000;
      while (!(await ping(socket))) {
        if (Date.now() > deadline) throw new Error('podman system service did not answer within 20 s');
        if (service.exitCode !== null) throw new Error(`podman system service exited with ${service.exitCode}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      store.socket = socket;
      return socket;
    },
    async podman(...rest) {
      return (await run('podman', [...args, ...rest], { maxBuffer: 64 * 1024 * 1024 })).stdout;
    },
    async inspect(name) {
      return (JSON.parse(await store.podman('image', 'inspect', name)) as PodmanImage[])[0] as PodmanImage;
    },
    async stop() {
      if (service !== undefined && service.exitCode === null) {
        const exited = new Promise((r) => service?.once('exit', r));
        service.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (service.exitCode === null) service.kill('SIGKILL');
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return store;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}
