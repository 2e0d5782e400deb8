/**
 * Test fixture: a counting, fault-injecting HTTP proxy in front of a registry (node:http on
 * 127.0.0.1:0). The client talks to the proxy as if it were the registry; the Host header is
 * passed through so the registry's `Location` headers point back at the proxy and every upload
 * request goes through it too.
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a rule does to a matching request. */
export type Fault =
  /** Cut the connection once this many request-body bytes have reached the proxy. */
  | { kind: 'dropRequest'; afterBytes: number }
  /** Cut the connection once this many response-body bytes have been sent to the client. */
  | { kind: 'dropResponse'; afterBytes: number }
  /** Answer with this status without asking the registry (503, 429 with `retryAfter` seconds...). */
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Flip one byte of the response body (at `offset`, default the middle of the first chunk). */
  | { kind: 'corrupt'; offset?: number }
  /** Send the response body `bytes` at a time, one piece every `everyMs` (a registry too slow to use). */
  | { kind: 'trickle'; bytes: number; everyMs: number }
  /** Hold the request `ms` before passing it on (a slow request, to order others around it). */
  | { kind: 'delay'; ms: number };

/** A fault and the requests it applies to. */
export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Path (with query) to match (any when absent). */
  path?: RegExp;
  /** How many times the fault fires before the rule goes quiet. Default 1. */
  times?: number;
  /** The fault. */
  fault: Fault;
}

/** One request seen by the proxy. */
export interface ProxyRecord {
  method: string;
  /** Path with query string. */
  path: string;
  /** Request class: `ping`, `blob`, `upload`, `manifest`, `tags`, `referrers` or `other`. */
  kind: string;
  /** Status sent to the client (0 when the connection was cut before a status). */
  status: number;
  /** Request body bytes received from the client. */
  requestBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
}

/** Counts per `METHOD kind`, e.g. `PATCH upload`. */
export interface RouteStats {
  count: number;
  requestBytes: number;
  responseBytes: number;
}

/** A snapshot of what went through the proxy. */
export interface ProxyStats {
  /** Every finished request, in order of completion. */
  records: ProxyRecord[];
  /** Aggregates keyed by `METHOD kind`. */
  byRoute: Record<string, RouteStats>;
  /** Request body bytes of blob uploads (POST/PATCH/PUT under `/blobs/uploads/`). */
  blobUploadBytes: number;
  /** Response body bytes of blob downloads (GET `/blobs/sha...`). */
  blobDownloadBytes: number;
  /** Number of faults that fired. */
  faults: number;
}

/** A running proxy. */
export interface TestProxy {
  /** `127.0.0.1:PORT`, as in image references. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** What went through so far. */
  stats(): ProxyStats;
  /** Forgets the counts (not the rules). */
  resetStats(): void;
  /** Replaces the fault rules. */
  setRules(rules: FaultRule[]): void;
  /** Stops the proxy and cuts open connections. Safe to call twice. */
  stop(): Promise<void>;
}

/** Classifies a registry API path for {@link ProxyStats.byRoute}. */
export function classifyPath(path: string): string {
  const pathname = path.split('?')[0] ?? path;
  if (pathname === '/v2/' || pathname === '/v2') return 'ping';
  if (/\/blobs\/uploads\/?/.test(pathname)) return 'upload';
  if (/\/blobs\/[a-z0-9]+:[a-f0-9]+$/.test(pathname)) return 'blob';
  if (/\/manifests\/[^/]+$/.test(pathname)) return 'manifest';
  if (/\/tags\/list$/.test(pathname)) return 'tags';
  if (/\/referrers\/[^/]+$/.test(pathname)) return 'referrers';
  return 'other';
}

const ERROR_CODES: Record<number, string> = { 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' };

/**
 * Starts a proxy on 127.0.0.1:0 that forwards every request to `targetUrl` (an `http://` registry
 * URL), counts requests and body bytes, and applies the first matching fault rule that has firings left.
 */
export async function startProxy(targetUrl: string, rules: FaultRule[] = []): Promise<TestProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`proxy target must be http: ${targetUrl}`);
  const agent = new http.Agent({ keepAlive: true });
  let active: { rule: FaultRule; left: number }[] = [];
  let records: ProxyRecord[] = [];
  let faults = 0;
  const setRules = (next: FaultRule[]): void => {
    active = next.map((rule) => ({ rule, left: rule.times ?? 1 }));
  };
  setRules(rules);

  // A rule is matched when a request starts but only spent when its fault actually fires, so a
  // drop threshold the body never reaches (an empty PUT after PATCHes) leaves it armed.
  const pick = (method: string, path: string): { fault: Fault; fire(): boolean } | undefined => {
    const entry = active.find(
      ({ rule, left }) => left > 0 && (rule.method === undefined || rule.method === method) && (rule.path === undefined || rule.path.test(path)),
    );
    if (entry === undefined) return undefined;
    return {
      fault: entry.rule.fault,
      fire: () => {
        if (entry.left <= 0) return false;
        entry.left--;
        faults++;
        return true;
      },
    };
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const record: ProxyRecord = { method, path, kind: classifyPath(path), status: 0, requestBytes: 0, responseBytes: 0 };
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      records.push(record);
    };
    res.on('close', finish);
    const picked = pick(method, path);
    let fault = picked?.fault;
    // Status faults fire at once; the others when their byte threshold is reached (below).
    if (fault?.kind === 'status' && !picked!.fire()) fault = undefined;
    const fire = (): boolean => {
      if (picked === undefined || !picked.fire()) return false;
      record.fault = picked.fault.kind;
      return true;
    };

    if (fault?.kind === 'status') {
      record.fault = 'status';
      req.on('data', (chunk: Buffer) => (record.requestBytes += chunk.length));
      req.resume();
      const body = JSON.stringify({
        errors: [{ code: ERROR_CODES[fault.status] ?? 'UNKNOWN', message: 'injected by test proxy', detail: null }],
      });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      record.status = fault.status;
      record.responseBytes = Buffer.byteLength(body);
      res.writeHead(fault.status, headers).end(body);
      return;
    }

    if (fault?.kind === 'delay' && fire()) {
      // The body waits in the paused request meanwhile.
      const timer = setTimeout(() => forward(), fault.ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    forward();

    function forward(): void {
      const upstream = http.request({
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: req.headers,
        agent,
      });
      let wasCut = false;
      const cut = (): void => {
        wasCut = true;
        upstream.destroy();
        req.socket.destroy();
        finish();
      };
      upstream.on('error', () => {
        if (wasCut) return;
        if (!res.headersSent) {
          record.status = 502;
          res.writeHead(502).end();
        } else {
          req.socket.destroy();
        }
      });
      req.on('data', (chunk: Buffer) => {
        if (fault?.kind === 'dropRequest' && record.requestBytes + chunk.length >= fault.afterBytes && fire()) {
          const keep = fault.afterBytes - record.requestBytes;
          record.requestBytes += keep;
          if (keep > 0) upstream.write(chunk.subarray(0, keep));
          cut();
          return;
        }
        record.requestBytes += chunk.length;
        if (!upstream.write(chunk)) {
          req.pause();
          upstream.once('drain', () => req.resume());
        }
      });
      req.on('end', () => upstream.end());
      req.on('error', () => upstream.destroy());

      upstream.on('response', (response) => {
        record.status = response.statusCode ?? 0;
        res.writeHead(response.statusCode ?? 502, response.statusMessage, response.headers);
        let corrupted = false;
        let trickling = false;
        response.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (fault?.kind === 'corrupt' && !corrupted && method === 'GET' && chunk.length > 0) {
            // Without an offset, the middle of the first chunk; with one, the chunk that holds it.
            const index = fault.offset === undefined ? chunk.length >> 1 : fault.offset - record.responseBytes;
            if (index >= 0 && index < chunk.length && fire()) {
              out = Buffer.from(chunk);
              out[index] = (out[index] ?? 0) ^ 0xff;
              corrupted = true;
            }
          }
          if (fault?.kind === 'dropResponse' && record.responseBytes + out.length >= fault.afterBytes && fire()) {
            const keep = fault.afterBytes - record.responseBytes;
            record.responseBytes += keep;
            if (keep > 0) {
              res.write(out.subarray(0, keep), () => cut());
            } else {
              cut();
            }
            response.destroy();
            return;
          }
          if (fault?.kind === 'trickle' && (trickling || fire())) {
            trickling = true;
            response.pause();
            const { bytes, everyMs } = fault;
            let offset = 0;
            const timer = setInterval(() => {
              if (res.destroyed) {
                clearInterval(timer);
                response.destroy();
                return;
              }
              const piece = out.subarray(offset, offset + bytes);
              offset += piece.length;
              record.responseBytes += piece.length;
              res.write(piece);
              if (offset >= out.length) {
                clearInterval(timer);
                response.resume();
              }
            }, everyMs);
            return;
          }
          record.responseBytes += out.length;
          if (!res.write(out)) {
            response.pause();
            res.once('drain', () => response.resume());
          }
        });
        // A trickled chunk holds the upstream paused until its last piece is written, so 'end' comes after it.
        response.on('end', () => res.end());
        response.on('error', () => req.socket.destroy());
      });
    }
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stats() {
      const byRoute: Record<string, RouteStats> = {};
      let blobUploadBytes = 0;
      let blobDownloadBytes = 0;
      for (const r of records) {
        const key = `${r.method} ${r.kind}`;
        const route = (byRoute[key] ??= { count: 0, requestBytes: 0, responseBytes: 0 });
        route.count++;
        route.requestBytes += r.requestBytes;
        route.responseBytes += r.responseBytes;
        if (r.kind === 'upload') blobUploadBytes += r.requestBytes;
        if (r.kind === 'blob' && r.method === 'GET') blobDownloadBytes += r.responseBytes;
      }
      return { records: [...records], byRoute, blobUploadBytes, blobDownloadBytes, faults };
    },
    resetStats() {
      records = [];
      faults = 0;
    },
    setRules,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
