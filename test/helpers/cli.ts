/**
 * Runs the `ocibuild` CLI from source (`src/cli/main.ts` under tsx) as a child process, the way
 * the CLI tests drive it, and collects its exit code and output.
 * @module
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder, the CLI's working directory in tests. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The CLI's entry point, run with `node --import tsx`. */
export const cliMain = path.join(repoRoot, 'src/cli/main.ts');

/** What a CLI run left: its exit code (null when killed by a signal) and all it printed. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args` in {@link repoRoot}; `env` is its whole environment (default: this process's). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliMain, ...args], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
