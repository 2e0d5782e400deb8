/**
 * Go `time.Duration` text, as HEALTHCHECK flags are written (`30s`, `1m30s`, `500ms`) and as
 * BuildKit prints them in history: parsing to nanoseconds and formatting back.
 * @module
 */

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Parses a Go duration (`30s`, `1m30s`, `1.5h`, `500ms`) into nanoseconds; throws on syntax errors. */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let index = 0;
  if (text === '') throw new Error('empty duration');
  while (index < text.length) {
    re.lastIndex = index;
    const m = re.exec(text);
    if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    index = re.lastIndex;
  }
  return Math.round(total);
}

/** Formats nanoseconds like Go's `time.Duration.String()` (`1m30s`, `500ms`, `0s`). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let n = Math.abs(ns);
  if (n < 1e9) {
    const [unit, size] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    return `${sign}${trimFraction(n / (size as number))}${unit as string}`;
  }
  let out = '';
  const hours = Math.floor(n / 3600e9);
  n -= hours * 3600e9;
  const minutes = Math.floor(n / 60e9);
  n -= minutes * 60e9;
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  out += `${trimFraction(n / 1e9)}s`;
  return sign + out;
}

function trimFraction(value: number): string {
  return value.toFixed(9).replace(/\.?0+$/, '');
}
