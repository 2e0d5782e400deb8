/**
 * The benchmark table as data (issue 15): one row per comparison, ocibuild and its peer measured
 * in the same run as whole processes, the ratio against its target; rendered as markdown, kept
 * as JSON under bench/results/, and two JSON files compared. Pure: no processes, no disk.
 * @module
 */

/** One side of a comparison: median seconds of the samples and the peak RSS of all of them. */
export interface Side {
  /** What ran (`ocibuild --version`, `node -e 0`). */
  name: string;
  /** Median wall seconds of the whole process. */
  seconds: number;
  /** Every sample, in order. */
  samples: number[];
  /** Largest peak RSS of the samples, MB (NaN when unknown). */
  peakRssMb: number;
}

/** The target of a row: a ratio ocibuild/peer, or milliseconds of overhead over the peer. */
export interface Target {
  /** `ratio`: ocibuild seconds / peer seconds; `overhead-ms`: (ocibuild - peer) in ms. */
  kind: 'ratio' | 'overhead-ms';
  /** The largest value that passes. */
  max: number;
  /** ocibuild's peak RSS must stay under this too, when given (MB). */
  maxRssMb?: number;
}

/** One comparison. */
export interface Row {
  /** Stable id (`startup`, `copy-push`), the key {@link compareResults} matches on. */
  id: string;
  /** What is measured, as the table shows it. */
  metric: string;
  /** ocibuild's side. */
  ocibuild: Side;
  /** The peer's side. */
  peer: Side;
  /** The target. */
  target: Target;
  /** ratio or overhead in ms, by the target's kind. */
  value: number;
  /** Whether value (and RSS, when bounded) meet the target. */
  pass: boolean;
  /** Anything a reader needs to read the row right (data size, how the value is derived). */
  note?: string;
}

/** A whole run, as saved in bench/results/DATE.json. */
export interface BenchResults {
  /** Format version of this file. */
  version: 1;
  /** ISO time the run started. */
  date: string;
  /** Samples per side (the start-up row takes 5x as many). */
  runs: number;
  /** True for `--quick` (small data: not comparable with a full run). */
  quick: boolean;
  /** The machine: CPUs, memory, Node, kernel, load average at start and end. */
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; kernel: string; loadStart: number; loadEnd: number };
  /** The rows, in table order. */
  rows: Row[];
}

/** Builds a row from both sides, computing the value and pass/fail. */
export function makeRow(id: string, metric: string, ocibuild: Side, peer: Side, target: Target, note?: string): Row {
  const value = target.kind === 'ratio' ? ocibuild.seconds / peer.seconds : (ocibuild.seconds - peer.seconds) * 1000;
  const rssOk = target.maxRssMb === undefined || !(ocibuild.peakRssMb > target.maxRssMb);
  const pass = Number.isFinite(value) && value <= target.max && rssOk;
  return { id, metric, ocibuild, peer, target, value, pass, ...(note === undefined ? {} : { note }) };
}

/** The median of `values` (NaN for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Escapes a table cell's pipes (a peer like `tar | gzip`). */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function seconds(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
}

function rss(mb: number): string {
  return Number.isFinite(mb) ? `${mb.toFixed(0)} MB` : 'n/a';
}

function formatValue(row: Pick<Row, 'value' | 'target'>): string {
  return row.target.kind === 'ratio' ? `${row.value.toFixed(2)}x` : `${row.value >= 0 ? '+' : ''}${row.value.toFixed(0)} ms`;
}

function formatTarget(target: Target): string {
  const main = target.kind === 'ratio' ? `≤ ${target.max}x` : `≤ +${target.max} ms`;
  return target.maxRssMb === undefined ? main : `${main}, ≤ ${target.maxRssMb} MB`;
}

/** The markdown table of a run, with a line describing the machine and the load. */
export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    `${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb.toFixed(0)} GB, Node ${m.node}, Linux ${m.kernel}; load ${m.loadStart.toFixed(2)} → ${m.loadEnd.toFixed(2)}; ` +
      `median of ${results.runs} (start-up: ${results.runs * 5})${results.quick ? '; QUICK (small data)' : ''}; ${results.date.slice(0, 10)}`,
    '',
    '| metric | ocibuild | peak RSS | peer | peer time | peer RSS | ratio | target | |',
    '|---|---:|---:|---|---:|---:|---:|---|---|',
  ];
  for (const r of results.rows) {
    lines.push(
      `| ${cell(r.metric)} | ${seconds(r.ocibuild.seconds)} | ${rss(r.ocibuild.peakRssMb)} | ${cell(r.peer.name)} | ${seconds(r.peer.seconds)} | ${rss(r.peer.peakRssMb)} | ` +
        `${formatValue(r)} | ${formatTarget(r.target)} | ${r.pass ? 'pass' : '**FAIL**'} |`,
    );
  }
  const notes = results.rows.filter((r) => r.note !== undefined);
  if (notes.length > 0) lines.push('', ...notes.map((r) => `- ${r.metric}: ${r.note}`));
  return lines.join('\n');
}

/**
 * The differences between two runs, as a markdown table: per row id present in either, the
 * value and ocibuild's time and peak RSS in A and B, and the change. Rows whose ratio or
 * overhead got more than 10% worse are marked `worse`.
 */
export function compareResults(a: BenchResults, b: BenchResults): string {
  const ids = [...new Set([...a.rows.map((r) => r.id), ...b.rows.map((r) => r.id)])];
  const lines = [
    `A: ${a.date}${a.quick ? ' (quick)' : ''}, load ${a.machine.loadStart.toFixed(2)}; B: ${b.date}${b.quick ? ' (quick)' : ''}, load ${b.machine.loadStart.toFixed(2)}`,
    '',
    '| metric | A ratio | B ratio | change | A ocibuild | B ocibuild | A RSS | B RSS | |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const id of ids) {
    const ra = a.rows.find((r) => r.id === id);
    const rb = b.rows.find((r) => r.id === id);
    const metric = cell((rb ?? ra)!.metric);
    if (ra === undefined || rb === undefined) {
      lines.push(`| ${metric} | ${ra ? formatValue(ra) : '-'} | ${rb ? formatValue(rb) : '-'} | | | | | | ${ra ? 'only in A' : 'only in B'} |`);
      continue;
    }
    const change = ra.target.kind === 'ratio' ? `${(((rb.value - ra.value) / ra.value) * 100).toFixed(0)}%` : `${(rb.value - ra.value).toFixed(0)} ms`;
    const worse = ra.target.kind === 'ratio' ? rb.value > ra.value * 1.1 : rb.value - ra.value > Math.max(5, Math.abs(ra.value) * 0.1);
    const verdict = worse ? 'worse' : rb.pass !== ra.pass ? (rb.pass ? 'now passes' : 'now fails') : '';
    lines.push(
      `| ${metric} | ${formatValue(ra)} | ${formatValue(rb)} | ${change} | ${seconds(ra.ocibuild.seconds)} | ${seconds(rb.ocibuild.seconds)} | ` +
        `${rss(ra.ocibuild.peakRssMb)} | ${rss(rb.ocibuild.peakRssMb)} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}
