/**
 * Finding the processes of one test's sandbox by a marker in their command lines: a random
 * nine-digit number (a valid `sleep` time), matched as a whole word, so that the digits of
 * another test's processes running alongside (a launcher's mtime stamps, ids, paths) are not
 * taken for it, as a four- or five-digit marker found inside a timestamp once was.
 */
import * as fs from 'node:fs';

/** A fresh marker: nine digits. */
export function newMarker(): string {
  return String(100_000_000 + Math.floor(Math.random() * 899_999_999));
}

/** A process whose command line holds the marker. */
export interface MarkedProcess {
  pid: string;
  /** The first three words of its command line. */
  argv: string;
  /** State and parent pid (`S ppid 1`), when readable. */
  state?: string;
  /** Where it waits in the kernel, when readable. */
  wchan?: string;
}

/** The processes whose command line holds `marker` as a word, except those that also hold `except`. */
export function processesWith(marker: string, except?: string): MarkedProcess[] {
  const word = new RegExp(`(^|[^0-9])${marker}([^0-9]|$)`);
  const out: MarkedProcess[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!word.test(argv) || (except !== undefined && argv.includes(except))) continue;
      out.push({ pid, argv: argv.split('\0').slice(0, 3).join(' '), ...why(pid) });
    } catch {
      // Gone already.
    }
  }
  return out;
}

function why(pid: string): { state?: string; wchan?: string } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: `${fields[0]} ppid ${fields[1]}`, wchan: fs.readFileSync(`/proc/${pid}/wchan`, 'utf8') };
  } catch {
    return {};
  }
}
