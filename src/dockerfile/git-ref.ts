/**
 * `ADD` of a git repository: which source words name one, and what they ask for. Follows
 * BuildKit's dfgitutil.ParseGitRef: `git@host:path`, `git://` and `ssh://` URLs always, and
 * `http(s)://` URLs whose path ends in `.git` (any http(s) URL when `--keep-git-dir` is given,
 * BuildKit's TestAddKeepGitDirNonSuffixedURL); `#REF[:SUBDIR]` picks a branch, tag or commit and
 * a directory in it. Pure: fetching is the host's job.
 * @module
 */

import { DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';

/** A git source of `ADD`. */
export interface GitSource {
  /** The repository URL without the fragment. */
  remote: string;
  /** Branch, tag or commit; undefined: the remote's HEAD. */
  ref: string | undefined;
  /** Directory inside the repository to copy; undefined: the whole tree. */
  subdir: string | undefined;
}

/** Options of {@link parseGitSource}. */
export interface GitSourceOptions {
  /** `--keep-git-dir` was given (true or false): http(s) URLs without `.git` are git sources too. */
  keepGitDirGiven?: boolean;
}

/** Returns the git source a word names, or undefined when it is not one. */
export function parseGitSource(word: string, options: GitSourceOptions = {}): GitSource | undefined {
  const hash = word.indexOf('#');
  const remote = hash < 0 ? word : word.slice(0, hash);
  const fragment = hash < 0 ? '' : word.slice(hash + 1);
  let isGit = false;
  if (/^git@[^:/]+:./.test(remote) || /^(git|ssh|git\+ssh):\/\/./.test(remote)) isGit = true;
  else if (/^https?:\/\/./.test(remote)) {
    const pathPart = remote.replace(/^https?:\/\/[^/]*/, '').replace(/[?].*$/, '');
    isGit = /\.git\/?$/.test(pathPart) || options.keepGitDirGiven === true;
  }
  if (!isGit) return undefined;
  const colon = fragment.indexOf(':');
  const ref = (colon < 0 ? fragment : fragment.slice(0, colon)) || undefined;
  const subdir = colon < 0 ? undefined : fragment.slice(colon + 1).replace(/^\/+|\/+$/g, '') || undefined;
  return { remote, ref, subdir };
}

/** Rejects what BuildKit rejects around git sources (a git source in COPY). */
export function assertGitAllowed(kind: 'copy' | 'add', word: string, location: DockerfileLocation): void {
  if (kind === 'copy' && parseGitSource(word) !== undefined) {
    throw new DockerfileError(location, "source can't be a git ref for COPY");
  }
}
