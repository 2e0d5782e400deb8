/**
 * SSH agent forwarding for `RUN --mount=type=ssh`, as BuildKit's session/sshforward does: a
 * fresh Unix socket per mount, served by this process, that copies every connection byte for
 * byte to the agent socket given for the mount's id. Key files (buildx `--ssh id=KEY`) get a
 * private `ssh-agent` for the build, stopped at the end.
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';

/**
 * Listens on `listenPath` and forwards each connection to the agent socket `agentPath`.
 * Resolves, once listening, to a function that stops it (closing open connections) and
 * removes the socket file.
 */
export async function serveAgentSocket(listenPath: string, agentPath: string): Promise<() => Promise<void>> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const agent = net.connect(agentPath);
    open.add(client);
    open.add(agent);
    const drop = (): void => {
      client.destroy();
      agent.destroy();
      open.delete(client);
      open.delete(agent);
    };
    client.on('error', drop).on('close', drop);
    agent.on('error', drop).on('close', drop);
    client.pipe(agent);
    agent.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(listenPath, { force: true });
  };
}

/** True when `file` is a Unix socket. */
export async function isSocket(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isSocket() ?? false;
}

/** A private agent: its socket, and `stop` that kills it and removes its directory. */
export interface PrivateAgent {
  /** The agent's socket. */
  socket: string;
  /** Stops the agent and removes its socket and directory. */
  stop: () => Promise<void>;
}

/**
 * Starts a private `ssh-agent` (in the foreground, so it dies with a kill of its pid) holding
 * `keys` (private key files, added with `ssh-add`). Throws `ERR_SOURCE_NOT_FOUND` naming a key
 * that cannot be read or added.
 */
export async function startKeyAgent(id: string, keys: readonly string[]): Promise<PrivateAgent> {
  for (const key of keys) {
    try {
      await fs.access(key, fs.constants.R_OK);
    } catch (error) {
      throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `--ssh ${id}: cannot read ${key}`, { cause: error });
    }
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-ssh-'));
  await fs.chmod(dir, 0o700);
  const socket = path.join(dir, 'agent.sock');
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let failed: Error | undefined;
  child.once('error', (error) => (failed = error));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && failed === undefined) {
      child.kill('SIGTERM');
      await exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; !(await isSocket(socket)); i++) {
      if (failed !== undefined || child.exitCode !== null || i > 200) {
        throw new OcibuildError('ERR_UNSUPPORTED', `--ssh ${id}: cannot start ssh-agent${failed ? `: ${failed.message}` : ''}${stderr ? `: ${stderr.trim()}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const key of keys) {
      const added = spawnSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (added.status !== 0) {
        throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `--ssh ${id}: ssh-add ${key} failed: ${(added.stderr || added.error?.message || '').trim()}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { socket, stop };
}

/**
 * Resolves build option `ssh` (paths by id, as buildx `--ssh id=PATH[,PATH]`) into one agent
 * socket per id: a single socket path is used as it is; no path means `$SSH_AUTH_SOCK`; key
 * files get a private agent. `stop` ends the private agents.
 */
export async function resolveSshAgents(
  ssh: Readonly<Record<string, readonly string[]>>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ sockets: Record<string, string>; stop: () => Promise<void> }> {
  const sockets: Record<string, string> = {};
  const agents: PrivateAgent[] = [];
  const stop = async (): Promise<void> => {
    for (const a of agents.splice(0)) await a.stop();
  };
  try {
    for (const [id, given] of Object.entries(ssh)) {
      let paths = given.filter((p) => p !== '');
      if (paths.length === 0) {
        const sock = env.SSH_AUTH_SOCK;
        if (sock === undefined || sock === '') throw new OcibuildError('ERR_INVALID_ARGUMENT', `--ssh ${id}: no path given and SSH_AUTH_SOCK is not set`);
        paths = [sock];
      }
      if (paths.length === 1 && (await isSocket(paths[0] as string))) {
        sockets[id] = paths[0] as string;
        continue;
      }
      const agent = await startKeyAgent(id, paths);
      agents.push(agent);
      sockets[id] = agent.socket;
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { sockets, stop };
}
