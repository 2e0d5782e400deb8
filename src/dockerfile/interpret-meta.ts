/**
 * Config-only Dockerfile instructions (ENV, LABEL, ARG, USER, EXPOSE, VOLUME, STOPSIGNAL,
 * HEALTHCHECK, SHELL, CMD, ENTRYPOINT, ONBUILD, MAINTAINER) applied to a stage's config, with
 * the history text BuildKit writes for each (`ENV a=1`, `CMD ["sh" "-c" "x"]`, `EXPOSE [80/tcp]`).
 * @module
 */

import { DockerfileError } from '../errors.ts';
import type { ContainerConfig, HealthConfig } from '../oci/types.ts';
import { goQuote } from './dump.ts';
import { formatGoDuration } from './instructions.ts';
import type { ArgInstruction, CommandInstruction, HealthcheckInstruction, Instruction, ListInstruction, PairsInstruction, WordInstruction } from './instructions.ts';
import { expandAt } from './stages.ts';
import { expandWords, WordExpansionError } from './shell.ts';
import type { StageState } from './interpret-state.ts';
import { chargeMetadata, expansionEnv, setArg, setEnv } from './interpret-state.ts';

/** BuildKit's default shell on Linux. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** Go's `%q` of a string slice: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

function containerConfig(state: StageState): ContainerConfig {
  state.config.config ??= {};
  return state.config.config;
}

/** Parses `EXPOSE` words (`80`, `80/tcp`, `53/udp`, `8000-8002`) to `port/proto` keys, as BuildKit does. */
export function parseExposedPorts(words: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of words) {
    const parts = raw.split(':');
    const containerPart = parts[parts.length - 1] as string;
    const slash = containerPart.indexOf('/');
    const portText = slash < 0 ? containerPart : containerPart.slice(0, slash);
    const proto = slash < 0 ? 'tcp' : containerPart.slice(slash + 1).toLowerCase();
    if (portText === '') throw new Error(`no port specified: ${raw}<empty>`);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
    const range = /^(\d+)(?:-(\d+))?$/.exec(portText);
    const start = range ? Number(range[1]) : NaN;
    const end = range?.[2] !== undefined ? Number(range[2]) : start;
    if (!range || start > 65535 || end > 65535 || end < start) throw new Error(`invalid containerPort: ${portText}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR', 'QUIT',
  'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
]);

/** Validates a stop signal like moby's `signal.ParseSignal` (`SIGTERM`, `TERM`, `9`, `SIGRTMIN+3`). */
export function isValidSignal(text: string): boolean {
  if (/^\d+$/.test(text)) return Number(text) > 0 && Number(text) <= 64;
  const name = text.toUpperCase().replace(/^SIG/, '');
  return SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

function expandList(words: readonly string[], state: StageState, instruction: Instruction): string[] {
  const env = expansionEnv(state);
  const out: string[] = [];
  for (const w of words) {
    try {
      out.push(...expandWords(w, env, { escape: state.host.escape }));
    } catch (error) {
      if (error instanceof WordExpansionError) throw new DockerfileError(instruction.location, error.message, { cause: error });
      throw error;
    }
  }
  return out;
}

function shellWrap(state: StageState, args: readonly string[]): string[] {
  const shell = state.config.config?.Shell;
  return [...(shell && shell.length > 0 ? shell : DEFAULT_SHELL), args.join(' ')];
}

/** The config's `Healthcheck` for a HEALTHCHECK instruction, as BuildKit writes it (zero fields left out). */
export function healthConfig(i: HealthcheckInstruction): HealthConfig {
  const h: HealthConfig = { Test: i.test };
  if (i.interval) h.Interval = i.interval;
  if (i.timeout) h.Timeout = i.timeout;
  if (i.startPeriod) h.StartPeriod = i.startPeriod;
  if (i.startInterval) h.StartInterval = i.startInterval;
  if (i.retries) h.Retries = i.retries;
  return h;
}

function healthHistory(i: HealthcheckInstruction): string {
  const test = `[${i.test.join(' ')}]`;
  return `HEALTHCHECK {Test:${test} Interval:${formatGoDuration(i.interval)} Timeout:${formatGoDuration(i.timeout)} StartPeriod:${formatGoDuration(i.startPeriod)} StartInterval:${formatGoDuration(i.startInterval)} Retries:${i.retries}}`;
}

function applyPairs(state: StageState, i: PairsInstruction): string {
  const env = expansionEnv(state);
  const escape = state.host.escape;
  // Every pair expands with the values from before the instruction (BuildKit), so all are
  // expanded before any is set: the expansion map follows the stage's changes.
  const pairs = i.pairs.map((pair) => [expandAt(pair.key, env, escape, i.location), expandAt(pair.value, env, escape, i.location)] as const);
  chargeMetadata(state, pairs.reduce((n, [k, v]) => n + k.length + v.length + 1, 0), i.location);
  for (const [key, value] of pairs) {
    if (i.kind === 'env') {
      if (key === '') throw new DockerfileError(i.location, 'ENV names can not be blank');
      setEnv(state, key, value);
    } else {
      // In place (the stage owns its config): a copy per LABEL would make many LABELs quadratic.
      (containerConfig(state).Labels ??= {})[key] = value;
    }
  }
  return `${i.kind.toUpperCase()} ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
}

function applyArg(state: StageState, i: ArgInstruction): string {
  const parts: string[] = [];
  const { buildArgs, globalArgs, escape } = state.host;
  for (const arg of i.args) {
    let value: string | undefined;
    if (Object.hasOwn(buildArgs, arg.name)) value = buildArgs[arg.name];
    else if (arg.value !== undefined) value = expandAt(arg.value, expansionEnv(state), escape, i.location);
    else value = globalArgs.get(arg.name);
    if (value !== undefined) chargeMetadata(state, arg.name.length + value.length, i.location);
    setArg(state, arg.name, value);
    parts.push(value !== undefined ? `${arg.name}=${value}` : arg.name);
  }
  return `ARG ${parts.join(' ')}`;
}

/**
 * Applies a config-only instruction. Returns the history text (`undefined` when BuildKit
 * writes none, as for ONBUILD), or throws {@link DockerfileError}.
 */
export function applyMetadata(state: StageState, i: Instruction): string | undefined {
  const escape = state.host.escape;
  switch (i.kind) {
    case 'env':
    case 'label':
      return applyPairs(state, i);
    case 'arg':
      return applyArg(state, i);
    case 'user': {
      const user = expandAt((i as WordInstruction).value, expansionEnv(state), escape, i.location);
      containerConfig(state).User = user;
      return `USER ${user}`;
    }
    case 'stopsignal': {
      const signal = expandAt(i.value, expansionEnv(state), escape, i.location);
      if (!isValidSignal(signal)) throw new DockerfileError(i.location, `invalid signal: ${signal}`);
      containerConfig(state).StopSignal = signal;
      return `STOPSIGNAL ${signal}`;
    }
    case 'maintainer':
      state.config.author = i.value;
      return `MAINTAINER ${i.value}`;
    case 'expose': {
      let ports: string[];
      try {
        ports = parseExposedPorts(expandList((i as ListInstruction).values, state, i));
      } catch (error) {
        if (error instanceof DockerfileError) throw error;
        throw new DockerfileError(i.location, (error as Error).message, { cause: error });
      }
      const c = containerConfig(state);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      // BuildKit writes the set of ports, sorted (testExportedHistory: `EXPOSE 2375 5000 1234/udp`
      // is `EXPOSE [1234/udp 2375/tcp 5000/tcp]`).
      return `EXPOSE [${[...new Set(ports)].sort().join(' ')}]`;
    }
    case 'volume': {
      const env = expansionEnv(state);
      const volumes = i.values.map((v) => expandAt(v, env, escape, i.location));
      const c = containerConfig(state);
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of volumes) {
        if (v === '') throw new DockerfileError(i.location, 'VOLUME specified can not be an empty string');
        c.Volumes[v] = {};
      }
      return `VOLUME [${volumes.join(' ')}]`;
    }
    case 'shell':
      containerConfig(state).Shell = [...i.args];
      return `SHELL [${i.args.join(' ')}]`;
    case 'cmd':
    case 'entrypoint': {
      const ci = i as CommandInstruction;
      const args = ci.json ? [...ci.args] : shellWrap(state, ci.args);
      const c = containerConfig(state);
      if (ci.kind === 'cmd') {
        c.Cmd = args;
        state.cmdSet = true;
        return `CMD ${goQuoteList(args)}`;
      }
      c.Entrypoint = args;
      // An ENTRYPOINT resets a CMD inherited from the base, not one set earlier in this stage.
      if (!state.cmdSet) delete c.Cmd;
      return `ENTRYPOINT ${goQuoteList(args)}`;
    }
    case 'healthcheck':
      containerConfig(state).Healthcheck = healthConfig(i);
      return healthHistory(i);
    case 'onbuild': {
      const c = containerConfig(state);
      c.OnBuild = [...(c.OnBuild ?? []), i.expression];
      return undefined;
    }
    default:
      throw new DockerfileError(i.location, `internal: ${i.kind} is not a metadata instruction`);
  }
}
