/**
 * The sweep of RUN scratch directories left by killed processes, apart from the executor so
 * that every build can run it without loading the sandbox.
 * @module
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { removeStaleTemps } from '../temp.ts';

/**
 * Removes the RUN scratch directories that killed processes of this user left in the places
 * `linuxExecutor` puts them (the OS temp dir, `/tmp`, and any `extra` scratch parents).
 * Best effort, never throws.
 */
export async function sweepRunScratch(...extra: string[]): Promise<void> {
  for (const dir of new Set([path.resolve(os.tmpdir()), '/tmp', ...extra.map((d) => path.resolve(d))])) {
    await removeStaleTemps(dir, 'ocibuild-run-').catch(() => []);
  }
}
