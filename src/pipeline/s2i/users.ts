/**
 * `--allowed-uids`: s2i refuses a builder whose user is not a number inside the allowed ranges
 * (root, named users and an unset user included), so that a platform can insist that builds
 * never run as root. Pure functions.
 * @module
 */
import { S2iError } from './errors.ts';

/** An inclusive range of user ids. */
export interface UidRange {
  /** First allowed id. */
  from: number;
  /** Last allowed id. */
  to: number;
}

/** Parses `N`, `N-M`, or several of them joined by commas; throws naming `--allowed-uids` otherwise. */
export function parseUidRanges(text: string): UidRange[] {
  const ranges: UidRange[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const from = m ? Number(m[1]) : NaN;
    const to = m ? Number(m[2] ?? m[1]) : NaN;
    if (!m || from > to || to > 0xffffffff) {
      throw new S2iError('ERR_INVALID_ARGUMENT', `--allowed-uids ${JSON.stringify(text)}: expected N or N-M ranges joined by commas`);
    }
    ranges.push({ from, to });
  }
  return ranges;
}

/** True when `user` (`uid` or `uid:gid`) is numeric and inside one of `ranges`; an empty user is root. */
export function isUserAllowed(user: string | undefined, ranges: readonly UidRange[]): boolean {
  const name = (user ?? '').split(':')[0] ?? '';
  if (!/^\d+$/.test(name)) return false;
  const uid = Number(name);
  return ranges.some((r) => uid >= r.from && uid <= r.to);
}

/**
 * Applies s2i's checks: the builder's user, the assemble user when one is set, and USER lines
 * of the builder's ONBUILD triggers must all be allowed. The messages follow s2i's.
 */
export function checkAllowedUsers(
  builder: string,
  ranges: readonly UidRange[],
  users: { image: string | undefined; assemble: string | undefined; onBuild: readonly string[] | undefined },
): void {
  if (!isUserAllowed(users.image, ranges)) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `image ${JSON.stringify(builder)} must specify a user that is numeric and within the range of allowed users (its user is ${JSON.stringify(users.image || 'root')})`);
  }
  if (users.assemble !== undefined && !isUserAllowed(users.assemble, ranges)) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `assemble user ${JSON.stringify(users.assemble)} must be numeric and within the range of allowed users`);
  }
  for (const trigger of users.onBuild ?? []) {
    const m = /^\s*USER\s+(\S+)/i.exec(trigger);
    if (m && !isUserAllowed(m[1], ranges)) {
      throw new S2iError('ERR_INVALID_ARGUMENT', `image ${JSON.stringify(builder)} includes at least one ONBUILD instruction that sets the user to a user that is not allowed`);
    }
  }
}
