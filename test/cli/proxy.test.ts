// HTTPS_PROXY/HTTP_PROXY/NO_PROXY for registry traffic (issue 13). The registry is called
// `registry.test`, a name that never resolves (RFC 2606), so only the proxy, which maps it to
// 127.0.0.1, can reach it: a success proves the proxy carried the traffic, and the proxy's log
// shows CONNECT for https and absolute-form requests for plain http.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

let dir: string;
let base: BusyboxLayout;
let tlsRegistry: TestRegistry;
let plainRegistry: TestRegistry;
let proxy: { url: string; log: string[]; close(): Promise<void> };

/** A forward proxy on 127.0.0.1: CONNECT tunnels and absolute-form requests; `*.test` names go to 127.0.0.1. */
async function startForwardProxy(): Promise<typeof proxy> {
  const log: string[] = [];
  const target = (host: string): string => (host.endsWith('.test') ? '127.0.0.1' : host);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '');
    const upstream = http.request({ host: target(url.hostname), port: url.port, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    log.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':') as [string, string];
    const upstream = net.connect(Number(port), target(host), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [upstream, client]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        upstream.destroy();
        client.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?|no)_proxy$/i.test(k)));
  return runCli(args, { ...clean, ...env });
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-proxy-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
  tlsRegistry = await startRegistry({ tls: true });
  plainRegistry = await startRegistry();
  proxy = await startForwardProxy();
});
after(async () => {
  await proxy.close();
  await tlsRegistry.stop();
  await plainRegistry.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const port = (r: TestRegistry): string => r.host.split(':')[1] as string;

test('https registry through HTTPS_PROXY with CONNECT; the registry CA verifies inside the tunnel', async () => {
  const ref = `registry.test:${port(tlsRegistry)}/base:1`;
  proxy.log.length = 0;
  const copied = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, ref, '--ca', tlsRegistry.ca as string, '-q'], { HTTPS_PROXY: proxy.url });
  assert.equal(copied.code, 0, copied.stderr);
  assert.equal(copied.stdout.trim(), base.manifestDigest);
  assert.ok(proxy.log.includes(`CONNECT registry.test:${port(tlsRegistry)}`), proxy.log.join('\n'));
  assert.ok(!proxy.log.some((l) => l.startsWith('GET ')), 'https is tunnelled, never sent in the clear');
  // Lower-case names work too, and a build pulls its base and pushes through the proxy.
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx, { recursive: true });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${ref}\nCOPY Dockerfile /Dockerfile\n`);
  const built = await cli(['build', ctx, '--to', `registry.test:${port(tlsRegistry)}/app:1`, '--ca', tlsRegistry.ca as string, '-q'], { https_proxy: proxy.url });
  assert.equal(built.code, 0, built.stderr);
  // Without the proxy the name does not resolve: NO_PROXY sends it direct, and it fails, typed.
  const bypassed = await cli(['copy', ref, `oci:${path.join(dir, 'out')}`, '--ca', tlsRegistry.ca as string, '-q'], { HTTPS_PROXY: proxy.url, NO_PROXY: '.test' });
  assert.equal(bypassed.code, 1, bypassed.stderr);
  assert.match(bypassed.stderr, /^error \[ERR_/m);
  assert.match(bypassed.stderr, /registry\.test/);
});

test('plain-http insecure registry through HTTP_PROXY: absolute-form requests', async () => {
  const host = `registry.test:${port(plainRegistry)}`;
  proxy.log.length = 0;
  const copied = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, `${host}/base:1`, '--insecure-registry', host, '-q'], { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url });
  assert.equal(copied.code, 0, copied.stderr);
  assert.ok(proxy.log.some((l) => l.startsWith(`GET http://${host}/v2/`) || l.startsWith(`HEAD http://${host}/v2/`)), proxy.log.join('\n'));
});

test('loopback registries are never proxied (Go httpproxy rule): a dead proxy does not matter', async () => {
  const dead = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const copied = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, `${plainRegistry.host}/loop:1`, '-q'], { HTTPS_PROXY: `http://127.0.0.1:${dead}`, HTTP_PROXY: `http://127.0.0.1:${dead}` });
  assert.equal(copied.code, 0, copied.stderr);
});

test('a malformed proxy URL is a typed error naming the variable, without its credentials', async () => {
  const run = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, 'registry.test:1/x:1', '-q'], { HTTPS_PROXY: 'ftp://user:hunter2@proxy.example:21' });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /HTTPS_PROXY must be an http:\/\/ or https:\/\/ URL/);
  assert.doesNotMatch(run.stderr, /hunter2/);
});
