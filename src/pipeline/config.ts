/**
 * Applying user config options to an inherited image config, the way Docker and Jib do:
 * env merged by key, an entrypoint without cmd clears the inherited cmd, labels merged,
 * exposed ports and volumes unioned, a health check replacing the base's (HEALTHCHECK's rule).
 * @module
 */
import { DockerfileError, OcibuildError } from '../errors.ts';
import { mergeEnv } from '../oci/config.ts';
import type { ContainerConfig, HealthConfig, ImageConfig } from '../oci/types.ts';
import { nodeFromLine } from '../dockerfile/parse-line.ts';
import { parseGoDuration, parseInstruction } from '../dockerfile/instructions.ts';
import { healthConfig } from '../dockerfile/interpret-meta.ts';

/**
 * A health check given field by field. Durations are Go durations as Docker writes them
 * (`30s`, `1m30s`, `500ms`) or nanoseconds; unset or 0 leaves the runtime's default.
 * @category Build
 */
export interface HealthcheckOptions {
  /**
   * What to run: `['CMD', ...argv]` (exec form, no shell), `['CMD-SHELL', command]` (run by the
   * image's `/bin/sh -c`) or `['NONE']` (turns off the base's check). A string is `CMD-SHELL`.
   */
  test: readonly string[] | string;
  /** Time between checks (Docker's default 30s). */
  interval?: string | number;
  /** Time after which a check counts as failed (default 30s). */
  timeout?: string | number;
  /** Start-up time during which failures do not count (default 0s). */
  startPeriod?: string | number;
  /** Time between checks during the start period (default 5s). */
  startInterval?: string | number;
  /** Consecutive failures before the container is unhealthy (default 3). */
  retries?: number;
}

/**
 * Runtime settings a build may set on the image config. Unset fields keep the base's values.
 * @category Build
 */
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
  /**
   * Docker's HEALTHCHECK, replacing the base's: the text after `HEALTHCHECK` in a Dockerfile
   * (`'NONE'`, `'CMD node healthcheck.js'`, `'--interval=30s CMD ["node", "healthcheck.js"]'`)
   * or {@link HealthcheckOptions}. The config gets exactly the `Healthcheck` Docker writes.
   */
  healthcheck?: string | HealthcheckOptions;
}

function invalidHealthcheck(message: string): OcibuildError {
  return new OcibuildError('ERR_INVALID_CONFIG', `healthcheck: ${message}`);
}

/**
 * The config's `Healthcheck` for `healthcheck`, as Docker's builder writes it for the same
 * HEALTHCHECK: `Test`, then the non-zero `Interval`, `Timeout`, `StartPeriod`, `StartInterval`
 * (nanoseconds) and `Retries`. Throws `ERR_INVALID_CONFIG` where Docker refuses the instruction.
 * @example
 * ```ts
 * import { resolveHealthcheck } from 'ocibuild';
 *
 * const health = resolveHealthcheck({ test: 'curl -f http://localhost:8080/ || exit 1', interval: '30s' });
 * // health.Test is ['CMD-SHELL', 'curl -f http://localhost:8080/ || exit 1']
 * ```
 * @category Build
 */
export function resolveHealthcheck(healthcheck: string | HealthcheckOptions): HealthConfig {
  if (typeof healthcheck === 'string') {
    const location = { file: 'healthcheck', line: 1 };
    try {
      const instruction = parseInstruction(nodeFromLine(`HEALTHCHECK ${healthcheck}`, '\\', location), location.file);
      if (instruction.kind !== 'healthcheck') throw invalidHealthcheck(`cannot parse ${JSON.stringify(healthcheck)}`);
      return healthConfig(instruction);
    } catch (error) {
      if (error instanceof DockerfileError) throw invalidHealthcheck(error.message.replace(/^healthcheck:1: /, ''));
      throw error;
    }
  }
  const test = typeof healthcheck.test === 'string' ? ['CMD-SHELL', healthcheck.test] : [...healthcheck.test];
  const kind = test[0];
  if (kind === 'NONE') {
    if (test.length > 1) throw invalidHealthcheck('NONE takes no arguments');
    const timed = (['interval', 'timeout', 'startPeriod', 'startInterval', 'retries'] as const).filter((k) => healthcheck[k] !== undefined && healthcheck[k] !== 0);
    if (timed.length > 0) throw invalidHealthcheck(`NONE turns the check off: ${timed.join(', ')} cannot be set with it`);
    return { Test: ['NONE'] };
  }
  if (kind === 'CMD') {
    if (test.length < 2 || (test.length === 2 && test[1] === '')) throw invalidHealthcheck('missing command after CMD');
  } else if (kind === 'CMD-SHELL') {
    if (test.length !== 2 || test[1] === '') throw invalidHealthcheck('CMD-SHELL takes exactly one command string');
  } else {
    throw invalidHealthcheck(`test must start with CMD, CMD-SHELL or NONE, got ${JSON.stringify(test)}`);
  }
  const h: HealthConfig = { Test: test };
  const duration = (name: string, value: string | number | undefined): number => {
    if (value === undefined) return 0;
    let ns: number;
    if (typeof value === 'number') ns = value;
    else {
      try {
        ns = parseGoDuration(value);
      } catch {
        throw invalidHealthcheck(`invalid duration for ${name}: ${JSON.stringify(value)} (expected 30s, 1m30s, 500ms...)`);
      }
    }
    if (!Number.isSafeInteger(ns) || ns < 0) throw invalidHealthcheck(`${name} must be a whole, non-negative number of nanoseconds, got ${value}`);
    // Docker: a non-zero duration below 1ms is refused (0 means "use the default").
    if (ns !== 0 && ns < 1e6) throw invalidHealthcheck(`${name} cannot be less than 1ms`);
    return ns;
  };
  const interval = duration('interval', healthcheck.interval);
  const timeout = duration('timeout', healthcheck.timeout);
  const startPeriod = duration('startPeriod', healthcheck.startPeriod);
  const startInterval = duration('startInterval', healthcheck.startInterval);
  const retries = healthcheck.retries ?? 0;
  if (!Number.isSafeInteger(retries) || retries < 0) throw invalidHealthcheck(`retries must be a whole number ≥ 0, got ${retries}`);
  if (interval) h.Interval = interval;
  if (timeout) h.Timeout = timeout;
  if (startPeriod) h.StartPeriod = startPeriod;
  if (startInterval) h.StartInterval = startInterval;
  if (retries) h.Retries = retries;
  return h;
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
  if (options.healthcheck !== undefined) c.Healthcheck = resolveHealthcheck(options.healthcheck);
  return { ...config, config: c };
}
