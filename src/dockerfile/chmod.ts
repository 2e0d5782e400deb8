/**
 * `COPY`/`ADD --chmod`: an octal mode (`0755`) or, since Dockerfile syntax 1.14, a symbolic
 * one in chmod(1) form (`u+x,go-w`, `a=rX`, `g=u`). BuildKit parses the symbolic form with a
 * fork of github.com/dchapes/mode and applies it to every copied file and directory, starting
 * from each node's own mode; this module does the same without touching the file system.
 * @module
 */

/** A parsed `--chmod` value. */
export type ChmodSpec =
  | { kind: 'octal'; mode: number; text: string }
  | { kind: 'symbolic'; clauses: ChmodClause[]; text: string };

/** One `who op perms` action of a symbolic mode. */
export interface ChmodClause {
  /** Bits of the classes named by who (`u` 0o4700, `g` 0o2070, `o` 0o1007); none given means all. */
  who: number;
  /** `+` adds, `-` removes, `=` sets. */
  op: '+' | '-' | '=';
  /** Permission letters (`rwxXst`) or a class to copy from (`u`, `g`, `o`). */
  perms: string;
}

const WHO_BITS: Readonly<Record<string, number>> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/** Thrown (as a plain Error) for a value that is neither octal nor a valid symbolic mode. */
function invalid(text: string): Error {
  return new Error(`invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`);
}

/**
 * Parses a `--chmod` value. Numeric-looking values must be octal and at most 07777, with
 * BuildKit's message otherwise; anything else must be a symbolic mode. Throws an Error whose
 * message names the value.
 */
export function parseChmodSpec(text: string): ChmodSpec {
  // A value starting with a digit is read as octal (dchapes/mode does the same), so BuildKit's
  // "should be octal" message covers '64a' too.
  if (/^\d/.test(text)) {
    if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o7777) throw invalid(text);
    return { kind: 'octal', mode: parseInt(text, 8), text };
  }
  const clauses: ChmodClause[] = [];
  for (const part of text.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/.exec(part);
    if (!m) throw new Error(`invalid chmod parameter: '${text}': ${part === '' ? 'empty clause' : `cannot parse '${part}'`}`);
    const whoText = m[1] as string;
    let who = 0;
    for (const c of whoText) who |= WHO_BITS[c] as number;
    if (whoText === '') who = WHO_BITS.a as number;
    for (const action of (m[2] as string).matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
      clauses.push({ who, op: action[1] as ChmodClause['op'], perms: action[2] as string });
    }
  }
  return { kind: 'symbolic', clauses, text };
}

/** The bits of `mode` for class `c` copied into every class (`g=u` copies the user's rwx). */
function classBits(mode: number, c: string): number {
  const shift = c === 'u' ? 6 : c === 'g' ? 3 : 0;
  const rwx = (mode >> shift) & 0o7;
  return (rwx << 6) | (rwx << 3) | rwx;
}

/**
 * Applies `spec` to a node whose current permission bits are `mode`: an octal spec replaces
 * them; a symbolic one edits them clause by clause (`X` adds execute only to directories and
 * to files that already have an execute bit, as chmod(1) does).
 */
export function applyChmod(spec: ChmodSpec, mode: number, isDirectory: boolean): number {
  if (spec.kind === 'octal') return spec.mode;
  let out = mode & 0o7777;
  for (const { who, op, perms } of spec.clauses) {
    let bits = 0;
    if (perms === 'u' || perms === 'g' || perms === 'o') bits = classBits(out, perms) & 0o777;
    else {
      for (const p of perms) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') bits |= isDirectory || (out & 0o111) !== 0 ? 0o111 : 0;
        else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
      }
    }
    bits &= who;
    if (op === '+') out |= bits;
    else if (op === '-') out &= ~bits;
    else out = (out & ~who) | bits;
  }
  return out & 0o7777;
}

/** The mode of a directory COPY makes itself (destination, parents): 0755 edited by `spec`. */
export function createdDirectoryMode(spec: ChmodSpec | undefined): number {
  return spec === undefined ? 0o755 : applyChmod(spec, 0o755, true);
}
