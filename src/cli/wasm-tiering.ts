/**
 * WebAssembly on V8's baseline compiler only, for the commands whose only WebAssembly is undici's
 * HTTP parser (issue 15).
 *
 * undici parses HTTP/1.1 with llhttp compiled to WebAssembly. V8 runs a module on its baseline
 * compiler (Liftoff) and, once a function is hot, compiles it again with its optimising compiler
 * on another thread. For llhttp that second compile costs ~50 ms of CPU and a transient
 * 25-35 MB in every command that talks to a registry (perf: `ExecuteTurbofanWasmCompilation`
 * in a background job), and buys nothing measurable for what ocibuild asks of the parser:
 * response headers, then bodies whose length it only counts. Whether V8 tiers up is decided by
 * its flags while the code runs (a module compiled with tier-up off tiers up once the flags are
 * back, checked), so it can only be off for a whole process. The commands that compress
 * (build, append, node, s2i, warm) keep it: libdeflate needs the optimised code for anything but
 * a small layer. The commands that only move, read or sign images (copy, inspect, tags, sbom,
 * sign, verify) turn it off before anything is compiled. Measured: `ocibuild copy` of a tiny
 * image 0.19 → 0.15 s and 99 → 64 MB peak RSS; the bench's 221 MB pull 0.58 → 0.54 s and 136 →
 * 110 MB.
 *
 * The CLI owns its process; a library must not change V8's flags, so this is not in the API.
 * Only on V8 11 (Node 20), where it was measured and is tested (another V8 may name the flags
 * otherwise), and never when the user gave Node a WebAssembly or Liftoff flag.
 * @module
 */
import v8 from 'node:v8';

/** True when Node was given a WebAssembly or Liftoff V8 flag (`--liftoff-only`, `--no-wasm-tier-up`, `--wasm_tiering_budget=N`, ...). */
export function userChoseWasmFlags(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--(no-)?(liftoff|wasm)/.test(arg.replace(/_/g, '-')));
}

/**
 * Turns WebAssembly tier-up off for this process (V8 11's `--no-wasm-tier-up` and
 * `--no-wasm-dynamic-tiering`), so every module runs on the baseline compiler. True when done;
 * false on another V8, without WebAssembly, or when the user chose WebAssembly flags.
 */
export function keepWasmOnBaseline(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): boolean {
  if ((globalThis as { WebAssembly?: unknown }).WebAssembly === undefined) return false;
  if (!process.versions.v8.startsWith('11.')) return false;
  if (userChoseWasmFlags(execArgv, env.NODE_OPTIONS)) return false;
  v8.setFlagsFromString('--no-wasm-tier-up');
  v8.setFlagsFromString('--no-wasm-dynamic-tiering');
  return true;
}
