/**
 * Live events of RUN steps: start, each chunk of output as it arrives, end. The build forwards
 * them to `onEvent`, so the CLI (or an embedding tool) can show a slow `RUN npm ci` while it runs
 * and the whole output of a failed one, not only the tail kept for the error message.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { formatPlatform } from '../oci/platform.ts';
import type { Mount, OutputSink } from '../run/types.ts';
import type { Instruction, RunInstruction } from './instructions.ts';
import type { StageState } from './interpret-state.ts';
import type { ResolvedStage, StageGraph } from './stages.ts';
import { secretNeedles } from './run-command.ts';

/**
 * A step started: a RUN, or a layer of a files build (`append`, `node`), which may take a while to compress.
 * @category Build
 */
export interface RunStartEvent {
  /** Event kind. */
  type: 'step-start';
  /** Identifies the step in `log` and `step-end` events of the same build (opaque). */
  step: string;
  /** BuildKit-style name: `[2/5] RUN npm ci`, `[build 3/4] RUN make` in a named stage. */
  name: string;
  /** Platform built (`linux/amd64`). */
  platform: string;
  /** Stage index in the Dockerfile. */
  stage: number;
}

/**
 * A chunk of a running step's output, decoded as UTF-8 (a multi-byte character is never split).
 * @category Build
 */
export interface RunLogEvent {
  /** Event kind. */
  type: 'log';
  /** The step of the matching `step-start`. */
  step: string;
  /** Which stream the chunk came from. */
  stream: 'stdout' | 'stderr';
  /** The text, as the process wrote it (lines may span chunks). */
  data: string;
}

/**
 * A step ended: a RUN with its `exitCode` (0 on success); `error` when it failed without an exit
 * status (the sandbox, or writing a files-build layer); neither for a files-build layer written.
 * @category Build
 */
export interface RunEndEvent {
  /** Event kind. */
  type: 'step-end';
  /** The step of the matching `step-start`. */
  step: string;
  /** Wall time of the step. */
  durationMs: number;
  /** Exit status of the command, when it ran. */
  exitCode?: number;
  /** The command that failed (its argv), when `exitCode` is not 0. */
  command?: string[];
  /** Why the step failed without an exit status. */
  error?: string;
  /** True when the result came from the cache (a files-build layer found by its inputs). */
  cached?: boolean;
}

/**
 * Events of build steps: start, live output (RUN), end.
 * @category Build
 */
export type RunEvent = RunStartEvent | RunLogEvent | RunEndEvent;

/** What one step's observer gives the executor and is told at the end. */
export interface StepObserver {
  /** Output sinks to pass to the executor (the caller's own sinks are called too). */
  stdout: OutputSink;
  /** See `stdout`. */
  stderr: OutputSink;
  /** Call once with the exit status, or with the failure. */
  end(outcome: { exitCode: number; argv: string[] } | { error: unknown }): void;
}

/** A step's secret values: its `env=` secrets (`KEY=value` additions) and its secret mounts' private copies. */
export async function stepSecretValues(env: readonly string[], mounts: readonly Mount[]): Promise<string[]> {
  const values = env.map((e) => e.slice(e.indexOf('=') + 1));
  for (const m of mounts) if (m.type === 'secret') values.push(await readFile(m.source, 'utf8'));
  return values;
}

/**
 * Hides secret values in a stream of text as `***`. A chunk's end that could be the start of a
 * secret is held back until the next chunk (or `flush`), so a value split across chunks is still hidden.
 */
export function secretRedactor(values: readonly string[]): { push(text: string): string; flush(): string } {
  const sorted = secretNeedles(values);
  const longest = sorted[0]?.length ?? 0;
  let held = '';
  const replace = (text: string): string => sorted.reduce((out, needle) => out.split(needle).join('***'), text);
  return {
    push(data) {
      if (sorted.length === 0) return data;
      const text = replace(held + data);
      let cut = text.length;
      for (let i = Math.max(0, text.length - longest + 1); i < text.length; i++) {
        const tail = text.slice(i);
        if (sorted.some((n) => n.startsWith(tail))) {
          cut = i;
          break;
        }
      }
      held = text.slice(cut);
      return text.slice(0, cut);
    },
    flush() {
      const out = held;
      held = '';
      return out;
    },
  };
}

/**
 * BuildKit's `[stage i/n]` counter: FROM is 1, then each layer instruction (RUN, COPY, ADD,
 * WORKDIR). With `withPlatform` (a multi-platform build) the platform leads, as BuildKit shows
 * it: `[linux/arm64 2/5] RUN make`, `[linux/arm64 build 3/4] RUN make`.
 */
export function stepName(graph: StageGraph | undefined, state: StageState, instruction: Instruction, withPlatform = false): string {
  const text = instruction.node.original.replace(/\s+/g, ' ').trim();
  const platform = withPlatform ? `${formatPlatform(state.platform)} ` : '';
  const stage = graph?.stages[state.index] as ResolvedStage | undefined;
  if (stage === undefined) return platform === '' ? text : `[${platform.trim()}] ${text}`;
  const layered = stage.instructions.filter((i) => i.kind === 'run' || i.kind === 'copy' || i.kind === 'add' || i.kind === 'workdir');
  const at = layered.indexOf(instruction);
  const named = graph !== undefined && graph.stages.length > 1 ? `${stage.name ?? `stage-${state.index}`} ` : '';
  if (at < 0) return platform === '' ? text : `[${platform.trim()}] ${text}`;
  return `[${platform}${named}${at + 2}/${layered.length + 1}] ${text}`;
}

/**
 * Starts observing one RUN step: emits `step-start` now, `log` per chunk, `step-end` at `end()`.
 * `sinks` are the session's own stdout/stderr callbacks, still called.
 */
export function observeRunStep(
  emit: (event: RunEvent) => void,
  graph: StageGraph | undefined,
  state: StageState,
  instruction: RunInstruction,
  sinks: { stdout?: OutputSink; stderr?: OutputSink },
  secrets: readonly string[] = [],
  withPlatform = false,
): StepObserver {
  const line = instruction.location.line;
  const platform = formatPlatform(state.platform);
  const step = `${platform} ${state.index}:${line}`;
  const started = Date.now();
  emit({ type: 'step-start', step, name: stepName(graph, state, instruction, withPlatform), platform, stage: state.index });
  const redactors = { stdout: secretRedactor(secrets), stderr: secretRedactor(secrets) };
  const sink = (stream: 'stdout' | 'stderr', own: OutputSink | undefined): OutputSink => {
    // One decoder per stream keeps a UTF-8 sequence split across chunks whole.
    const decoder = new TextDecoder();
    return (chunk) => {
      own?.(chunk);
      // The step's secrets never reach an event (a RUN that echoes one shows `***`).
      const data = redactors[stream].push(decoder.decode(chunk, { stream: true }));
      if (data !== '') emit({ type: 'log', step, stream, data });
    };
  };
  let ended = false;
  return {
    stdout: sink('stdout', sinks.stdout),
    stderr: sink('stderr', sinks.stderr),
    end(outcome) {
      if (ended) return;
      ended = true;
      for (const stream of ['stdout', 'stderr'] as const) {
        const data = redactors[stream].flush();
        if (data !== '') emit({ type: 'log', step, stream, data });
      }
      const durationMs = Date.now() - started;
      if ('error' in outcome) {
        const error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        emit({ type: 'step-end', step, durationMs, error });
      } else {
        emit({ type: 'step-end', step, durationMs, exitCode: outcome.exitCode, ...(outcome.exitCode !== 0 ? { command: outcome.argv } : {}) });
      }
    },
  };
}
