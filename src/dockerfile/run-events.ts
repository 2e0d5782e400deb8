/**
 * Live events of RUN steps: start, each chunk of output as it arrives, end. The build forwards
 * them to `onEvent`, so the CLI (or an embedding tool) can show a slow `RUN npm ci` while it runs
 * and the whole output of a failed one, not only the tail kept for the error message.
 * @module
 */
import { formatPlatform } from '../oci/platform.ts';
import type { OutputSink } from '../run/types.ts';
import type { RunInstruction } from './instructions.ts';
import type { StageState } from './interpret-state.ts';
import type { ResolvedStage, StageGraph } from './stages.ts';

/** A step started: a RUN, or a layer of a files build (`append`, `node`), which may take a while to compress. */
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

/** A chunk of a running step's output, decoded as UTF-8 (a multi-byte character is never split). */
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

/** Events of build steps: start, live output (RUN), end. */
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

/** BuildKit's `[stage i/n]` counter: FROM is 1, then each layer instruction (RUN, COPY, ADD, WORKDIR). */
export function stepName(graph: StageGraph | undefined, state: StageState, instruction: RunInstruction): string {
  const text = instruction.node.original.replace(/\s+/g, ' ').trim();
  const stage = graph?.stages[state.index] as ResolvedStage | undefined;
  if (stage === undefined) return text;
  const layered = stage.instructions.filter((i) => i.kind === 'run' || i.kind === 'copy' || i.kind === 'add' || i.kind === 'workdir');
  const at = layered.indexOf(instruction);
  const named = graph !== undefined && graph.stages.length > 1 ? `${stage.name ?? `stage-${state.index}`} ` : '';
  return at < 0 ? text : `[${named}${at + 2}/${layered.length + 1}] ${text}`;
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
): StepObserver {
  const line = instruction.location.line;
  const platform = formatPlatform(state.platform);
  const step = `${platform} ${state.index}:${line}`;
  const started = Date.now();
  emit({ type: 'step-start', step, name: stepName(graph, state, instruction), platform, stage: state.index });
  const sink = (stream: 'stdout' | 'stderr', own: OutputSink | undefined): OutputSink => {
    // One decoder per stream keeps a UTF-8 sequence split across chunks whole.
    const decoder = new TextDecoder();
    return (chunk) => {
      own?.(chunk);
      const data = decoder.decode(chunk, { stream: true });
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
