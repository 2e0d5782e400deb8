/**
 * Compares two saved benchmark runs: `npm run bench:compare A.json B.json` prints, per row, the
 * ratio (or overhead) and ocibuild's time and peak RSS in A and in B, and marks rows that got
 * more than 10% worse. Without arguments it compares the two newest files in bench/results/.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/measure.ts';
import { compareResults, type BenchResults } from './lib/table-format.ts';

let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = path.join(ROOT, 'bench/results');
  files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .slice(-2)
    .map((f) => path.join(dir, f));
}
if (files.length !== 2) {
  console.error('usage: npm run bench:compare A.json B.json (or two saved runs in bench/results/)');
  process.exit(2);
}
const read = (file: string): BenchResults => {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  if (parsed.version !== 1 || !Array.isArray(parsed.rows)) throw new Error(`${file}: not a bench/table.ts result (version 1)`);
  return parsed;
};
console.log(`A = ${files[0]}\nB = ${files[1]}\n`);
console.log(compareResults(read(files[0]!), read(files[1]!)));
