/**
 * Finding and reading containers' `registries.conf` (the I/O half of `registries-conf.ts`).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OcibuildError } from '../errors.ts';
import { parseRegistriesConf, type RegistryEntry } from './registries-conf.ts';

/**
 * The registries.conf in force, as podman finds it: `CONTAINERS_REGISTRIES_CONF`, else
 * `~/.config/containers/registries.conf`, else `/etc/containers/registries.conf`; undefined when none exists.
 */
function defaultRegistriesConf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CONTAINERS_REGISTRIES_CONF) return env.CONTAINERS_REGISTRIES_CONF;
  for (const file of [join(homedir(), '.config/containers/registries.conf'), '/etc/containers/registries.conf']) {
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** The `[[registry]]` entries of `file` (default {@link defaultRegistriesConf}); `false`: none. */
export function loadRegistriesConf(file: string | false | undefined): RegistryEntry[] {
  if (file === false) return [];
  const path = file ?? defaultRegistriesConf();
  if (path === undefined) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `cannot read registries.conf ${path}`, { cause: error });
  }
  return parseRegistriesConf(text, path);
}
