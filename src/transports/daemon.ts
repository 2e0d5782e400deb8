/**
 * Daemon transports: `docker-daemon:NAME` (the Docker Engine API at `DOCKER_HOST`, default
 * `/var/run/docker.sock`) and `podman:NAME` (podman's Docker-compatible socket, or the `podman`
 * command when no socket is there). No `docker` CLI is needed.
 *
 * Writing stages the image as a docker-archive (one platform: the daemon stores images, not
 * indexes) and `commit()` streams it to `POST /images/load` (or `podman load`); the daemon's
 * JSON message stream is checked for an error, and the image is looked up by name afterwards.
 * Reading fetches `GET /images/{name}/get` (or `podman save`) into a temporary file, capped at
 * `maxImageBytes`, and reads it with the docker-archive reader, which verifies every blob.
 * @module
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { LimitExceededError, OcibuildError, throwIfAborted, TimeoutError } from '../errors.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import type { TransportCapabilities } from '../image/transport.ts';
import { readFileStream } from '../blob/files.ts';
import { dockerArchive, type DockerArchiveTransport } from './docker-archive.ts';
import { DaemonClient, messageStreamError, type DaemonLimits } from './daemon-client.ts';
import { dockerEndpoint, podmanEndpoint, podmanGlobalArgs, type DaemonEndpoint, type DaemonEngine } from './daemon-endpoint.ts';
import type { BlobBody, OperationOptions, Transport } from './types.ts';

/**
 * Options of {@link daemonTransport}.
 * @category Images
 */
export interface DaemonOptions {
  /** Environment read for `DOCKER_HOST`, `CONTAINER_HOST`, `XDG_RUNTIME_DIR`, `OCIBUILD_PODMAN_ARGS` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The daemon address, instead of the one the environment names. */
  endpoint?: DaemonEndpoint;
  /**
   * `podman:` only: `socket` uses the API socket, `cli` the `podman` command, `auto` (default)
   * the socket when `CONTAINER_HOST` is set or the default socket exists, else the command.
   */
  podmanVia?: 'auto' | 'socket' | 'cli';
  /** The podman command (default `podman`). */
  podmanCommand?: string;
  /** Global arguments put before every podman subcommand (default `OCIBUILD_PODMAN_ARGS`, split on whitespace). */
  podmanArgs?: readonly string[];
  /** Bounds on the connection and on what is read (docs/limits.md). */
  limits?: Partial<DaemonLimits>;
  /** Directory for the staged archive (default the OS temp directory). */
  tempDir?: string;
  /** Hash implementation for verification. */
  hash?: HashFactory;
}

/**
 * A daemon transport: writes one single-platform image on `commit()`, reads the image `name` names.
 * @category Images
 */
export interface DaemonTransport extends Transport, TransportCapabilities {
  /** Which engine. */
  readonly engine: DaemonEngine;
  /** The image name the target gives (`app:1`, `localhost/app:1`). */
  readonly name: string;
  /** Always false: a daemon stores one platform's image under a name. */
  readonly acceptsIndex: false;
  /** Always false: a daemon stores container images only. */
  readonly acceptsArtifacts: false;
  /** Always false: `docker load` reads gzip or uncompressed layers. */
  readonly acceptsZstd: false;
  /** Always true: the daemon must receive every layer. */
  readonly needsForeignLayers: true;
  /**
   * Checks that the daemon answers (`GET /_ping`), or for `podman:` without a socket that the
   * `podman` command runs, so a build fails before any work. Throws the errors a load would.
   */
  ping(options?: OperationOptions): Promise<void>;
  /** Loads what was written into the daemon. */
  commit(options?: OperationOptions): Promise<void>;
  /** Removes the staged and fetched archives. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a daemon image for reading (as a base or copy source) or writing (loaded on `commit()`).
 * @category Images
 * @example
 * ```ts
 * import { copyImage, daemonTransport, ociLayout } from 'ocibuild';
 *
 * // Load an image from an OCI layout into the local Docker daemon (DOCKER_HOST or /var/run/docker.sock).
 * await copyImage(ociLayout('./out'), 'app', daemonTransport('docker', 'app:dev'), ['app:dev']);
 * ```
 */
export function daemonTransport(engine: DaemonEngine, name: string, options: DaemonOptions = {}): DaemonTransport {
  return new Daemon(engine, name, options);
}

/** Bytes of podman's stderr kept for an error message. */
const MAX_STDERR = 64 * 1024;

class Daemon implements DaemonTransport {
  readonly engine: DaemonEngine;
  readonly name: string;
  readonly description: string;
  readonly acceptsIndex = false as const;
  readonly acceptsArtifacts = false as const;
  readonly acceptsZstd = false as const;
  readonly needsForeignLayers = true as const;
  readonly #options: DaemonOptions;
  readonly #env: NodeJS.ProcessEnv;
  #work: Promise<string> | undefined;
  #writer: DockerArchiveTransport | undefined;
  #reader: Promise<DockerArchiveTransport> | undefined;
  #wrote = false;
  #closed = false;

  constructor(engine: DaemonEngine, name: string, options: DaemonOptions) {
    this.engine = engine;
    this.name = name;
    this.description = `${engine === 'docker' ? 'docker-daemon' : 'podman'}:${name}`;
    this.#options = options;
    this.#env = options.env ?? process.env;
  }

  async ping(options: OperationOptions = {}): Promise<void> {
    this.#assertOpen();
    if (await this.#useCli()) {
      await this.#runPodman(['version', '--format', '{{.Client.Version}}'], undefined, options.signal);
      return;
    }
    const client = this.#client();
    const response = await client.send({ method: 'GET', path: '/_ping', signal: options.signal });
    await client.expectOk(response, `${this.description}: checking the daemon`);
    response.body.resume();
  }

  // ---- reading ----

  async getManifest(reference: string, options: OperationOptions = {}): Promise<RawManifest> {
    // The archive holds the one image `name` names; a digest is matched inside it.
    const reader = await this.#read(options.signal);
    return reader.getManifest(reference.startsWith('sha256:') ? reference : '', options);
  }

  async hasBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    return (await this.#archive()).hasBlob(descriptor, options);
  }

  async getBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    if (this.#writer !== undefined && (await this.#writer.hasBlob(descriptor))) return this.#writer.getBlob(descriptor, options);
    return (await this.#read(options.signal)).getBlob(descriptor, options);
  }

  #read(signal: AbortSignal | undefined): Promise<DockerArchiveTransport> {
    this.#assertOpen();
    this.#reader ??= (async () => {
      const file = join(await this.#workDir(), 'source.tar');
      if (await this.#useCli()) await this.#runPodman(['save', '--format', 'docker-archive', '-o', file, this.name], undefined, signal);
      else await this.#fetch(file, signal);
      return dockerArchive(file, this.#archiveOptions());
    })();
    return this.#reader;
  }

  async #fetch(file: string, signal: AbortSignal | undefined): Promise<void> {
    const client = this.#client();
    const response = await client.send({ method: 'GET', path: `/images/${encodeURI(this.name)}/get`, signal });
    await client.expectOk(response, `reading ${this.description}`);
    const max = client.limits.maxImageBytes;
    let total = 0;
    const where = this.description;
    const cap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        total += chunk.length;
        if (total > max) done(new LimitExceededError('maxImageBytes', max, `the image tarball of ${where} is larger than ${max} bytes (maxImageBytes)`));
        else done(null, chunk);
      },
    });
    await pipeline(response.body, cap, createWriteStream(file, { flags: 'wx', mode: 0o600 }), ...(signal === undefined ? [] : [{ signal }])).catch((error: unknown) => {
      if (error instanceof OcibuildError) throw error;
      throw new OcibuildError('ERR_TRANSPORT', `reading ${this.description}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
  }

  // ---- writing ----

  async putBlob(descriptor: Descriptor, body: BlobBody, options: OperationOptions = {}): Promise<void> {
    await (await this.#archive()).putBlob(descriptor, body, options);
  }

  async putManifest(manifest: RawManifest, reference: string | undefined, options: OperationOptions = {}): Promise<void> {
    await (await this.#archive()).putManifest(manifest, reference ?? this.name, options);
    this.#wrote = true;
  }

  async commit(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    if (!this.#wrote || this.#writer === undefined) return;
    await this.#writer.commit(options);
    const tarball = this.#writer.path;
    if (await this.#useCli()) {
      await this.#runPodman(['load', '-q'], tarball, options.signal);
    } else {
      await this.#load(tarball, options.signal);
    }
    this.#wrote = false;
  }

  async #load(tarball: string, signal: AbortSignal | undefined): Promise<void> {
    const client = this.#client();
    const response = await client.send({ method: 'POST', path: '/images/load?quiet=1', body: readFileStream(tarball, signal === undefined ? {} : { signal }), signal });
    await client.expectOk(response, `loading ${this.description}`);
    const refused = messageStreamError(await client.readText(response));
    if (refused !== undefined) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: the daemon refused the image: ${refused}`);
    // The load answer's wording differs between engines; the name lookup does not.
    const check = await client.send({ method: 'GET', path: `/images/${encodeURI(this.name)}/json`, signal });
    await client.expectOk(check, `${this.description}: the image was loaded but the daemon does not find it by name`);
    check.body.resume();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer?.close();
    const reader = await this.#reader?.catch(() => undefined);
    await reader?.close();
    const work = await this.#work?.catch(() => undefined);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }

  // ---- shared ----

  #assertOpen(): void {
    if (this.#closed) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: transport is closed`);
  }

  #workDir(): Promise<string> {
    this.#work ??= mkdtemp(join(this.#options.tempDir ?? tmpdir(), `ocibuild-${process.pid}-daemon-`));
    return this.#work;
  }

  async #archive(): Promise<DockerArchiveTransport> {
    this.#assertOpen();
    this.#writer ??= dockerArchive(join(await this.#workDir(), 'load.tar'), { ...this.#archiveOptions(), tempDir: await this.#workDir() });
    return this.#writer;
  }

  #archiveOptions(): { hash?: HashFactory; tempDir?: string } {
    return {
      ...(this.#options.hash === undefined ? {} : { hash: this.#options.hash }),
      ...(this.#options.tempDir === undefined ? {} : { tempDir: this.#options.tempDir }),
    };
  }

  #client(): DaemonClient {
    const endpoint = this.#options.endpoint ?? (this.engine === 'docker' ? dockerEndpoint(this.#env) : podmanEndpoint(this.#env));
    return new DaemonClient(endpoint, this.engine, this.#options.limits);
  }

  /** podman without a reachable socket goes through its command. */
  async #useCli(): Promise<boolean> {
    if (this.engine !== 'podman') return false;
    const via = this.#options.podmanVia ?? 'auto';
    if (via !== 'auto') return via === 'cli';
    if (this.#options.endpoint !== undefined || (this.#env['CONTAINER_HOST'] ?? '') !== '') return false;
    const endpoint = podmanEndpoint(this.#env);
    if (endpoint.kind !== 'unix') return false;
    const info = await stat(endpoint.socketPath).catch(() => undefined);
    return !(info?.isSocket() ?? false);
  }

  /** Runs `podman GLOBAL... args`, with `stdinFile` streamed to its stdin; bounded by `idleTimeoutMs`. */
  async #runPodman(args: readonly string[], stdinFile: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const command = this.#options.podmanCommand ?? 'podman';
    const argv = [...(this.#options.podmanArgs ?? podmanGlobalArgs(this.#env)), ...args];
    const timeoutMs = this.#client().limits.idleTimeoutMs;
    const child = spawn(command, argv, { stdio: [stdinFile === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'], env: this.#env });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.toString('utf8');
    });
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    try {
      if (stdinFile !== undefined && child.stdin !== null) {
        const stdin = child.stdin;
        stdin.on('error', () => undefined); // podman exiting early is reported by its status
        await pipeline(readFileStream(stdinFile), stdin).catch(() => undefined);
      }
      const code = await exited.catch((error: unknown) => {
        const missing = (error as { code?: unknown }).code === 'ENOENT';
        throw new OcibuildError('ERR_TRANSPORT', missing
          ? `${this.description}: no podman socket at ${podmanEndpoint(this.#env).display} and no ${command} command; install podman or set CONTAINER_HOST`
          : `${this.description}: cannot run ${command}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
      if (signal?.aborted) throw new OcibuildError('ERR_ABORTED', `${command} ${args[0] ?? ''} for ${this.description} aborted`, { cause: signal.reason });
      if (timedOut) throw new TimeoutError('idle', timeoutMs, `${command} ${args[0] ?? ''} for ${this.description} did not finish within ${timeoutMs} ms (idleTimeoutMs)`);
      if (code !== 0) {
        const message = stderr.trim().split('\n').slice(-3).join('; ') || `exit status ${String(code)}`;
        throw new OcibuildError(/image not known|no such image/i.test(stderr) ? 'ERR_NOT_FOUND' : 'ERR_TRANSPORT', `${this.description}: ${command} ${args[0] ?? ''} failed: ${message}`);
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
