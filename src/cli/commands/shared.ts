/**
 * Flags shared by several commands: registry access, config edits, progress output.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { BuildEvent, BuildOptions, BuildResult, ConfigOptions, Credential, CredentialProvider, HealthConfig, HealthcheckOptions } from '../../index.ts';
import { chainCredentials, defaultCredentials, fflateGzip, fixedCredentials, nodeGzip, resolveHealthcheck } from '../../index.ts';
import { argvFlag, keyValues, list, str, UsageError, type CommandIO } from '../util.ts';
import { createProgress, progressFlags, progressMode, type ProgressReporter } from '../progress.ts';
import { CI_HELP, ciFlags } from './ci-flags.ts';

export { PROGRESS_HELP } from '../progress.ts';

/** Help lines of {@link registryFlags}. */
export const REGISTRY_HELP = `  --insecure-registry H    allow plain HTTP to host H (repeatable)
  --ca FILE                extra CA certificate (PEM); SSL_CERT_FILE is trusted too
  --cert-dir DIR           per-registry CAs in DIR/HOST[:PORT]/*.crt (default ~/.config/containers/certs.d,
                           /etc/containers/certs.d, /etc/docker/certs.d)
  --skip-tls-verify        do not verify TLS certificates
  --creds USER:PASS        registry credentials
  --registry-mirror HOST   mirror of Docker Hub tried before it (repeatable, in order; kaniko)
  --registry-map REG=MIRROR[;MIRROR]  mirrors of registry or namespace REG (repeatable; kaniko)
  --registries-conf FILE   containers registries.conf for [[registry]] mirrors (default
                           CONTAINERS_REGISTRIES_CONF, ~/.config/containers/ or /etc/containers/)
  HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured for registries (loopback is never proxied).`;

/** parseArgs options for registry access. */
export const registryFlags = {
  'insecure-registry': { type: 'string', multiple: true },
  ca: { type: 'string', multiple: true },
  'skip-tls-verify': { type: 'boolean' },
  creds: { type: 'string' },
  'cert-dir': { type: 'string', multiple: true },
  'registry-mirror': { type: 'string', multiple: true },
  'registry-map': { type: 'string', multiple: true },
  'registries-conf': { type: 'string' },
} as const;

/** parseArgs options for config edits. */
export const configFlags = {
  entrypoint: { type: 'string' },
  cmd: { type: 'string' },
  env: { type: 'string', multiple: true },
  workdir: { type: 'string' },
  user: { type: 'string' },
  expose: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  volume: { type: 'string', multiple: true },
  'stop-signal': { type: 'string' },
  healthcheck: { type: 'string' },
  'healthcheck-interval': { type: 'string' },
  'healthcheck-timeout': { type: 'string' },
  'healthcheck-start-period': { type: 'string' },
  'healthcheck-start-interval': { type: 'string' },
  'healthcheck-retries': { type: 'string' },
} as const;

/** Help lines of the health check flags of {@link configFlags}. */
export const HEALTHCHECK_HELP = `  --healthcheck SPEC       Docker's HEALTHCHECK, as written after HEALTHCHECK in a Dockerfile:
                           'CMD node healthcheck.js' (run by /bin/sh -c), 'CMD ["node", "hc.js"]'
                           (exec form, no shell: for distroless), or NONE (turn the base's off)
  --healthcheck-interval D      time between checks (Go duration: 30s, 1m30s, 500ms)
  --healthcheck-timeout D       time after which a check fails
  --healthcheck-start-period D  start-up time whose failures do not count
  --healthcheck-start-interval D  time between checks during the start period
  --healthcheck-retries N  consecutive failures before unhealthy`;

const HEALTH_TIMINGS = [
  ['healthcheck-interval', 'interval'],
  ['healthcheck-timeout', 'timeout'],
  ['healthcheck-start-period', 'startPeriod'],
  ['healthcheck-start-interval', 'startInterval'],
] as const;

/** `--healthcheck` and its `--healthcheck-*` timings as one {@link HealthcheckOptions} (UsageError on misuse). */
function healthcheckFlags(values: Record<string, unknown>): HealthcheckOptions | undefined {
  const spec = str(values, 'healthcheck');
  const given = [...HEALTH_TIMINGS.map(([flag]) => flag), 'healthcheck-retries'].filter((flag) => str(values, flag) !== undefined);
  if (spec === undefined) {
    if (given.length > 0) throw new UsageError(`--${given[0] as string} needs --healthcheck (the command to run)`);
    return undefined;
  }
  let base: HealthConfig;
  try {
    base = resolveHealthcheck(spec);
  } catch (error) {
    throw new UsageError(`--healthcheck: ${(error as Error).message.replace(/^healthcheck: /, '')}`);
  }
  const out: HealthcheckOptions = { test: base.Test ?? [] };
  if (base.Interval !== undefined) out.interval = base.Interval;
  if (base.Timeout !== undefined) out.timeout = base.Timeout;
  if (base.StartPeriod !== undefined) out.startPeriod = base.StartPeriod;
  if (base.StartInterval !== undefined) out.startInterval = base.StartInterval;
  if (base.Retries !== undefined) out.retries = base.Retries;
  for (const [flag, key] of HEALTH_TIMINGS) {
    const value = str(values, flag);
    if (value !== undefined) out[key] = value;
  }
  const retries = str(values, 'healthcheck-retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw new UsageError(`--healthcheck-retries expects a whole number, got ${JSON.stringify(retries)}`);
    out.retries = Number(retries);
  }
  try {
    resolveHealthcheck(out);
  } catch (error) {
    throw new UsageError(`--healthcheck: ${(error as Error).message.replace(/^healthcheck: /, '')}`);
  }
  return out;
}

/** parseArgs options for output. */
export const outputFlags = {
  to: { type: 'string', multiple: true, short: 't' },
  tag: { type: 'string', multiple: true },
  format: { type: 'string' },
  compression: { type: 'string' },
  'compression-level': { type: 'string' },
  'gzip-encoder': { type: 'string' },
  platform: { type: 'string', multiple: true },
  'digest-file': { type: 'string' },
  'load-platform': { type: 'string' },
  ...ciFlags,
  ...progressFlags,
} as const;

/** Help lines of the output files of {@link outputFlags} beyond `--digest-file`. */
export const OUTPUT_FILES_HELP = CI_HELP;

/** Registry options from flags. */
export function registryOptions(values: Record<string, unknown>): Pick<BuildOptions, 'registries' | 'credentials'> {
  const insecure = list(values, 'insecure-registry');
  const ca = list(values, 'ca').map((file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(`--ca ${file}: cannot read the file`);
    }
  });
  const creds = str(values, 'creds');
  let credentials: CredentialProvider | undefined;
  if (creds !== undefined) {
    const colon = creds.indexOf(':');
    if (colon <= 0) throw new UsageError('--creds expects USER:PASSWORD');
    const credential: Credential = { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
    credentials = chainCredentials(fixedCredentials(credential, { source: '--creds' }), defaultCredentials());
  }
  const mirrors: Record<string, string[]> = {};
  const hub = list(values, 'registry-mirror');
  if (hub.length) mirrors['docker.io'] = hub.map(stripScheme);
  for (const item of list(values, 'registry-map')) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new UsageError(`--registry-map expects REGISTRY=MIRROR[;MIRROR], got ${JSON.stringify(item)}`);
    const from = stripScheme(item.slice(0, eq));
    // kaniko names Docker Hub index.docker.io; references normalise it to docker.io.
    const key = from === 'index.docker.io' || from === 'registry-1.docker.io' ? 'docker.io' : from;
    mirrors[key] = [...(mirrors[key] ?? []), ...item.slice(eq + 1).split(';').filter(Boolean).map(stripScheme)];
  }
  const certsDirs = list(values, 'cert-dir');
  const conf = str(values, 'registries-conf');
  return {
    registries: {
      ...(insecure.length ? { insecure } : {}),
      ...(ca.length ? { ca } : {}),
      ...(values['skip-tls-verify'] ? { skipTlsVerify: true } : {}),
      ...(Object.keys(mirrors).length ? { mirrors } : {}),
      ...(certsDirs.length ? { certsDirs } : {}),
      ...(conf !== undefined ? { registriesConf: conf } : {}),
    },
    ...(credentials ? { credentials } : {}),
  };
}

/** `https://mirror.example/` as kaniko accepts it: the host (and path) only. */
function stripScheme(value: string): string {
  return value.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
}

/** Config edits as flags give them: a `ConfigOptions` whose `env` is always a map. */
export type ConfigFlagOptions = Omit<ConfigOptions, 'env'> & { env?: Record<string, string> };

/** Config edits from flags. */
export function configOptions(values: Record<string, unknown>): ConfigFlagOptions {
  const config: ConfigFlagOptions = {};
  const entrypoint = argvFlag(str(values, 'entrypoint'), '--entrypoint');
  const cmd = argvFlag(str(values, 'cmd'), '--cmd');
  if (entrypoint) config.entrypoint = entrypoint;
  if (cmd) config.cmd = cmd;
  const env = list(values, 'env');
  if (env.length) config.env = keyValues(env, '--env');
  const workdir = str(values, 'workdir');
  if (workdir !== undefined) config.workingDir = workdir;
  const user = str(values, 'user');
  if (user !== undefined) config.user = user;
  const expose = list(values, 'expose');
  if (expose.length) config.exposedPorts = expose;
  const labels = list(values, 'label');
  if (labels.length) config.labels = keyValues(labels, '--label');
  const volumes = list(values, 'volume');
  if (volumes.length) config.volumes = volumes;
  const stop = str(values, 'stop-signal');
  if (stop !== undefined) config.stopSignal = stop;
  const healthcheck = healthcheckFlags(values);
  if (healthcheck !== undefined) config.healthcheck = healthcheck;
  return config;
}

/** `--format` from flags: `oci`, `docker`, or undefined when not given (UsageError otherwise). */
export function formatFlag(values: Record<string, unknown>): 'oci' | 'docker' | undefined {
  const format = str(values, 'format');
  if (format !== undefined && format !== 'oci' && format !== 'docker') throw new UsageError('--format must be oci or docker');
  return format;
}

/** Help lines of the `--compression` flags of {@link outputFlags}. */
export const COMPRESSION_HELP = `  --compression gzip|zstd  compression of new layers (default gzip); zstd writes OCI tar+zstd
                           layers: not with --format docker or docker-archive: targets
  --compression-level N    gzip 0-9 (default 6), zstd 1-19 (default 3)
  --gzip-encoder libdeflate|fflate|zlib
                           gzip implementation (default libdeflate, WebAssembly; fflate is
                           pure JavaScript; each writes other bytes, so other layer digests)`;

/** `--compression`, `--compression-level` and `--gzip-encoder` from flags (UsageError naming the flag on a bad value). */
export function compressionOptions(values: Record<string, unknown>): Pick<BuildOptions, 'compression' | 'compressionLevel' | 'encoder'> {
  const compression = str(values, 'compression');
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw new UsageError(`--compression must be gzip or zstd, got ${JSON.stringify(compression)}`);
  }
  const gzipEncoder = str(values, 'gzip-encoder');
  if (gzipEncoder !== undefined && gzipEncoder !== 'libdeflate' && gzipEncoder !== 'fflate' && gzipEncoder !== 'zlib') {
    throw new UsageError(`--gzip-encoder must be libdeflate, fflate or zlib, got ${JSON.stringify(gzipEncoder)}`);
  }
  if (gzipEncoder !== undefined && compression === 'zstd') throw new UsageError('--gzip-encoder applies to gzip layers, not to --compression zstd');
  const levelText = str(values, 'compression-level');
  // libdeflate is the default encoder: naming it changes nothing.
  const make = gzipEncoder === 'fflate' ? fflateGzip : gzipEncoder === 'zlib' ? nodeGzip : undefined;
  if (levelText === undefined) return { ...(compression !== undefined ? { compression } : {}), ...(make ? { encoder: make({ level: 6 }) } : {}) };
  const [min, max] = compression === 'zstd' ? [1, 19] : [0, 9];
  const level = /^\d+$/.test(levelText) ? Number(levelText) : Number.NaN;
  if (!(level >= min && level <= max)) {
    throw new UsageError(`--compression-level must be a whole number ${min}-${max} for ${compression ?? 'gzip'}, got ${JSON.stringify(levelText)}`);
  }
  return { ...(compression !== undefined ? { compression } : {}), compressionLevel: level, ...(make ? { encoder: make({ level }) } : {}) };
}

/** `--platform` values from flags (repeatable and comma-separated), in order. */
export function platformList(values: Record<string, unknown>): string[] {
  return list(values, 'platform').flatMap((p) => p.split(',')).filter(Boolean);
}

/** `--platform` for a build from an image: the list, `all` alone for every platform of the base, undefined when not given. */
export function platformsFlag(values: Record<string, unknown>): string[] | 'all' | undefined {
  const platforms = platformList(values);
  if (!platforms.length) return undefined;
  return platforms.length === 1 && platforms[0] === 'all' ? 'all' : platforms;
}

/** Output options from flags. */
export function outputOptions(values: Record<string, unknown>): Pick<BuildOptions, 'to' | 'tags' | 'format' | 'platforms' | 'digestFile' | 'compression' | 'compressionLevel' | 'encoder' | 'loadPlatform'> {
  const to = list(values, 'to');
  if (to.length === 0) throw new UsageError('--to TARGET is required (a registry reference, oci:PATH[:TAG] or docker-archive:PATH[:REF])');
  const format = formatFlag(values);
  const platforms = platformsFlag(values);
  const digestFile = str(values, 'digest-file');
  return {
    to,
    tags: list(values, 'tag'),
    ...(format ? { format } : {}),
    ...(platforms ? { platforms } : {}),
    ...(digestFile !== undefined ? { digestFile } : {}),
    ...(str(values, 'load-platform') !== undefined ? { loadPlatform: str(values, 'load-platform') as string } : {}),
    ...compressionOptions(values),
  };
}

/**
 * The command's progress renderer (mode from `--progress`, `--json`, `--quiet`,
 * `OCIBUILD_PROGRESS`, the terminal) with the target log of {@link targetLog} in front.
 * Call `finish(failed)` once: it prints a failed step's output and the summary.
 */
export function startProgress(values: Record<string, unknown>, io: CommandIO): {
  onEvent: (event: BuildEvent) => void;
  finish: (failed: boolean) => void;
  reporter: ProgressReporter;
} {
  const reporter = createProgress(progressMode(values, io), io, process.stderr, { verbose: values.verbose === true });
  const log = targetLog(reporter.onEvent);
  let finished = false;
  return {
    onEvent: log.onEvent,
    reporter,
    finish(failed) {
      if (finished) return;
      finished = true;
      reporter.done(failed);
      if (failed) log.reportFailure(io);
    },
  };
}

/**
 * Awaits `work` and then calls `show.finish` once, with `failed` true when `work` rejected (the
 * rejection is rethrown), so that a failed step's output and the summary are always printed.
 */
export async function finishProgress<T>(show: { finish: (failed: boolean) => void }, work: Promise<T>): Promise<T> {
  const result = await work.catch((error: unknown) => {
    show.finish(true);
    throw error;
  });
  show.finish(false);
  return result;
}

/** A setter that copies a flag's value onto `target` only when it is defined: unset flags leave the option out. */
export function setDefined<T extends object>(target: T): <K extends keyof T>(key: K, value: T[K] | undefined) => void {
  return (key, value) => {
    if (value !== undefined) target[key] = value;
  };
}

/** `1.2 MB` style sizes. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Remembers the targets a build finished (`target-done`), so that after a failure the CLI can say
 * which targets hold the new image: targets are written in order and a failure stops the rest.
 */
export function targetLog(sink: (event: BuildEvent) => void): { onEvent: (event: BuildEvent) => void; reportFailure: (io: CommandIO) => void } {
  const written: string[] = [];
  return {
    onEvent(event) {
      if (event.type === 'target-done') written.push(event.target);
      sink(event);
    },
    reportFailure(io) {
      if (written.length > 0) io.err(`written before the failure: ${written.join(', ')}`);
    },
  };
}

/**
 * What stdout names: the digest every target holds, or one `DIGEST TARGET` line per target when
 * they differ (a Docker-format build written to a registry and an `oci:` layout).
 */
export function digestLines(result: BuildResult): string {
  const distinct = new Set(result.targets.map((t) => t.digest));
  if (distinct.size <= 1) return [...distinct][0] ?? result.digest;
  return result.targets.map((t) => `${t.digest} ${t.ref}`).join('\n');
}
