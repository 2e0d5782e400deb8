/**
 * Benchmark dispatcher: `npm run bench` (or `npm run bench -- --runs 5 --json ...`) runs the
 * table of every target against its peer (bench/table.ts); `npm run bench -- NAME [ARGS...]`
 * runs `bench/NAME.ts` in this process with ARGS left in `process.argv`; `npm run bench -- list`
 * lists them.
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

const given = process.argv[2];
const name = given === undefined || given.startsWith('-') ? 'table' : given;
if (!available.includes(name)) {
  if (name !== 'list') console.error(`unknown benchmark ${JSON.stringify(name)}`);
  console.error(`usage: npm run bench [-- --runs N --quick --json --only ID,...]\n       npm run bench -- NAME [--quick]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name === 'list' ? 0 : 2);
}
// Leave the benchmark's own arguments where it expects them: process.argv.slice(2).
if (name === given) process.argv.splice(2, 1);
await import(pathToFileURL(`${here}/${name}.ts`).href);
