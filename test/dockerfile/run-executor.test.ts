/**
 * How Dockerfile builds use `BuildOptions.executor`: probed before any work only when a needed
 * stage has RUN, failing with UnsupportedError (reason and hint) and writing nothing; and what a
 * RUN step hands the executor (argv, env, workdir, user, network, mounts), checked with a
 * recording executor that changes the rootfs itself instead of running anything.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { UnsupportedError } from '../../src/errors.ts';
import type { Executor, RunOptions } from '../../src/run/types.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from './run-helpers.ts';

let tmp: string;
let base: BusyboxLayout;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-run-executor-'));
  base = await buildBusyboxLayout(path.join(tmp, 'base'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

function recorder(probeOk = true): Executor & { calls: RunOptions[]; probes: number } {
  const self = {
    calls: [] as RunOptions[],
    probes: 0,
    async probe() {
      self.probes++;
      return probeOk ? ({ ok: true } as const) : ({ ok: false, reason: 'user namespaces are disabled', hint: 'set kernel.unprivileged_userns_clone=1' } as const);
    },
    async run(options: RunOptions) {
      self.calls.push(options);
      // Stand in for the command: one file per call, so every step changes the rootfs.
      await fs.writeFile(path.join(options.rootfs, `call-${self.calls.length}`), options.argv.join(' '));
      for (const m of options.mounts ?? []) {
        if (m.type === 'bind' && m.target.startsWith('/dev/pipes/')) await fs.copyFile(m.source, path.join(options.rootfs, 'script-copy'));
      }
      return { exitCode: 0, stderrTail: '' };
    },
  };
  return self;
}

async function build(name: string, text: string, executor: Executor, extra: { buildArgs?: Record<string, string>; target?: string } = {}): Promise<string> {
  const out = path.join(tmp, name);
  const context = path.join(tmp, 'context');
  await fs.mkdir(context, { recursive: true });
  await buildImage({
    dockerfile: { text, file: 'Dockerfile' },
    context,
    executor,
    cache: { dir: path.join(tmp, 'cache') },
    buildArgs: { BASE: `oci:${base.layoutPath}:${base.tag}`, ...extra.buildArgs },
    ...(extra.target ? { target: extra.target } : {}),
    to: `oci:${out}:latest`,
  });
  return out;
}

describe('BuildOptions.executor', () => {
  it('is not probed for a Dockerfile without RUN (nor for RUN in a stage the target does not need)', async () => {
    const ex = recorder(false);
    await build('no-run', 'ARG BASE\nFROM ${BASE} AS other\nRUN exit 1\nFROM ${BASE}\nENV A=1\n', ex);
    assert.equal(ex.probes, 0);
    assert.equal(ex.calls.length, 0);
  });

  it('fails before any work with UnsupportedError saying why and what to enable', async () => {
    const ex = recorder(false);
    const out = path.join(tmp, 'unsupported');
    await assert.rejects(
      buildImage({ dockerfile: { text: 'ARG BASE\nFROM ${BASE}\nCOPY . /x\nRUN true\n' }, executor: ex, buildArgs: { BASE: `oci:${base.layoutPath}:${base.tag}` }, to: `oci:${out}:latest` }),
      (error: unknown) => {
        assert.ok(error instanceof UnsupportedError);
        assert.match(error.message, /user namespaces are disabled.*unprivileged_userns_clone/);
        return true;
      },
    );
    assert.equal(ex.calls.length, 0);
    await assert.rejects(fs.stat(path.join(out, 'index.json')), { code: 'ENOENT' });
  });

  it('gets the shell-wrapped argv, ARG+ENV environment, WORKDIR, USER, network and mounts', async () => {
    const ex = recorder();
    const text = [
      'ARG BASE',
      'FROM ${BASE}',
      'ARG VERSION=1',
      'ENV MODE=prod VERSION=from-env',
      'ARG ONLY_ARG=a',
      'WORKDIR /srv',
      'USER 1000:1000',
      'SHELL ["/bin/sh", "-ec"]',
      'RUN --network=none --mount=type=tmpfs,target=tmp-here --mount=type=cache,id=x,target=/c echo "$MODE"',
      'RUN ["/bin/true", "exec"]',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo from script',
      'EOF',
      '',
    ].join('\n');
    const out = await build('record', text, ex, { buildArgs: { HTTP_PROXY: 'http://proxy:3128' } });
    assert.equal(ex.probes, 1);
    const [first, second, third] = ex.calls;
    assert.deepEqual(first?.argv, ['/bin/sh', '-ec', 'echo "$MODE"']);
    assert.equal(first?.workdir, '/srv');
    assert.equal(first?.user, '1000:1000');
    assert.equal(first?.network, 'none');
    const env = first?.env ?? [];
    assert.ok(env.includes('MODE=prod') && env.includes('VERSION=from-env') && env.includes('ONLY_ARG=a') && env.includes('HTTP_PROXY=http://proxy:3128'), env.join(' '));
    assert.ok(!env.includes('VERSION=1'), 'ENV wins over ARG');
    assert.deepEqual(first?.mounts?.map((m) => [m.type, m.target]), [['tmpfs', '/srv/tmp-here'], ['cache', '/c']]);
    assert.equal((first?.mounts?.[1] as { source: string }).source, path.join(tmp, 'cache', 'run-cache', 'x'));
    assert.deepEqual(second?.argv, ['/bin/true', 'exec']);
    assert.equal(second?.network, 'default');
    assert.deepEqual(third?.argv, ['/bin/sh', '-ec', '/dev/pipes/EOF']);
    const img = await readImage(out);
    const scriptLayer = img.layers.at(-1)?.members ?? [];
    assert.equal(scriptLayer.find((m) => m.path === 'script-copy')?.content, '#!/bin/sh\necho from script\n');
    // ARG values and proxy args never reach the config.
    assert.ok(!(img.config.config?.Env ?? []).some((e) => e.startsWith('ONLY_ARG') || e.startsWith('HTTP_PROXY')));
    // One layer per RUN: each call added a file.
    assert.equal(img.layers.length, 1 + 1 + 3, 'base, WORKDIR, three RUN layers');
  });

  it('rejects bad RUN flags naming the line', async () => {
    const ex = recorder();
    await assert.rejects(build('badflag', 'ARG BASE\nFROM ${BASE}\n\nRUN --network=bridge true\n', ex), /Dockerfile:4: .*network/);
    await assert.rejects(build('badmount', 'ARG BASE\nFROM ${BASE}\nRUN --mount=type=cache true\n', ex), /Dockerfile:3: .*target/);
  });
});
