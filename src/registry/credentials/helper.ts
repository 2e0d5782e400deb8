/**
 * Runs Docker credential helpers (`docker-credential-NAME get`), the protocol of
 * docker/docker-credential-helpers: the server URL on stdin, JSON `{ServerURL, Username, Secret}` on stdout.
 * @module
 */
import { spawn } from 'node:child_process';
import { OcibuildError } from '../../errors.ts';
import type { Credential } from '../types.ts';

/** Options of {@link runCredentialHelper}. */
export interface CredentialHelperOptions {
  /** Environment for the helper; its `PATH` is where the binary is looked up. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Kills the helper after this long. Default 30 s: keychain helpers may wait for a user prompt. */
  timeoutMs?: number;
  /** Where the helper was configured, for error messages (`/home/u/.docker/config.json`). */
  configuredIn?: string;
}

/** Default time a credential helper may run. */
export const DEFAULT_HELPER_TIMEOUT_MS = 30_000;

// Helpers print this (exit 1) when they have no entry; see credentials.errCredentialsNotFoundMessage upstream.
const NOT_FOUND = /credentials not found/i;
const MAX_OUTPUT = 1 << 20;

/**
 * Asks `docker-credential-NAME get` for the credentials of `serverUrl`. Resolves undefined when
 * the helper reports it has none. Throws `ERR_CREDENTIALS` naming the helper when it is missing,
 * fails, times out or prints something that is not its JSON answer; messages never contain the secret.
 */
export async function runCredentialHelper(
  name: string,
  serverUrl: string,
  options: CredentialHelperOptions = {},
): Promise<Credential | undefined> {
  const program = `docker-credential-${name}`;
  const where = options.configuredIn === undefined ? '' : ` (configured in ${options.configuredIn})`;
  // The name comes from a config file; keep it a plain program name looked up on PATH.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new OcibuildError('ERR_CREDENTIALS', `invalid credential helper name ${JSON.stringify(name)}${where}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(program, ['get'], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let settled = false;
      const fail = (message: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new OcibuildError('ERR_CREDENTIALS', message, { cause }));
      };
      const timer = setTimeout(
        () => fail(`credential helper ${program} did not answer within ${timeoutMs} ms for ${serverUrl}${where}`),
        timeoutMs,
      );
      child.on('error', (error: NodeJS.ErrnoException) => {
        fail(
          error.code === 'ENOENT'
            ? `credential helper ${program} was not found on PATH${where}`
            : `credential helper ${program} could not be started: ${error.message}${where}`,
          error,
        );
      });
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > MAX_OUTPUT) fail(`credential helper ${program} printed more than ${MAX_OUTPUT} bytes${where}`);
        else into.push(chunk);
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      // A helper that exits without reading stdin makes the write fail with EPIPE; its exit code tells the story.
      child.stdin.on('error', () => {});
      child.stdin.end(serverUrl);
      child.on('close', (exitCode) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code: exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    },
  );

  if (code !== 0) {
    const output = `${stdout}\n${stderr}`.trim();
    if (NOT_FOUND.test(output)) return undefined;
    // Never quoted: a helper that fails half-way may have printed the secret it was handing over.
    throw new OcibuildError(
      'ERR_CREDENTIALS',
      `credential helper ${program} failed with exit code ${code ?? 'signal'} for ${serverUrl}${where}; ` +
        `its output is not shown, as it may hold a credential (run \`echo ${serverUrl} | ${program} get\` to see it)`,
    );
  }
  let answer: unknown;
  try {
    answer = JSON.parse(stdout);
  } catch (error) {
    throw new OcibuildError('ERR_CREDENTIALS', `credential helper ${program} printed invalid JSON for ${serverUrl}${where}`, {
      cause: error instanceof Error ? new Error(error.name) : undefined,
    });
  }
  if (answer === null || typeof answer !== 'object') {
    throw new OcibuildError('ERR_CREDENTIALS', `credential helper ${program} printed a non-object for ${serverUrl}${where}`);
  }
  const { Username: username, Secret: secret } = answer as { Username?: unknown; Secret?: unknown };
  if (typeof secret !== 'string' || secret === '') return undefined;
  // Helpers store OAuth2 refresh tokens under the fixed user name "<token>" (docker login with identity tokens).
  if (username === '<token>') return { identityToken: secret };
  return { username: typeof username === 'string' ? username : '', password: secret };
}
