/**
 * Credentials from Docker's `config.json`: `auths`, `credHelpers` and `credsStore`.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OcibuildError } from '../../errors.ts';
import type { Credential, CredentialProvider } from '../types.ts';
import {
  asAuthFile,
  decodeAuthEntry,
  findCredHelper,
  findDockerAuthKey,
  helperServerUrl,
  hostOf,
  type AuthFile,
} from './auth-entries.ts';
import { runCredentialHelper } from './helper.ts';
import { withCredentialSource, withProviderSources } from './source.ts';

/** Options of {@link dockerConfigCredentials}. */
export interface DockerConfigOptions {
  /** Directory holding `config.json`. Default `$DOCKER_CONFIG`, else `~/.docker`. */
  configDir?: string;
  /** Environment for `DOCKER_CONFIG`, `HOME` and the credential helpers' `PATH`. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Time a credential helper may run. Default 30 s. */
  helperTimeoutMs?: number;
}

/**
 * Reads and parses a credential file; resolves undefined when it does not exist.
 * Throws `ERR_CREDENTIALS` naming the file (never its content) when it is unreadable or malformed.
 */
export async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OcibuildError('ERR_CREDENTIALS', `cannot read credential file ${file}: ${code ?? 'error'}`, { cause: error });
  }
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the file content, which holds secrets: do not chain it.
    throw new OcibuildError('ERR_CREDENTIALS', `credential file ${file} is not valid JSON`);
  }
  return asAuthFile(parsed, file);
}

/**
 * Looks up `host` in a parsed Docker-style file: `credHelpers[host]` first, then an inline `auths`
 * entry, then `credsStore`. Inline entries come before the store because they need no process and a
 * store leaves only empty `{}` placeholders there, so the order changes nothing for files Docker wrote.
 */
async function lookupDockerStyle(
  config: AuthFile,
  host: string,
  file: string,
  options: { env?: NodeJS.ProcessEnv; helperTimeoutMs?: number },
): Promise<Credential | undefined> {
  const helperOptions = { env: options.env, timeoutMs: options.helperTimeoutMs, configuredIn: file };
  const fromHelper = (name: string) => `credential helper docker-credential-${name} (named in ${file})`;
  const helper = findCredHelper(config.credHelpers, host);
  if (helper !== undefined) return withCredentialSource(await runCredentialHelper(helper, helperServerUrl(host), helperOptions), fromHelper(helper));
  const auths = config.auths ?? {};
  const key = findDockerAuthKey(auths, host);
  if (key !== undefined) {
    const credential = decodeAuthEntry(auths[key], `${file}: auths[${JSON.stringify(key)}]`);
    if (credential !== undefined) return withCredentialSource(credential, `${file} (auths[${JSON.stringify(key)}])`);
  }
  if (config.credsStore !== undefined && config.credsStore !== '') {
    const store = config.credsStore;
    return withCredentialSource(await runCredentialHelper(store, helperServerUrl(host), helperOptions), fromHelper(store));
  }
  return undefined;
}

/** Where {@link dockerConfigCredentials} reads from: `configDir`, `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigPath(options: DockerConfigOptions = {}): string {
  const env = options.env ?? process.env;
  const dir = options.configDir ?? (env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'));
  return join(dir, 'config.json');
}

/**
 * Provides credentials from Docker's `config.json` (`$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`), read once, on first use. Keys match by host the way Docker normalises
 * them (`https://host/v1/`, `http://host`, `host`; `https://index.docker.io/v1/` for `docker.io`).
 * `credHelpers[host]` wins, then the inline `auths` entry, then `credsStore`. A missing file means no
 * credentials; a malformed one, a missing or failing helper throw `ERR_CREDENTIALS`.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialProvider {
  const file = dockerConfigPath(options);
  let config: Promise<AuthFile | undefined> | undefined;
  const env = options.env ?? process.env;
  const how = options.configDir !== undefined ? '' : env.DOCKER_CONFIG ? ' ($DOCKER_CONFIG)' : ' (set DOCKER_CONFIG to use another)';
  return withProviderSources(async (registry) => {
    config ??= readAuthFile(file);
    const loaded = await config;
    if (loaded === undefined) return undefined;
    return lookupDockerStyle(loaded, hostOf(registry), file, {
      env: options.env,
      helperTimeoutMs: options.helperTimeoutMs,
    });
  }, [`Docker config ${file}${how} and the credential helpers it names`]);
}
