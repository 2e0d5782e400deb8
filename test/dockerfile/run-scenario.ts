/**
 * Whole Dockerfile builds with RUN on the busybox base, shared by the root test and the
 * unprivileged-user test (which runs this file as a script and reads the JSON it prints).
 * Every build goes through `buildImage` exactly as a user would call it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { buildImage, type BuildOptions } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage, writeCraftedLayout, type LayerMember } from './run-helpers.ts';

/** What the scenario observed, as plain JSON. */
export interface RunScenarioResult {
  rootless: boolean;
  /** Members of every layer the main build added (after the base), per layer. */
  mainLayers: LayerMember[][];
  /** History of the main build: E/L pattern and created_by texts. */
  history: string[];
  cacheLogFirst: string | undefined;
  cacheLogSecond: string | undefined;
  secretLeaks: string[];
  serverReceived: string;
  failure: { code?: string; line?: number; message: string };
  reproducible: { first: string; second: string; maxMtime: number };
  multiStage: { artifact?: string; viaBind?: string; layers: number };
  /**
   * A RUN on a base without /etc (busybox's /bin copied onto scratch): what `hostname` gave, and
   * every path of that RUN's layer.
   */
  hostname: { uts?: string; layer: string[] };
  malicious: { name: string; outcome: string }[];
  outsideEntries: string[];
  hostPasswd: { sha: string; nlink: number };
}

const SECRET = 's3cr3t-value-7f1d';

function contentOf(layers: LayerMember[][], p: string): string | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const m = layers[i]?.find((x) => x.path === p);
    if (m) return m.content;
  }
  return undefined;
}

function passwdState(): { sha: string; nlink: number } {
  return { sha: createHash('sha256').update(fs.readFileSync('/etc/passwd')).digest('hex'), nlink: fs.statSync('/etc/passwd').nlink };
}

/** Runs every build in a fresh temp dir and removes it afterwards. */
export async function runRunScenario(): Promise<RunScenarioResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-dockerfile-'));
  const server = net.createServer();
  let received = '';
  server.on('connection', (socket) => socket.on('data', (d) => (received += d.toString())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const passwdBefore = passwdState();
  try {
    const base = await buildBusyboxLayout(path.join(tmp, 'base'));
    const BASE = `oci:${base.layoutPath}:${base.tag}`;
    const context = path.join(tmp, 'context');
    fs.mkdirSync(context);
    fs.writeFileSync(path.join(context, 'ctx.txt'), 'from the context\n');
    fs.writeFileSync(path.join(tmp, 'secret'), SECRET);
    const common: Omit<BuildOptions, 'to' | 'dockerfile'> = { context, cache: { dir: path.join(tmp, 'cache') }, secrets: { tok: { file: path.join(tmp, 'secret') } } };
    const build = async (name: string, text: string, extra: Partial<BuildOptions> = {}): Promise<string> => {
      const out = path.join(tmp, 'out', name);
      const { buildArgs, ...rest } = extra;
      await buildImage({ ...common, ...rest, dockerfile: { text, file: 'Dockerfile' }, buildArgs: { BASE, ...buildArgs }, to: `oci:${out}:latest` });
      return out;
    };

    const main = [
      'ARG BASE',
      'FROM ${BASE}',
      'ARG GREETING=hello',
      'RUN mkdir -p /opt/d /app && touch /opt/d/old && echo "$GREETING" > /app/greeting',
      'RUN set -e; rm /bin/vi; rm -rf /opt/d && mkdir /opt/d && echo n > /opt/d/new; \\',
      '    touch /app/owned && chown 1000:1000 /app/owned; mkdir /app/nobody && chown 65534:65534 /app/nobody; \\',
      '    ln -s /app/greeting /app/link; ln /app/greeting /app/hard',
      'USER 1000',
      'WORKDIR /home/app/work/deep',
      'RUN id -u > uid && pwd > pwd && touch /tmp/by-app',
      'USER root',
      'RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOKEN,target=/s2 test "$(cat /run/secrets/tok)" = "$TOKEN" && test -n "$TOKEN" && echo ok > /secret-ok',
      'RUN --mount=type=cache,target=/var/cache/c,id=scenario echo "$GREETING" >> /var/cache/c/log && cp /var/cache/c/log /cache-log',
      `RUN --network=none sh -c 'echo none | nc -w 2 127.0.0.1 ${port}'; echo $? > /net-none`,
      `RUN echo default | nc -w 2 127.0.0.1 ${port}; echo $? > /net-default`,
      'RUN --mount=type=bind,source=ctx.txt,target=/mnt/ctx.txt cp /mnt/ctx.txt /from-ctx',
      'RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test -f /scratch/x',
      // Private directories of another container user: rootless, only the namespace can list them.
      'RUN mkdir -p /app/private/sub && echo p > /app/private/sub/f && chmod 600 /app/private/sub/f && chown -R 1000:1000 /app/private && chmod 700 /app/private /app/private/sub',
      'RUN echo q > /app/private/sub/g && chown 1000 /app/private/sub/g && chmod 600 /app/private/sub/g',
      'RUN true',
      '',
    ].join('\n');
    const first = await readImage(await build('main1', main, { buildArgs: { GREETING: 'one' } }));
    const second = await readImage(await build('main2', main, { buildArgs: { GREETING: 'two' } }));
    const mainLayers = first.layers.slice(1).map((l) => l.members);
    const secretLeaks: string[] = [];
    for (const img of [first, second]) {
      for (const l of img.layers) if (l.tar.includes(Buffer.from(SECRET))) secretLeaks.push(`layer ${l.digest}`);
      if (img.configText.includes(SECRET)) secretLeaks.push('config/history');
    }

    let failure: RunScenarioResult['failure'] = { message: 'no error' };
    try {
      await build('fail', 'ARG BASE\nFROM ${BASE}\nRUN echo boom >&2; exit 7\n');
    } catch (error) {
      const e = error as { code?: string; line?: number; message: string };
      failure = { message: e.message, ...(e.code !== undefined ? { code: e.code } : {}), ...(e.line !== undefined ? { line: e.line } : {}) };
    }

    const repro = 'ARG BASE\nFROM ${BASE}\nRUN mkdir -p /r/a && echo x > /r/a/f && ln -s f /r/a/l && chown -R 1000 /r\nRUN rm /r/a/l && touch /r/b\n';
    const r1 = await readImage(await build('repro1', repro, { sourceDateEpoch: 1_700_000_000 }));
    const r2 = await readImage(await build('repro2', repro, { sourceDateEpoch: 1_700_000_000 }));
    const maxMtime = Math.max(...r1.layers.slice(1).flatMap((l) => l.members.map((m) => m.mtime)));

    const multi = [
      'ARG BASE',
      'FROM ${BASE} AS builder',
      'RUN mkdir /out && echo built > /out/artifact && chown 1000 /out/artifact',
      'FROM ${BASE} AS unused',
      'RUN exit 99',
      'FROM builder AS child',
      'RUN echo child > /out/child',
      'FROM ${BASE}',
      'COPY --from=child /out/ /got/',
      'RUN --mount=type=bind,from=builder,source=/out,target=/b cat /b/artifact > /via-bind',
      '',
    ].join('\n');
    const m = await readImage(await build('multi', multi));
    const mLayers = m.layers.slice(1).map((l) => l.members);

    const noEtc = [
      'ARG BASE',
      'FROM ${BASE} AS base',
      'FROM scratch',
      'COPY --from=base /bin/ /bin/',
      'RUN hostname > /uts-hostname',
      '',
    ].join('\n');
    const h = await readImage(await build('no-etc', noEtc));
    const hLayers = h.layers.map((l) => l.members);
    const hostname: RunScenarioResult['hostname'] = {
      uts: contentOf(hLayers, 'uts-hostname'),
      layer: (hLayers.at(-1) ?? []).map((x) => x.path).sort(),
    };

    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);
    const cases: [string, Parameters<typeof writeCraftedLayout>[1]][] = [
      ['dotdot path', [{ name: '../escape-file', content: 'x' }]],
      ['absolute symlink then a file through it', [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', content: 'x' }]],
      ['relative symlink climbing out', [{ name: 'etc/up', type: 'symlink', linkname: '../../../../../../../../' + outside.slice(1) }, { name: 'etc/up/pwned2', content: 'x' }]],
      ['hardlink to /etc/passwd', [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }]],
      ['whiteout naming ..', [{ name: 'etc/.wh...', content: '' }]],
    ];
    const malicious: RunScenarioResult['malicious'] = [];
    for (const [i, [name, members]] of cases.entries()) {
      const ref = await writeCraftedLayout(path.join(tmp, `evil-${i}`), members);
      try {
        const img = await readImage(await build(`evil-${i}`, `ARG BASE\nFROM ${ref}\nRUN ls -la / > /listing\n`));
        malicious.push({ name, outcome: `built (${img.layers.length} layers)` });
      } catch (error) {
        malicious.push({ name, outcome: `rejected ${(error as { code?: string }).code ?? ''}: ${(error as Error).message.slice(0, 200)}` });
      }
    }

    return {
      rootless: process.getuid?.() !== 0,
      mainLayers,
      history: (first.config.history ?? []).map((h) => `${h.empty_layer === true ? 'E' : 'L'} ${h.created_by ?? ''}`),
      cacheLogFirst: contentOf(mainLayers, 'cache-log'),
      cacheLogSecond: contentOf(second.layers.slice(1).map((l) => l.members), 'cache-log'),
      secretLeaks,
      serverReceived: received,
      failure,
      reproducible: { first: r1.manifestDigest, second: r2.manifestDigest, maxMtime },
      multiStage: { artifact: contentOf(mLayers, 'got/artifact'), viaBind: contentOf(mLayers, 'via-bind'), layers: m.layers.length },
      hostname,
      malicious,
      outsideEntries: fs.readdirSync(outside),
      hostPasswd: (() => {
        const now = passwdState();
        return { sha: now.sha === passwdBefore.sha ? 'unchanged' : 'CHANGED', nlink: now.nlink - passwdBefore.nlink };
      })(),
    };
  } finally {
    server.close();
    await removeRootfs(tmp);
  }
}

// Run as a script (by the unprivileged-user test): print the result as JSON.
if (process.argv[2] === '--json') {
  runRunScenario().then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (error: unknown) => {
      process.stderr.write(String((error as Error).stack ?? error));
      process.exitCode = 1;
    },
  );
}
