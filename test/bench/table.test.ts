/**
 * The benchmark table's harness (issue 15) cannot rot: the start-up row runs end to end on the
 * sources (one sample), prints a markdown table and valid JSON, saves where told, reads peak
 * RSS with and without /usr/bin/time, and two saved runs compare; the pure formatting computes ratios, overheads and pass/fail as documented.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compareResults, makeRow, renderMarkdown, type BenchResults } from '../../bench/lib/table-format.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('makeRow: ratio and overhead targets, the RSS bound', () => {
  const side = (seconds: number, peakRssMb = 50) => ({ name: 'x', seconds, samples: [seconds], peakRssMb });
  const ratio = makeRow('a', 'A', side(0.15), side(0.1), { kind: 'ratio', max: 1.6 });
  assert.equal(ratio.value.toFixed(2), '1.50');
  assert.equal(ratio.pass, true);
  assert.equal(makeRow('a', 'A', side(0.17), side(0.1), { kind: 'ratio', max: 1.6 }).pass, false);
  assert.equal(makeRow('a', 'A', side(1, 200), side(1), { kind: 'ratio', max: 1.0, maxRssMb: 150 }).pass, false, 'RSS over its bound fails');
  const overhead = makeRow('r', 'R', side(0.03), side(0.01), { kind: 'overhead-ms', max: 25 });
  assert.equal(Math.round(overhead.value), 20);
  assert.equal(overhead.pass, true);
  assert.equal(makeRow('r', 'R', side(Number.NaN), side(0.01), { kind: 'overhead-ms', max: 25 }).pass, false, 'no number is no pass');
});

test('the start-up row runs end to end, prints markdown and JSON, and two runs compare', async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-bench-test-'));
  try {
    const args = ['--import', 'tsx', 'bench/run.ts', '--only', 'startup', '--runs', '1', '--cli', 'src/cli/main.ts'];
    const markdown = await run(process.execPath, [...args, '--out', path.join(tmp, 'a.json')], { cwd: root });
    assert.match(markdown.stdout, /^\| metric \| ocibuild \| peak RSS \| peer \|/m);
    assert.match(markdown.stdout, /^\| CLI start-up \(`--version`\) \| [\d.]+ m?s \| \d+ MB \| node -e 0 \| [\d.]+ m?s \| \d+ MB \| [\d.]+x \| ≤ 1\.6x \| (pass|\*\*FAIL\*\*) \|$/m);
    // This run reads peak RSS by polling /proc instead of /usr/bin/time.
    const json = await run(process.execPath, [...args, '--json', '--out', path.join(tmp, 'b.json')], { cwd: root, env: { ...process.env, BENCH_NO_TIME: '1' } });
    const parsed = JSON.parse(json.stdout) as BenchResults;
    assert.equal(parsed.version, 1);
    assert.deepEqual(parsed.rows.map((r) => r.id), ['startup']);
    assert.equal(parsed.rows[0]!.ocibuild.samples.length, 5, 'start-up takes 5 samples per run');
    assert.ok(parsed.rows[0]!.ocibuild.seconds > 0 && parsed.rows[0]!.peer.seconds > 0);
    assert.ok(parsed.rows[0]!.ocibuild.peakRssMb > 20, `a Node process's peak RSS, polled: ${parsed.rows[0]!.ocibuild.peakRssMb}`);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(tmp, 'b.json'), 'utf8')), parsed, 'the saved file is the printed JSON');
    const compared = await run(process.execPath, ['--import', 'tsx', 'bench/compare.ts', path.join(tmp, 'a.json'), path.join(tmp, 'b.json')], { cwd: root });
    assert.match(compared.stdout, /^\| CLI start-up \(`--version`\) \| [\d.]+x \| [\d.]+x \| -?\d+% \|/m);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test('compareResults marks a row that got more than 10% worse, and rows only in one run', () => {
  const side = (seconds: number) => ({ name: 'x', seconds, samples: [seconds], peakRssMb: 40 });
  const machine = { cpus: 2, cpuModel: 'cpu', memoryGb: 8, node: 'v20', kernel: '6', loadStart: 0, loadEnd: 0 };
  const a: BenchResults = { version: 1, date: '2026-12-01T00:00:00Z', runs: 3, quick: false, machine, rows: [makeRow('s', 'S', side(0.1), side(0.1), { kind: 'ratio', max: 1.6 })] };
  const b: BenchResults = {
    ...a,
    rows: [makeRow('s', 'S', side(0.13), side(0.1), { kind: 'ratio', max: 1.6 }), makeRow('n', 'N', side(1), side(1), { kind: 'ratio', max: 2 })],
  };
  const text = compareResults(a, b);
  assert.match(text, /^\| S \| 1\.00x \| 1\.30x \| 30% \|.*\| worse \|$/m);
  assert.match(text, /^\| N \| - \| 1\.00x \|.*only in B \|$/m);
  assert.match(renderMarkdown(b), /\| S \| 130 ms \| 40 MB \| x \| 100 ms \| 40 MB \| 1\.30x \| ≤ 1\.6x \| pass \|/);
});
