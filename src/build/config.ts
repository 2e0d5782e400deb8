/**
 * Applying user config options to an inherited image config, the way Docker and Jib do:
 * env merged by key, an entrypoint without cmd clears the inherited cmd, labels merged,
 * exposed ports and volumes unioned.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { mergeEnv } from '../oci/config.ts';
import type { ContainerConfig, ImageConfig } from '../oci/types.ts';

/** Runtime settings a build may set on the image config. Unset fields keep the base's values. */
export interface ConfigOptions {
  /** Entrypoint argv. Setting it without `cmd` clears the base's Cmd (Docker's rule). */
  entrypoint?: readonly string[];
  /** Default arguments. */
  cmd?: readonly string[];
  /** Environment, merged into the base's by key (`{K: V}` or `['K=V']`). */
  env?: Readonly<Record<string, string>> | readonly string[];
  /** Working directory (absolute). */
  workingDir?: string;
  /** User (`name`, `uid`, `uid:gid`). */
  user?: string;
  /** Exposed ports: `80`, `80/tcp`, `53/udp`. Unioned with the base's. */
  exposedPorts?: readonly string[];
  /** Labels, merged into the base's. */
  labels?: Record<string, string>;
  /** Volumes (absolute paths), unioned with the base's. */
  volumes?: readonly string[];
  /** Stop signal (`SIGTERM`, `9`). */
  stopSignal?: string;
}

/** Normalises `80` to `80/tcp` and checks `PORT[/tcp|udp|sctp]`. */
export function normalizePort(port: string): string {
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(port.trim());
  const num = match ? Number(match[1]) : NaN;
  if (!match || num < 0 || num > 65535) {
    throw new OcibuildError('ERR_INVALID_CONFIG', `invalid exposed port ${JSON.stringify(port)}: expected PORT or PORT/tcp|udp|sctp`);
  }
  return `${num}/${(match[2] ?? 'tcp').toLowerCase()}`;
}

function union(base: Record<string, Record<string, never>> | undefined, keys: readonly string[]): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = { ...(base ?? {}) };
  for (const k of keys) out[k] = {};
  return out;
}

/** Returns a copy of `config` with `options` applied. */
export function applyConfigOptions(config: ImageConfig, options: ConfigOptions): ImageConfig {
  const c: ContainerConfig = { ...(config.config ?? {}) };
  if (options.entrypoint !== undefined) {
    c.Entrypoint = [...options.entrypoint];
    if (options.cmd === undefined) delete c.Cmd;
  }
  if (options.cmd !== undefined) c.Cmd = [...options.cmd];
  if (options.env !== undefined) c.Env = mergeEnv(c.Env, options.env);
  if (options.workingDir !== undefined) {
    if (!options.workingDir.startsWith('/')) {
      throw new OcibuildError('ERR_INVALID_CONFIG', `workingDir must be absolute, got ${JSON.stringify(options.workingDir)}`);
    }
    c.WorkingDir = options.workingDir;
  }
  if (options.user !== undefined) c.User = options.user;
  if (options.exposedPorts !== undefined) c.ExposedPorts = union(c.ExposedPorts, options.exposedPorts.map(normalizePort));
  if (options.labels !== undefined) c.Labels = { ...(c.Labels ?? {}), ...options.labels };
  if (options.volumes !== undefined) {
    for (const v of options.volumes) {
      if (!v.startsWith('/')) throw new OcibuildError('ERR_INVALID_CONFIG', `volume must be an absolute path, got ${JSON.stringify(v)}`);
    }
    c.Volumes = union(c.Volumes, options.volumes);
  }
  if (options.stopSignal !== undefined) c.StopSignal = options.stopSignal;
  return { ...config, config: c };
}
