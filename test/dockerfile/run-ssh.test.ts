/**
 * RUN --mount=type=ssh against a real ssh-agent: the step's `ssh-add -l` (the host's binary and
 * its libraries, copied into a busybox image) lists the key through ocibuild's forwarded socket.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { parseSsh } from '../../src/cli/commands/ci-flags.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from './run-helpers.ts';
import { copySshAdd, runSshScenario, SSH_ADD, type SshScenarioResult } from './run-ssh-scenario.ts';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';

const haveTools = process.platform === 'linux' && SSH_ADD !== '' && spawnSync('sh', ['-c', 'command -v ssh-agent && command -v ssh-keygen && command -v ldd']).status === 0;
const scenarioScript = path.join(import.meta.dirname, 'run-ssh-scenario.ts');

/** Processes whose command line mentions `needle`. */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (argv.includes(needle)) out.push(`${pid}: ${argv.replace(/\0/g, ' ')}`);
    } catch {
      // Gone.
    }
  }
  return out;
}

function privateAgentDirs(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('ocibuild-ssh-'));
}

describe('RUN --mount=type=ssh', { skip: !haveTools }, () => {
  let tmp: string;
  let agent: ChildProcess;
  let sock: string;
  let key: string;
  let fingerprint: string;
  let from: string;
  let context: string;
  let n = 0;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-ssh-'));
    key = path.join(tmp, 'id_ed25519');
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ocibuild-test', '-f', key]).status, 0);
    fingerprint = (/SHA256:\S+/.exec(spawnSync('ssh-keygen', ['-lf', key], { encoding: 'utf8' }).stdout) ?? [''])[0];
    assert.ok(fingerprint.startsWith('SHA256:'));
    sock = path.join(tmp, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; !fs.existsSync(sock); i++) {
      assert.ok(i < 500, 'ssh-agent started');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(spawnSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status, 0);
    const base = await buildBusyboxLayout(path.join(tmp, 'base'));
    from = `oci:${base.layoutPath}:${base.tag}`;
    context = path.join(tmp, 'context');
    copySshAdd(path.join(context, 'root'));
  });

  after(async () => {
    if (agent?.pid !== undefined) agent.kill();
    await removeRootfs(tmp);
  });

  async function build(lines: string[], ssh: Record<string, string[]> | undefined): Promise<Map<string, string>> {
    const out = path.join(tmp, `out-${n++}`);
    await buildImage({
      context,
      cache: false,
      ...(ssh ? { ssh } : {}),
      dockerfile: { text: [`FROM ${from}`, 'COPY root/ /', ...lines].join('\n'), file: 'Dockerfile' },
      to: `oci:${out}:latest`,
    });
    const image = await readImage(out);
    const files = new Map<string, string>();
    for (const layer of image.layers.slice(2)) for (const m of layer.members) files.set(m.path, m.type === 'file' ? (m.content ?? '') : `<${m.type}>`);
    return files;
  }

  it('lists the agent\'s key through the forwarded socket, at the default target with SSH_AUTH_SOCK set, 0600 root-owned', async () => {
    const files = await build([
      'RUN --mount=type=ssh ssh-add -l > /keys; echo "$SSH_AUTH_SOCK" > /sock; stat -c "%u %g %a %F" "$SSH_AUTH_SOCK" > /perm',
    ], { default: [sock] });
    assert.match(files.get('keys') ?? '', new RegExp(fingerprint.replace(/[+/]/g, '\\$&')));
    assert.equal(files.get('sock'), '/run/buildkit/ssh_agent.0\n');
    assert.equal(files.get('perm'), '0 0 600 socket\n');
    // The socket and its stub directories never reach a layer.
    assert.deepEqual([...files.keys()].filter((p) => p.startsWith('run')), []);
  });

  it('takes id, target, uid, gid and mode; a second mount gets ssh_agent.1 and SSH_AUTH_SOCK names the first', async () => {
    const files = await build([
      'USER app',
      'RUN --mount=type=ssh,id=gh,target=/tmp/agent.sock,uid=1000,gid=1000,mode=0640 --mount=type=ssh,id=gh ' +
        'sh -c \'ssh-add -l > /tmp/keys; echo "$SSH_AUTH_SOCK" > /tmp/sock; stat -c "%u %g %a" /tmp/agent.sock /run/buildkit/ssh_agent.1 > /tmp/perm\'',
    ], { gh: [sock] });
    assert.match(files.get('tmp/keys') ?? '', /SHA256:/);
    assert.equal(files.get('tmp/sock'), '/tmp/agent.sock\n');
    assert.equal(files.get('tmp/perm'), '1000 1000 640\n0 0 600\n');
    assert.equal(files.has('tmp/agent.sock'), false);
  });

  it('fails a required mount whose id was not given, and skips a non-required one (SSH_AUTH_SOCK still set, as BuildKit\'s llb does)', async () => {
    await assert.rejects(build(['RUN --mount=type=ssh,id=missing,required=true true'], { default: [sock] }), (error: Error) => {
      assert.match(error.message, /unset ssh forward key missing/);
      assert.match(error.message, /Dockerfile:3/);
      return true;
    });
    const noSsh = await build(['RUN sh -c \'echo "${SSH_AUTH_SOCK-unset}" > /sock\''], { default: [sock] });
    assert.equal(noSsh.get('sock'), 'unset\n', 'a step without an ssh mount has no SSH_AUTH_SOCK');
    const files = await build(['RUN --mount=type=ssh,id=missing sh -c \'echo "${SSH_AUTH_SOCK-unset}" > /sock; ls /run/buildkit > /ls 2>&1 || true\''], undefined);
    assert.equal(files.get('sock'), '/run/buildkit/ssh_agent.0\n');
    assert.match(files.get('ls') ?? '', /No such file/);
  });

  it('loads key files given with --ssh id=KEY into a private agent, stopped after the build', async () => {
    const before = privateAgentDirs();
    const files = await build(['RUN --mount=type=ssh ssh-add -l > /keys'], parseSsh([`default=${key}`]));
    assert.match(files.get('keys') ?? '', new RegExp(fingerprint.replace(/[+/]/g, '\\$&')));
    assert.deepEqual(privateAgentDirs(), before, 'the private agent directory is removed');
    assert.deepEqual(processesWith('ocibuild-ssh-'), [], 'the private agent is stopped');
    // The caller's agent is untouched, and nothing else was left next to its socket.
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.sock')), ['agent.sock']);
  });

  it('--ssh default uses $SSH_AUTH_SOCK; id=PATH,PATH lists paths', async () => {
    assert.deepEqual(parseSsh(['default', 'gh=/a,/b']), { default: [], gh: ['/a', '/b'] });
    assert.throws(() => parseSsh(['default', 'default=/x']), /given twice/);
    const saved = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = sock;
    try {
      const files = await build(['RUN --mount=type=ssh ssh-add -l > /keys'], parseSsh(['default']));
      assert.match(files.get('keys') ?? '', /SHA256:/);
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it('leaves the step cache key alone: another agent for the id reuses the step', async () => {
    const cacheDir = path.join(tmp, 'step-cache');
    const once = async (ssh: Record<string, string[]>): Promise<number> => {
      const result = await buildImage({
        context,
        cache: { dir: cacheDir },
        ssh,
        dockerfile: { text: [`FROM ${from}`, 'COPY root/ /', 'RUN --mount=type=ssh ssh-add -l > /keys'].join('\n'), file: 'Dockerfile' },
        to: `oci:${path.join(tmp, `cached-${n++}`)}:latest`,
      });
      return result.stats.runsExecuted;
    };
    assert.equal(await once({ default: [sock] }), 1);
    assert.equal(await once({ default: [key] }), 0, 'the RUN step comes from the step cache');
  });

  for (const who of ['the caller', 'an unprivileged user'] as const) {
    it(`works end to end as ${who} (agent socket, key file with USER app and uid=1000)`, { skip: who !== 'the caller' && !isRoot() }, async () => {
      let r: SshScenarioResult;
      if (who === 'the caller') {
        r = await runSshScenario();
      } else {
        const user = ensureUnprivilegedUser();
        const result = await runAs(user, [...tsxArgv(scenarioScript), '--json'], { cwd: path.dirname(scenarioScript), timeoutMs: 120_000 });
        assert.equal(result.exitCode, 0, result.stderr);
        r = JSON.parse(result.stdout) as SshScenarioResult;
      }
      assert.ok(r.fingerprint.startsWith('SHA256:'));
      assert.ok(r.agentKeys.includes(r.fingerprint), r.agentKeys);
      assert.ok(r.keyFileKeys.includes(r.fingerprint), r.keyFileKeys);
      assert.deepEqual(r.leftovers, []);
    });
  }
});
