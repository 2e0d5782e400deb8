import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { RegistryHttp } from '../../src/registry/http.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { isCode } from './fixtures.ts';

/** The first byte of each connection a server saw: 0x16 is a TLS handshake record, `G` a GET. */
type Seen = { firstBytes: number[] };

/** A server on 127.0.0.1 that notes each connection's first byte and hands it to `handle`. */
async function listen(handle: (socket: net.Socket, first: Buffer) => void): Promise<{ host: string; seen: Seen; close: () => Promise<void> }> {
  const seen: Seen = { firstBytes: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      seen.firstBytes.push(first[0]!);
      handle(socket, first);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Hands a connection to a plain HTTP server (the first chunk put back first). */
function asHttp(server: http.Server): (socket: net.Socket, first: Buffer) => void {
  return (socket, first) => {
    socket.pause();
    socket.unshift(first);
    server.emit('connection', socket);
    socket.resume();
  };
}

const TLS_HELLO = 0x16;
const G = 'G'.charCodeAt(0);

describe('the scheme of a loopback registry', () => {
  let tlsRegistry: TestRegistry;
  before(async () => {
    tlsRegistry = await startRegistry({ tls: true });
  });
  after(() => stopAll());

  const plainAnswers: [string, http.RequestListener][] = [
    ['is plain HTTP found with one plain request and no TLS handshake when the server does not speak TLS', (_req, res) => res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}')],
    ['keeps a 401 to the plain ping (a registry asking for credentials) without trying HTTPS', (_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end()],
  ];
  for (const [title, answer] of plainAnswers) {
    it(title, async () => {
      const server = await listen(asHttp(http.createServer(answer)));
      const client = new RegistryHttp({ retries: { count: 0 } });
      try {
        assert.equal((await client.base(server.host)).protocol, 'http:');
        assert.deepEqual(server.seen.firstBytes, [G]);
      } finally {
        await client.close();
        await server.close();
      }
    });
  }

  it('is HTTPS for a TLS registry (Go answers the plain request with 400), verified with the CA', async () => {
    const client = new RegistryHttp({ ca: tlsRegistry.ca!, retries: { count: 0 } });
    try {
      assert.equal((await client.base(tlsRegistry.host)).protocol, 'https:');
    } finally {
      await client.close();
    }
  });

  it('is never plain HTTP for a TLS registry whose certificate is not trusted', async () => {
    const client = new RegistryHttp({ retries: { count: 0 } });
    try {
      await assert.rejects(client.base(tlsRegistry.host), isCode('ERR_REGISTRY_TLS'));
    } finally {
      await client.close();
    }
  });

  it('tries HTTPS when the plain request is dropped (a TLS server), and reports the HTTPS failure', async () => {
    const server = await listen((socket) => socket.destroy());
    const client = new RegistryHttp({ retries: { count: 0 } });
    try {
      await assert.rejects(client.base(server.host), isCode('ERR_REGISTRY'));
      assert.deepEqual(server.seen.firstBytes, [G, TLS_HELLO]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  for (const status of [400, 301, 404]) {
    it(`tries HTTPS after a ${status} to the plain ping, and keeps plain HTTP when the server does not speak TLS either`, async () => {
      const api = http.createServer((_req, res) => res.writeHead(status, { location: 'https://example.invalid/v2/' }).end('no'));
      const server = await listen(asHttp(api));
      const client = new RegistryHttp({ retries: { count: 0 } });
      try {
        assert.equal((await client.base(server.host)).protocol, 'http:');
        assert.deepEqual(server.seen.firstBytes, [G, TLS_HELLO]);
      } finally {
        await client.close();
        await server.close();
      }
    });
  }

  it('fails with ERR_REGISTRY when nothing listens', async () => {
    const server = await listen(() => undefined);
    const host = server.host;
    await server.close();
    const client = new RegistryHttp({ retries: { count: 0 } });
    try {
      await assert.rejects(client.base(host), isCode('ERR_REGISTRY'));
    } finally {
      await client.close();
    }
  });
});
