/**
 * undici's HTTP parser kept on V8's baseline WebAssembly code (issue 15).
 *
 * undici parses HTTP/1.1 with llhttp compiled to WebAssembly. V8 runs a module on its baseline
 * compiler (Liftoff) and, once a function has spent its tiering budget, compiles it again with
 * its optimising compiler on another thread. For llhttp's parser function that compile takes
 * ~57 ms of CPU and ~29 MB of compiler memory (`--trace-wasm-compilation-times`) in every command
 * that talks to a registry, and buys nothing measurable for what ocibuild asks of the parser:
 * response headers, then bodies whose length it only counts. Two ways out, per command:
 * - The commands that compress nothing (copy, inspect, tags, sbom, sign, verify,
 *   generate-key-pair) turn WebAssembly tier-up off for the process before anything compiles.
 *   Tier-up is decided by the flags while code runs (a module compiled with it off tiers up once
 *   they are back), so this is for the whole process: {@link keepWasmOnBaseline}.
 * - The commands that compress (build, append, node, s2i, warm) need tier-up for libdeflate. A
 *   module's tiering budget, though, is fixed when it is compiled, so undici's parser is compiled
 *   and instantiated first, with a budget it never spends, and the default is set back at once:
 *   {@link instantiateHttpParserWithoutTierUp}.
 *
 * Measured: `ocibuild copy` of a tiny image 0.19 → 0.14 s and 99 → 63 MB peak RSS; the bench's
 * 221 MB pull 0.57 → 0.51 s and 125 → 108 MB; the one-file rebuild 0.375 → 0.34 s, 0.43 →
 * 0.38 s of CPU and ~104 → ~88 MB; the cold build's peak 148-153 → 137-141 MB in the same time.
 *
 * The CLI owns its process; a library must not change V8's flags, so this is not in the API.
 * Only on V8 11 (Node 20), where it was measured and is tested (another V8 may name or tie the
 * flags otherwise), and never when the user gave Node a WebAssembly or Liftoff flag.
 * @module
 */
import v8 from 'node:v8';

/** True when Node was given a WebAssembly or Liftoff V8 flag (`--liftoff-only`, `--no-wasm-tier-up`, `--wasm_tiering_budget=N`, ...). */
export function userChoseWasmFlags(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--(no-)?(liftoff|wasm)/.test(arg.replace(/_/g, '-')));
}

/** True when this process's WebAssembly tiering may be changed: WebAssembly present, V8 11, no WebAssembly flag of the user's. */
function mayTune(execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return (globalThis as { WebAssembly?: unknown }).WebAssembly !== undefined && process.versions.v8.startsWith('11.') && !userChoseWasmFlags(execArgv, env.NODE_OPTIONS);
}

/**
 * Turns WebAssembly tier-up off for this process (V8 11's `--no-wasm-tier-up` and
 * `--no-wasm-dynamic-tiering`), so every module runs on the baseline compiler. True when done;
 * false on another V8, without WebAssembly, or when the user chose WebAssembly flags.
 */
export function keepWasmOnBaseline(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!mayTune(execArgv, env)) return false;
  v8.setFlagsFromString('--no-wasm-tier-up');
  v8.setFlagsFromString('--no-wasm-dynamic-tiering');
  return true;
}

/** V8 11's default `--wasm-tiering-budget` (`node --v8-options`). */
const DEFAULT_TIERING_BUDGET = 1_800_000;

/**
 * For the commands that compress (their libdeflate needs tier-up): undici's HTTP parser is
 * compiled and instantiated now, with a tiering budget it never spends in a command's life (V8
 * fixes a module's budget when it compiles it), and the default budget is set back at once, so
 * every module compiled later tiers up as usual. undici keeps one parser instance per process;
 * its `connectH1` (undici is pinned exactly) makes it before it looks at the socket, here a dummy
 * it then refuses. True when done.
 */
export async function instantiateHttpParserWithoutTierUp(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!mayTune(execArgv, env)) return false;
  const connectH1 = (await import('undici/lib/dispatcher/client-h1.js')).default as (client: object, socket: object) => unknown;
  v8.setFlagsFromString('--wasm-tiering-budget=2000000000');
  try {
    // undici's connectH1 instantiates its one llhttp instance first, then refuses the errored socket.
    connectH1({}, { errored: new Error('not a socket') });
  } catch {
    // Expected.
  } finally {
    v8.setFlagsFromString(`--wasm-tiering-budget=${DEFAULT_TIERING_BUDGET}`);
  }
  return true;
}
