/**
 * `ADD` of a git repository: which source words name one, and what they ask for. Follows
 * BuildKit's dfgitutil.ParseGitRef: `git@host:path`, `git://` and `ssh://` URLs always, and
 * `http(s)://` URLs whose path ends in `.git` (any http(s) URL when `--keep-git-dir` is given,
 * BuildKit's TestAddKeepGitDirNonSuffixedURL). The old form `#REF[:SUBDIR]` and the query form
 * `?ref=|branch=|tag=|commit=&subdir=&keep-git-dir=&checksum=` (testGitQueryString) pick a
 * branch, tag or commit and a directory in it. Pure: fetching is the host's job.
 * @module
 */

import { DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';

/** A git source of `ADD`. */
export interface GitSource {
  /** The repository URL without query and fragment. */
  remote: string;
  /** Branch, tag (or `refs/...`) or commit id; undefined: the remote's HEAD. */
  ref: string | undefined;
  /** Directory inside the repository to copy; undefined: the whole tree. */
  subdir: string | undefined;
  /** True when the ref is a commit id (`?commit=`), which may be abbreviated. */
  commit?: boolean;
  /** Commit id the checkout must have (`?commit=` beside a ref, or `?checksum=`). */
  checksum?: string;
  /** `?keep-git-dir=` when given. */
  keepGitDir?: boolean;
  /** `?submodules=false` turns submodule checkout off. */
  submodules?: boolean;
  /** Why the word is an invalid git source (conflicting refs), reported by the caller with its line. */
  invalid?: string;
}

/** Options of {@link parseGitSource}. */
export interface GitSourceOptions {
  /** `--keep-git-dir` was given (true or false): http(s) URLs without `.git` are git sources too. */
  keepGitDirGiven?: boolean;
}

const HEX = /^[0-9a-f]{4,64}$/i;

/** `v1`, `refs/tags/v1` and `?tag=v1` name the same ref; compare them in one spelling. */
function sameRef(a: string, b: string): boolean {
  const strip = (r: string) => r.replace(/^refs\/(heads|tags)\//, '');
  return a === b || strip(a) === strip(b);
}

/**
 * Returns the git source a word names, or undefined when it is not one. Conflicting refs in the
 * query and the fragment set `invalid` (BuildKit's wording) instead of throwing.
 */
export function parseGitSource(word: string, options: GitSourceOptions = {}): GitSource | undefined {
  const hash = word.indexOf('#');
  const withQuery = hash < 0 ? word : word.slice(0, hash);
  const fragment = hash < 0 ? '' : word.slice(hash + 1);
  const q = withQuery.indexOf('?');
  const remote = q < 0 ? withQuery : withQuery.slice(0, q);
  let isGit = false;
  if (/^git@[^:/]+:./.test(remote) || /^(git|ssh|git\+ssh):\/\/./.test(remote)) isGit = true;
  else if (/^https?:\/\/./.test(remote)) {
    const pathPart = remote.replace(/^https?:\/\/[^/]*/, '');
    isGit = /\.git\/?$/.test(pathPart) || options.keepGitDirGiven === true;
  }
  if (!isGit) return undefined;
  const colon = fragment.indexOf(':');
  let ref = (colon < 0 ? fragment : fragment.slice(0, colon)) || undefined;
  let subdir = colon < 0 ? undefined : fragment.slice(colon + 1) || undefined;
  const source: GitSource = { remote, ref: undefined, subdir: undefined };
  if (q >= 0) {
    const params = new URLSearchParams(withQuery.slice(q + 1));
    const named = [params.get('ref'), params.get('branch') !== null ? `refs/heads/${params.get('branch')}` : null, params.get('tag') !== null ? `refs/tags/${params.get('tag')}` : null].filter(
      (r): r is string => r !== null && r !== '',
    );
    if (named.length > 1) source.invalid = `ref conflicts: ${named.join(' vs ')}`;
    const queryRef = named[0];
    if (queryRef !== undefined && ref !== undefined && !sameRef(queryRef, ref)) source.invalid = `ref conflicts: ${queryRef} vs ${ref}`;
    ref = queryRef ?? ref;
    const commit = params.get('commit');
    if (commit) {
      if (ref === undefined) {
        ref = commit;
        source.commit = true;
      } else source.checksum = commit;
    }
    const checksum = params.get('checksum');
    if (checksum) source.checksum = checksum;
    subdir = params.get('subdir') || subdir;
    const submodules = params.get('submodules');
    if (submodules !== null) source.submodules = !(submodules === 'false' || submodules === '0');
    const keep = params.get('keep-git-dir');
    if (keep !== null) source.keepGitDir = keep === '' || keep === 'true' || keep === '1';
  }
  source.ref = ref;
  source.subdir = subdir?.replace(/^\/+|\/+$/g, '') || undefined;
  if (ref !== undefined && /^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(ref)) source.commit = true;
  return source;
}

/** Checks a `--checksum` for a git source: a (possibly abbreviated) hex commit id. */
export function assertGitChecksum(checksum: string, location: DockerfileLocation): void {
  if (!HEX.test(checksum)) throw new DockerfileError(location, `invalid checksum ${checksum}: expected hex commit hash`);
}

/** Rejects what BuildKit rejects around git sources (a git source in COPY). */
export function assertGitAllowed(kind: 'copy' | 'add', word: string, location: DockerfileLocation): void {
  if (kind === 'copy' && parseGitSource(word) !== undefined) {
    throw new DockerfileError(location, "source can't be a git ref for COPY");
  }
}
