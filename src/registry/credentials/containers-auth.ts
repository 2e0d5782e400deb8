/**
 * Credentials from the podman/buildah/skopeo `auth.json` (containers-auth.json(5)).
 * @module
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Credential, CredentialProvider } from '../types.ts';
import { authFileKeyToScope, decodeAuthEntry, findCredHelper, helperServerUrl, hostOf, lookupScopes, type AuthFile } from './auth-entries.ts';
import { readAuthFile } from './docker-config.ts';
import { runCredentialHelper } from './helper.ts';
import { withCredentialSource, withProviderSources } from './source.ts';

/**
 * Options of {@link containersAuthCredentials}.
 * @category Registry
 */
export interface ContainersAuthOptions {
  /** Read only this file instead of the default search list. */
  path?: string;
  /** Environment for `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME` and helpers' `PATH`. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Time a credential helper may run. Default 30 s. */
  helperTimeoutMs?: number;
}

/**
 * The files {@link containersAuthCredentials} searches, in order: `$REGISTRY_AUTH_FILE`, else
 * `$XDG_RUNTIME_DIR/containers/auth.json`; then `~/.config/containers/auth.json` (as containers/image does).
 */
export function containersAuthPaths(options: ContainersAuthOptions = {}): string[] {
  if (options.path !== undefined) return [options.path];
  const env = options.env ?? process.env;
  const home = env.HOME || homedir();
  const paths: string[] = [];
  if (env.REGISTRY_AUTH_FILE) paths.push(env.REGISTRY_AUTH_FILE);
  else if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(join(home, '.config', 'containers', 'auth.json'));
  return paths;
}

async function lookupAuthFile(
  config: AuthFile,
  registry: string,
  file: string,
  options: ContainersAuthOptions,
): Promise<Credential | undefined> {
  const host = hostOf(registry);
  const helper = findCredHelper(config.credHelpers, host);
  if (helper !== undefined) {
    const credential = await runCredentialHelper(helper, helperServerUrl(host), {
      env: options.env,
      timeoutMs: options.helperTimeoutMs,
      configuredIn: file,
    });
    return withCredentialSource(credential, `credential helper docker-credential-${helper} (named in ${file})`);
  }
  const auths = config.auths ?? {};
  const keys = Object.keys(auths);
  for (const scope of lookupScopes(registry)) {
    const key = keys.find((k) => authFileKeyToScope(k) === scope);
    if (key === undefined) continue;
    const credential = decodeAuthEntry(auths[key], `${file}: auths[${JSON.stringify(key)}]`);
    if (credential !== undefined) return withCredentialSource(credential, `${file} (auths[${JSON.stringify(key)}])`);
  }
  return undefined;
}

/**
 * Provides credentials from podman/buildah `auth.json` files (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`; then `~/.config/containers/auth.json`), each
 * read once on first use; the first file with an entry wins. `registry` may be a host or
 * `host/namespace/repo`: keys with a repository namespace match the most specific first
 * (`quay.io/org/repo`, then `quay.io/org`, then `quay.io`). `credHelpers` entries are honoured too.
 * @example
 * ```ts
 * import { containersAuthCredentials } from 'ocibuild';
 *
 * const credentials = containersAuthCredentials();
 * const credential = await credentials('quay.io'); // undefined when no auth.json names it
 * ```
 * @category Registry
 */
export function containersAuthCredentials(options: ContainersAuthOptions = {}): CredentialProvider {
  const files = containersAuthPaths(options);
  const loaded = new Map<string, Promise<AuthFile | undefined>>();
  const env = options.env ?? process.env;
  const named = files.map((file) => (file === env.REGISTRY_AUTH_FILE ? `${file} ($REGISTRY_AUTH_FILE)` : file));
  return withProviderSources(async (registry) => {
    for (const file of files) {
      let config = loaded.get(file);
      if (config === undefined) {
        config = readAuthFile(file);
        loaded.set(file, config);
      }
      const parsed = await config;
      if (parsed === undefined) continue;
      const credential = await lookupAuthFile(parsed, registry, file, options);
      if (credential !== undefined) return credential;
    }
    return undefined;
  }, [`containers auth files ${named.join(', ')} and the credential helpers they name`]);
}
