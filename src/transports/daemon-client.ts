/**
 * A minimal Docker Engine API client over a unix socket (or plain TCP): the two calls the daemon
 * transport needs, `POST /images/load` with a docker-archive body and `GET /images/{name}/get`,
 * plus `GET /images/{name}/json`. Every wait is bounded (connect, idle) and every body read for
 * a message is capped; failures are typed errors naming the daemon address.
 * @module
 */
import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { LimitExceededError, OcibuildError, TimeoutError } from '../errors.ts';
import type { DaemonEndpoint, DaemonEngine } from './daemon-endpoint.ts';

/**
 * Bounds of the daemon client (docs/limits.md).
 * @category Images
 */
export interface DaemonLimits {
  /** Opening the connection. Default 10 s. */
  connectTimeoutMs: number;
  /**
   * No byte sent or received. Default 10 min: a daemon answers `POST /images/load` only once the
   * whole image is stored, which for a large image on a slow storage driver takes minutes.
   */
  idleTimeoutMs: number;
  /** Largest JSON answer or error body read. Default 1 MiB. */
  maxMessageBytes: number;
  /** Largest image tarball accepted from `GET /images/{name}/get`. Default 64 GiB. */
  maxImageBytes: number;
}

/**
 * The default {@link DaemonLimits}.
 * @category Images
 */
export const DEFAULT_DAEMON_LIMITS: Readonly<DaemonLimits> = Object.freeze({
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  maxMessageBytes: 1024 * 1024,
  maxImageBytes: 64 * 1024 ** 3,
});

/** One request to the daemon. */
export interface DaemonRequest {
  /** HTTP method. */
  method: 'GET' | 'POST';
  /** Path and query (`/images/load?quiet=1`). */
  path: string;
  /** Request body, streamed. */
  body?: AsyncIterable<Uint8Array>;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Aborts the request. */
  signal?: AbortSignal | undefined;
}

/** The daemon's answer: status and the body, still to be read. */
export interface DaemonResponse {
  /** HTTP status. */
  status: number;
  /** The body stream. */
  body: IncomingMessage;
}

/** Talks to one daemon. */
export class DaemonClient {
  /** The daemon's address. */
  readonly endpoint: DaemonEndpoint;
  /** Which engine (for messages). */
  readonly engine: DaemonEngine;
  /** Bounds in force. */
  readonly limits: DaemonLimits;

  constructor(endpoint: DaemonEndpoint, engine: DaemonEngine, limits: Partial<DaemonLimits> = {}) {
    this.endpoint = endpoint;
    this.engine = engine;
    this.limits = { ...DEFAULT_DAEMON_LIMITS, ...limits };
  }

  /** Sends a request; connection failures become typed errors naming the daemon. */
  send(req: DaemonRequest): Promise<DaemonResponse> {
    const { endpoint, limits } = this;
    return new Promise<DaemonResponse>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        reject(this.#describe(error));
      };
      const target = endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
      const outgoing = request({
        ...target,
        method: req.method,
        path: req.path,
        headers: { Host: 'docker', ...(req.body === undefined ? {} : { 'Content-Type': 'application/x-tar' }), ...req.headers },
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      });
      outgoing.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => outgoing.destroy(new TimeoutError('connect', limits.connectTimeoutMs, `no connection to ${this.#name()} within ${limits.connectTimeoutMs} ms (connectTimeoutMs)`)), limits.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      outgoing.setTimeout(limits.idleTimeoutMs, () => {
        outgoing.destroy(new TimeoutError('idle', limits.idleTimeoutMs, `${this.#name()} sent nothing for ${limits.idleTimeoutMs} ms (idleTimeoutMs) during ${req.method} ${req.path}`));
      });
      outgoing.on('error', fail);
      outgoing.on('response', (response) => {
        if (settled) return;
        settled = true;
        response.on('error', () => undefined);
        resolve({ status: response.statusCode ?? 0, body: response });
      });
      if (req.body === undefined) {
        outgoing.end();
        return;
      }
      const body = Readable.from(req.body);
      body.on('error', (error) => outgoing.destroy(error));
      body.pipe(outgoing);
    });
  }

  /** Reads a JSON answer or error body, capped at `maxMessageBytes`. */
  async readText(response: DaemonResponse): Promise<string> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > this.limits.maxMessageBytes) {
        response.body.destroy();
        throw new LimitExceededError('maxMessageBytes', this.limits.maxMessageBytes, `${this.#name()} answered with more than ${this.limits.maxMessageBytes} bytes (maxMessageBytes)`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Throws `ERR_TRANSPORT` (or `ERR_NOT_FOUND` for 404) with the daemon's own message unless the status is 2xx. */
  async expectOk(response: DaemonResponse, what: string): Promise<void> {
    if (response.status >= 200 && response.status < 300) return;
    const text = await this.readText(response).catch(() => '');
    const message = daemonMessage(text) ?? `HTTP ${response.status}`;
    throw new OcibuildError(response.status === 404 ? 'ERR_NOT_FOUND' : 'ERR_TRANSPORT', `${what}: ${this.#name()} answered ${response.status}: ${message}`);
  }

  #name(): string {
    return `the ${this.engine === 'docker' ? 'Docker' : 'podman'} daemon at ${this.endpoint.display}`;
  }

  #describe(error: unknown): OcibuildError {
    if (error instanceof OcibuildError) return error;
    const code = (error as { code?: unknown }).code;
    const where = this.endpoint.display;
    if (code === 'ABORT_ERR') return new OcibuildError('ERR_ABORTED', `request to ${this.#name()} aborted`, { cause: error });
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      const hint = this.engine === 'docker' ? 'set DOCKER_HOST or use podman:' : 'start `podman system service` or set CONTAINER_HOST';
      return new OcibuildError('ERR_TRANSPORT', `no ${this.engine === 'docker' ? 'Docker' : 'podman'} daemon at ${where}; ${hint}`, { cause: error });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new OcibuildError('ERR_TRANSPORT', `permission denied on ${where}: this user may not use the ${this.engine} socket${this.engine === 'docker' ? ' (join the docker group, or use podman:)' : ''}`, { cause: error });
    }
    const text = error instanceof Error ? error.message : String(error);
    return new OcibuildError('ERR_TRANSPORT', `${this.#name()}: ${text}`, { cause: error });
  }
}

/** The `message` of a daemon's JSON error body (`{"message": ...}`), when it has one. */
export function daemonMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through
  }
  const trimmed = text.trim();
  return trimmed === '' ? undefined : trimmed.slice(0, 500);
}

/**
 * The error a JSON message stream reports (`{"errorDetail":{"message":...},"error":...}` lines,
 * as `docker load` prints them), or undefined when it reports none. Non-JSON lines are ignored.
 */
export function messageStreamError(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    let message: { error?: unknown; errorDetail?: { message?: unknown } };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      continue;
    }
    if (typeof message.errorDetail?.message === 'string') return message.errorDetail.message;
    if (typeof message.error === 'string') return message.error;
  }
  return undefined;
}
