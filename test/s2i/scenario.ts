/**
 * The s2i scenario, shared by the root test and the unprivileged-user test (which runs this
 * file as a script and reads the JSON it prints): builders of the tests' own, then s2i builds
 * through `buildImage` exactly as a user would call it, and the built images run.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { runS2iUsage } from '../../src/pipeline/s2i/usage.ts';
import type { S2iOptions } from '../../src/pipeline/s2i/types.ts';
import { readImage, type LayerMember } from '../dockerfile/run-helpers.ts';
import { buildTestBuilders } from './builder.ts';
import { runImage, type ImageRun } from './runner.ts';

/** A failure, as plain data. */
export interface Failure {
  name?: string;
  code?: string;
  script?: string;
  exitCode?: number;
  message: string;
}

/** One build's observations. */
export interface BuildSeen {
  run: ImageRun;
  assembleOut: string;
  assembleErr: string;
  notes: string[];
  cmd?: string[];
  user?: string;
  env?: string[];
  labels: Record<string, string>;
  /** Members of the s2i layer (the last one). */
  layer: LayerMember[];
  layerCount: number;
}

/** What the scenario observed. */
export interface S2iScenarioResult {
  rootless: boolean;
  commitId: string;
  sourceDir: string;
  plain: BuildSeen;
  incremental: BuildSeen;
  incrementalMissing: BuildSeen;
  override: BuildSeen;
  extended: BuildSeen;
  extendedIncremental: Failure;
  rootRefused: Failure;
  userAllowed: string;
  assembleFails: Failure;
  aborted: Failure & { leftovers: string[]; ms: number };
  usage: string;
}

async function failure(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
    return { message: 'no error' };
  } catch (error) {
    const e = error as Error & { code?: string; script?: string; exitCode?: number };
    return { name: e.name, ...(e.code ? { code: e.code } : {}), ...(e.script ? { script: e.script } : {}), ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}), message: e.message };
  }
}

function write(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
}

async function s2iBuild(s2i: Omit<S2iOptions, 'stdout' | 'stderr' | 'onNote'>, layout: string, tag: string): Promise<BuildSeen> {
  let assembleOut = '';
  let assembleErr = '';
  const notes: string[] = [];
  await buildImage({
    s2i: {
      ...s2i,
      stdout: (c) => (assembleOut += Buffer.from(c).toString()),
      stderr: (c) => (assembleErr += Buffer.from(c).toString()),
      onNote: (m) => notes.push(m),
    },
    to: `oci:${layout}:${tag}`,
    cache: false,
  });
  const image = await readImage(layout, tag);
  const config = JSON.parse(image.configText) as { config?: { Cmd?: string[]; User?: string; Env?: string[]; Labels?: Record<string, string> } };
  const seen: BuildSeen = {
    run: await runImage(`oci:${layout}:${tag}`),
    assembleOut,
    assembleErr,
    notes,
    labels: config.config?.Labels ?? {},
    layer: image.layers[image.layers.length - 1]?.members.map(({ content, ...m }) => ({ ...m, ...(content !== undefined && content.length < 200 ? { content } : {}) })) ?? [],
    layerCount: image.layers.length,
  };
  if (config.config?.Cmd) seen.cmd = config.config.Cmd;
  if (config.config?.User) seen.user = config.config.User;
  if (config.config?.Env) seen.env = config.config.Env;
  return seen;
}

/** Runs every build in a fresh temp dir and removes it afterwards. */
export async function runS2iScenario(): Promise<S2iScenarioResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-s2i-'));
  try {
    const builders = await buildTestBuilders(tmp);
    // A Git source: only committed files are built; .s2iignore and .s2i/environment apply.
    const app = path.join(tmp, 'app');
    write(path.join(app, 'message.txt'), 'hello from the source');
    write(path.join(app, 'secret.txt'), 'ignored by .s2iignore');
    write(path.join(app, '.s2iignore'), '# comment\nsecret.txt\n');
    write(path.join(app, '.s2i', 'environment'), '# build environment\nGREETING=from-environment-file\n');
    const git = (...args: string[]): string => execFileSync('git', ['-C', app, '-c', 'user.name=Test Author', '-c', 'user.email=author@example.test', ...args], { encoding: 'utf8' }).trim();
    git('init', '--quiet', '--initial-branch=main');
    git('add', '.');
    git('commit', '--quiet', '-m', 'first commit');
    write(path.join(app, 'uncommitted.txt'), 'not committed');
    const commitId = git('rev-parse', 'HEAD');
    const out = path.join(tmp, 'out');
    const plain = await s2iBuild({ builder: builders.user, source: app, env: { EXTRA: 'from-flag' } }, out, 'app');
    const incremental = await s2iBuild({ builder: builders.user, source: app, incremental: true }, out, 'app');
    const incrementalMissing = await s2iBuild({ builder: builders.user, source: app, incremental: true }, out, 'fresh');

    // A plain directory (copied as it is) overriding assemble from .s2i/bin.
    const other = path.join(tmp, 'other');
    write(path.join(other, 'message.txt'), 'hello from the override');
    write(path.join(other, '.s2i', 'bin', 'assemble'), '#!/bin/sh\nset -e\necho "custom assemble"\ncp /tmp/src/message.txt /opt/app/\necho 7 > /opt/app/count\ntouch /opt/app/overridden\nif [ -f injected/token ]; then cat injected/token > /opt/app/injected-seen; fi\n', 0o755);
    const injected = path.join(tmp, 'inject');
    write(path.join(injected, 'token'), 'build-time only');
    const override = await s2iBuild({ builder: builders.user, source: other, inject: [{ source: injected, destination: 'injected' }] }, out, 'override');

    const extended = await s2iBuild({ builder: builders.user, source: other, runtimeImage: builders.runtime }, out, 'extended');
    const extendedIncremental = await failure(buildImage({ s2i: { builder: builders.user, source: other, runtimeImage: builders.runtime, incremental: true }, to: `oci:${out}:x`, cache: false }));
    const rootRefused = await failure(buildImage({ s2i: { builder: builders.root, source: other, allowedUids: '1-65535' }, to: `oci:${out}:refused`, cache: false }));
    const allowed = await s2iBuild({ builder: builders.user, source: other, allowedUids: '1000-2000' }, out, 'allowed');

    const failing = path.join(tmp, 'failing');
    write(path.join(failing, '.s2i', 'bin', 'assemble'), '#!/bin/sh\necho "assemble is failing" >&2\nexit 7\n', 0o755);
    const assembleFails = await failure(buildImage({ s2i: { builder: builders.user, source: failing }, to: `oci:${out}:failing`, cache: false }));

    // Aborting during assemble kills it and leaves nothing of the build behind.
    const slow = path.join(tmp, 'slow');
    write(path.join(slow, '.s2i', 'bin', 'assemble'), '#!/bin/sh\nsleep 60\n', 0o755);
    const workDir = path.join(tmp, 'work');
    fs.mkdirSync(workDir);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 1500);
    const abortFailure = await failure(buildImage({ s2i: { builder: builders.user, source: slow }, to: `oci:${out}:slow`, cache: false, signal: controller.signal, workDir }));
    const aborted = { ...abortFailure, leftovers: fs.readdirSync(workDir), ms: Date.now() - started };

    let usage = '';
    await runS2iUsage({ builder: builders.user, stdout: (c) => (usage += Buffer.from(c).toString()) });
    return {
      rootless: process.getuid?.() !== 0,
      commitId,
      sourceDir: app,
      plain,
      incremental,
      incrementalMissing,
      override,
      extended,
      extendedIncremental,
      rootRefused,
      userAllowed: allowed.run.stdout,
      assembleFails,
      aborted,
      usage,
    };
  } finally {
    await removeRootfs(tmp).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv.includes('--json')) {
  runS2iScenario().then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
