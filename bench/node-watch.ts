/**
 * Benchmark: one-file rebuilds of `ocibuild node --watch` on the bench app (~40 MB / ~3,000-file
 * node_modules, 200 source files, as bench/node-app.ts generates it), writing to an `oci:`
 * target on scratch with the local cache on. Prints each rebuild's time as the watcher reports
 * it (`durationMs`: the whole rebuild, from the debounced change to the written layout) and the
 * median of 5.
 *
 * Run: `npm run bench -- node-watch` (`--quick`: ~10x smaller app; `TRACE=1` prints each build
 * event with its time).
 * @module
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import path from 'node:path';
import { makeTree, prng, textLike } from './lib/data.ts';
import { watchNodeApp, type WatchEvent } from '../src/index.ts';

const QUICK = process.argv.includes('--quick');
const ROUNDS = 5;
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-bench-watch-'));
try {
  const app = path.join(tmp, 'app');
  await makeTree(app, { files: QUICK ? 300 : 3000, bytes: QUICK ? 4_000_000 : 40_000_000 });
  const dependencies: Record<string, string> = {};
  const packages: Record<string, unknown> = { '': { name: 'bench-app', version: '1.0.0', dependencies } };
  for (const name of await fs.readdir(path.join(app, 'node_modules'))) {
    dependencies[name] = '1.0.0';
    packages[`node_modules/${name}`] = { version: '1.0.0' };
    await fs.writeFile(path.join(app, 'node_modules', name, 'package.json'), JSON.stringify({ name, version: '1.0.0' }));
  }
  await fs.writeFile(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'bench-app', lockfileVersion: 3, requires: true, packages }));
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', main: 'src/index.js', dependencies }));
  const rand = prng(9);
  await fs.mkdir(path.join(app, 'src'));
  for (let i = 0; i < 200; i++) await fs.writeFile(path.join(app, 'src', i === 0 ? 'index.js' : `m${i}.js`), textLike(2000 + Math.floor(rand() * 6000), rand));

  const events: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  const next = async (count: number): Promise<WatchEvent> => {
    while (events.length < count) await new Promise<void>((resolve) => (wake = resolve));
    const event = events[count - 1] as WatchEvent;
    if (event.type === 'failed') throw event.error;
    return event;
  };
  const stop = new AbortController();
  const watching = watchNodeApp(app, { from: 'scratch', to: `oci:${path.join(tmp, 'out')}:dev`, cache: { dir: path.join(tmp, 'cache') }, debounceMs: 50, signal: stop.signal, ...(process.env.TRACE ? { onEvent: (e: { type: string }) => console.log(performance.now().toFixed(0), e.type, JSON.stringify(e).slice(0, 150)) } : {}) }, (event) => {
    events.push(event);
    wake?.();
  });
  const first = await next(1);
  console.log(`first build: ${first.type === 'built' ? first.durationMs.toFixed(0) : '?'} ms`);
  const times: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fs.appendFile(path.join(app, 'src', 'm7.js'), `\n// edit ${round}\n`);
    const event = await next(round + 1);
    if (event.type !== 'built') throw new Error('failed');
    times.push(event.durationMs);
    console.log(`rebuild ${round}: ${event.durationMs.toFixed(0)} ms (layers built ${event.result.stats.layersBuilt}, cached ${event.result.stats.layersCached})`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`median of ${ROUNDS} one-file rebuilds: ${(sorted[Math.floor(ROUNDS / 2)] as number).toFixed(0)} ms`);
  stop.abort();
  await watching;
} finally {
  await fs.rm(tmp, { recursive: true, force: true });
}
