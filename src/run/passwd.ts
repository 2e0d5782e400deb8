/**
 * The one parser of `/etc/passwd` and `/etc/group` text, shared by `RUN` (the sandbox's user),
 * `COPY --chown`, the Node preset's base users and s2i. Pure: no I/O. Malformed lines are
 * skipped as libc does (fewer fields, an empty name, a non-numeric id), and so are `#` comment
 * lines, which some hand-written files carry.
 * @module
 */

/** One /etc/passwd entry. */
export interface PasswdEntry {
  /** Login name. */
  name: string;
  /** Uid. */
  uid: number;
  /** Primary gid. */
  gid: number;
  /** Home directory. */
  home: string;
}

/** One /etc/group entry. */
export interface GroupEntry {
  /** Group name. */
  name: string;
  /** Gid. */
  gid: number;
  /** Member user names. */
  members: string[];
}

/** Ids as libc reads them: decimal digits only. */
const NUMERIC = /^[0-9]+$/;

/** Parses /etc/passwd text; malformed lines are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !NUMERIC.test(f[2] ?? '') || !NUMERIC.test(f[3] ?? '')) continue;
    out.push({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || !NUMERIC.test(f[2] ?? '')) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0] ?? '', gid: Number(f[2]), members });
  }
  return out;
}

