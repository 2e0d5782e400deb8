/**
 * A RUN --mount=type=ssh build run end to end by whoever runs this file (root, or the
 * unprivileged test user through `runAs`): its own key, its own `ssh-agent`, the host's
 * `ssh-add` in a busybox image; with `--json` prints {@link SshScenarioResult}.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from './run-helpers.ts';

/** The host's ssh-add, or '' when it is not installed. */
export const SSH_ADD = spawnSync('sh', ['-c', 'command -v ssh-add'], { encoding: 'utf8' }).stdout.trim();

/** Copies `ssh-add` and the shared libraries ldd lists into `root` at their host paths. */
export function copySshAdd(root: string): void {
  const files = [SSH_ADD];
  const ldd = spawnSync('ldd', [SSH_ADD], { encoding: 'utf8' }).stdout;
  for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) files.push(m[1] as string);
  for (const file of files) {
    const dest = path.join(root, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(file, dest);
    fs.chmodSync(dest, 0o755);
  }
}

/** What {@link runSshScenario} saw. */
export interface SshScenarioResult {
  /** The key's `SHA256:` fingerprint. */
  fingerprint: string;
  /** `ssh-add -l` in a step forwarded to the caller's agent socket (as root in the step). */
  agentKeys: string;
  /** `ssh-add -l` as USER app (uid=1000 socket) with a key file loaded into a private agent. */
  keyFileKeys: string;
  /** Temp entries left in os.tmpdir() by the build (private agents, scratch). */
  leftovers: string[];
}

export async function runSshScenario(): Promise<SshScenarioResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-ssh-scenario-'));
  const key = path.join(tmp, 'id_ed25519');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'scenario', '-f', key]);
  const fingerprint = (/SHA256:\S+/.exec(spawnSync('ssh-keygen', ['-lf', key], { encoding: 'utf8' }).stdout) ?? [''])[0];
  const sock = path.join(tmp, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  // This build's RUN scratch carries this process's tag; other test files running at the same time
  // have scratch of their own in the same temp dir, which is not this build's debris.
  const own = new RegExp(`^ocibuild-ssh-|^ocibuild-run-${process.pid}[.-]`);
  const temps = (): string[] => fs.readdirSync(os.tmpdir()).filter((n) => own.test(n));
  try {
    for (let i = 0; !fs.existsSync(sock) && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    spawnSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    const base = await buildBusyboxLayout(path.join(tmp, 'base'));
    const context = path.join(tmp, 'context');
    copySshAdd(path.join(context, 'root'));
    const before = temps();
    const out = path.join(tmp, 'out');
    await buildImage({
      context,
      cache: false,
      ssh: { default: [sock], file: [key] },
      dockerfile: {
        text: [
          `FROM oci:${base.layoutPath}:${base.tag}`,
          'COPY root/ /',
          'RUN --mount=type=ssh ssh-add -l > /agent-keys',
          'RUN touch /file-keys && chown 1000 /file-keys',
          'USER app',
          'RUN --mount=type=ssh,id=file,uid=1000 ssh-add -l > /file-keys',
        ].join('\n'),
        file: 'Dockerfile',
      },
      to: `oci:${out}:latest`,
    });
    const files = new Map<string, string>();
    for (const layer of (await readImage(out)).layers) for (const m of layer.members) if (m.content !== undefined) files.set(m.path, m.content);
    return { fingerprint, agentKeys: files.get('agent-keys') ?? '', keyFileKeys: files.get('file-keys') ?? '', leftovers: temps().filter((n) => !before.includes(n)) };
  } finally {
    agent.kill();
    await removeRootfs(tmp);
  }
}

if (process.argv.includes('--json')) {
  runSshScenario().then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
