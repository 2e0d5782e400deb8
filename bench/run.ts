/**
 * Benchmark dispatcher: `npm run bench -- NAME [ARGS...]` runs `bench/NAME.ts` in this process
 * with ARGS left in `process.argv`. Without NAME it lists the benchmarks.
 * @module
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();

const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  if (name !== undefined) console.error(`unknown benchmark ${JSON.stringify(name)}`);
  console.error(`usage: npm run bench -- NAME [--quick]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name === undefined ? 0 : 2);
}
// Leave the benchmark's own arguments where it expects them: process.argv.slice(2).
process.argv.splice(2, 1);
await import(pathToFileURL(`${here}/${name}.ts`).href);
