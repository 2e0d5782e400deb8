/**
 * The layer-producing instructions other than RUN: COPY, ADD and WORKDIR. Words are expanded
 * with the stage's variables, `--chown` names are resolved in the stage's own /etc/passwd and
 * /etc/group, and the history text matches BuildKit's (`COPY --chown=app src /dst # buildkit`).
 * @module
 */

import * as path from 'node:path';
import { DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import type { LayerEntry } from '../layer/types.ts';
import { parseGroup, parsePasswd } from '../run/passwd.ts';
import { chompHeredocContent } from './parse-heredoc.ts';
import { expandWord } from './shell.ts';
import { parseChmodSpec, type ChmodSpec } from './chmod.ts';
import type { CopyInstruction, WordInstruction } from './instructions.ts';
import { expandAt } from './stages.ts';
import { StageFilesystem } from './interpret-fs.ts';
import type { StageState } from './interpret-state.ts';
import { addLayer, expansionEnv } from './interpret-state.ts';
import { collectContextSources, collectFsSources, fsEntriesOf, placeItems } from './copy.ts';
import type { ContextSource, CopyItem } from './copy.ts';
import { archiveItem, downloadItem, isUrlSource } from './copy-archive.ts';
import { assertGitAllowed, assertGitChecksum, parseGitSource } from './git-ref.ts';
import { UnsupportedError } from '../errors.ts';

/** What a `COPY --from` reads: another stage's or an image's files, or a named directory context. */
export type CopyFromSource = { fs: StageFilesystem } | { context: ContextSource } | undefined;

/**
 * Resolves `user[:group]` to ids using the stage's /etc/passwd and /etc/group: a user name
 * takes its primary group, a numeric uid without group uses the same number as gid, an empty
 * user (`:group`) is uid 0 (BuildKit).
 */
export async function resolveOwner(spec: string, fs: StageFilesystem, location: DockerfileLocation): Promise<{ uid: number; gid: number }> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  let uid: number;
  let gid: number;
  if (user === '') {
    // `--chown=:group`: BuildKit's empty user name is uid 0 (llb's UserOpt marshals it as id 0).
    uid = 0;
    gid = 0;
  } else if (/^\d+$/.test(user)) {
    uid = Number(user);
    gid = uid;
  } else {
    const passwd = parsePasswd((await fs.readText('etc/passwd')) ?? '');
    const entry = passwd.find((p) => p.name === user);
    if (!entry) throw new DockerfileError(location, `unable to find user ${user}: no matching entries in passwd file`);
    uid = entry.uid;
    gid = entry.gid;
  }
  if (group !== undefined && group !== '') {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const groups = parseGroup((await fs.readText('etc/group')) ?? '');
      const entry = groups.find((g) => g.name === group);
      if (!entry) throw new DockerfileError(location, `unable to find group ${group}: no matching entries in group file`);
      gid = entry.gid;
    }
  }
  return { uid, gid };
}

/** Parses `--chmod` (octal up to 07777, or symbolic as BuildKit 1.14 accepts), naming the line on error. */
export function parseChmod(text: string, location: DockerfileLocation): ChmodSpec {
  try {
    return parseChmodSpec(text);
  } catch (error) {
    throw new DockerfileError(location, (error as Error).message, { cause: error });
  }
}

/**
 * Joins a destination with the working directory, keeping a trailing `/` (it means
 * "directory"). An empty destination (`COPY f $unset`) is the working directory itself, as
 * `.` is (BuildKit's pathRelativeToWorkingDir turns both into `./`; testCopyLinkEmptyDestDir).
 */
export function destinationPath(dest: string, workingDir: string | undefined): string {
  const trailing = dest === '' || dest.endsWith('/') || dest === '.' || dest.endsWith('/.') || dest === '..' || dest.endsWith('/..');
  const joined = path.posix.resolve('/', dest.startsWith('/') ? dest : path.posix.join(workingDir || '/', dest));
  return trailing && joined !== '/' ? `${joined}/` : joined;
}

/** Applies a COPY or ADD: collects sources, writes one layer, records history. */
export async function applyCopy(state: StageState, i: CopyInstruction, from: CopyFromSource): Promise<void> {
  const host = state.host;
  const env = expansionEnv(state);
  const expand = (w: string) => expandAt(w, env, host.escape, i.location);
  const what = i.kind.toUpperCase();
  if (i.kind === 'copy' && i.checksum !== undefined) throw new DockerfileError(i.location, "checksum can't be specified for COPY");
  const heredocByName = new Map(i.heredocs.map((h) => [h.name, h]));
  const words: string[] = [];
  const heredocWords: string[] = [];
  for (const raw of i.sources) {
    const m = /^<<-?(['"]?)(.+)\1$/.exec(raw);
    if (m && heredocByName.has(m[2] as string)) heredocWords.push(m[2] as string);
    else words.push(expand(raw));
  }
  const destWord = expand(i.dest);
  const dest = destinationPath(destWord, state.config.config?.WorkingDir);
  const chown = i.chown !== undefined ? expand(i.chown) : undefined;
  const chmodText = i.chmod !== undefined ? expand(i.chmod) : undefined;
  const chmod = chmodText !== undefined ? parseChmod(chmodText, i.location) : undefined;
  const exclude = i.exclude.map(expand);
  const owner = chown !== undefined && chown !== '' ? await resolveOwner(chown, state.fs, i.location) : undefined;
  const gitSingle = i.kind === 'add' && words.length === 1 ? parseGitSource(words[0] as string, { keepGitDirGiven: i.keepGitDirGiven === true }) : undefined;
  if (i.checksum !== undefined && words.length !== 1) throw new DockerfileError(i.location, "checksum can't be specified for multiple sources");
  if (i.checksum !== undefined && gitSingle !== undefined) assertGitChecksum(i.checksum, i.location);
  else if (i.checksum !== undefined && !isUrlSource(words[0] as string)) throw new DockerfileError(i.location, 'checksum requires HTTP(S) or Git sources');

  const collect = { location: i.location, what, exclude, parents: i.parents };
  const items: CopyItem[] = [];
  let extracted = new Map<string, string>();
  if (from !== undefined && 'fs' in from) {
    items.push(...(await collectFsSources(words, from.fs, collect)));
    extracted = await from.fs.extractFiles(fsEntriesOf(items), host.workDir);
  } else if (from !== undefined) {
    items.push(...(await collectContextSources(words, from.context, collect)));
  } else {
    for (const w of words) assertGitAllowed(i.kind, w, i.location);
    const gitOptions = { keepGitDirGiven: i.keepGitDirGiven === true };
    const git = (w: string) => (i.kind === 'add' ? parseGitSource(w, gitOptions) : undefined);
    const local = words.filter((w) => !(i.kind === 'add' && (isUrlSource(w) || git(w) !== undefined)));
    if (i.kind === 'copy' && words.some(isUrlSource)) throw new DockerfileError(i.location, "source can't be a URL for COPY");
    for (const w of words) {
      const source = git(w);
      if (source === undefined) continue;
      if (source.invalid !== undefined) throw new DockerfileError(i.location, source.invalid);
      if (!host.fetchGit) throw new UnsupportedError(`${i.location.file}:${i.location.line}: ADD of a git repository needs git (no fetcher configured)`);
      if (i.keepGitDirGiven && source.keepGitDir !== undefined && source.keepGitDir !== i.keepGitDir) throw new DockerfileError(i.location, 'inconsistent keep-git-dir configuration');
      const checksum = i.checksum ?? source.checksum;
      if (i.checksum !== undefined && source.checksum !== undefined && !i.checksum.startsWith(source.checksum) && !source.checksum.startsWith(i.checksum)) {
        throw new DockerfileError(i.location, `checksum mismatch "${i.checksum}" != "${source.checksum}"`);
      }
      const request = { remote: source.remote, ref: source.ref, keepGitDir: source.keepGitDir ?? i.keepGitDir, ...(source.commit ? { commit: true } : {}), ...(checksum !== undefined ? { checksum } : {}), ...(source.submodules === false ? { submodules: false } : {}) };
      const checkout = await host.fetchGit(request).catch((error: unknown) => {
        throw error instanceof DockerfileError ? error : new DockerfileError(i.location, (error as Error).message, { cause: error });
      });
      // The repository (or its SUBDIR) is a directory whose contents are copied, like a context.
      items.push(...(await collectContextSources([source.subdir ?? '.'], { dir: checkout, ignore: undefined }, { ...collect, parents: false, what: `${what} ${source.remote}` })));
    }
    const ctx = { dir: host.contextDir, ignore: host.ignore };
    for (const item of await collectContextSources(local, ctx, collect)) {
      const unpack = i.kind === 'add' && (i.unpack ?? true) && item.kind === 'single' && item.nodes[0]?.content?.kind === 'host';
      const archive = unpack ? await archiveItem((item.nodes[0]!.content as { path: string }).path, item.name, host.workDir, i.location) : undefined;
      items.push(archive ?? item);
    }
    for (const url of words.filter((w) => i.kind === 'add' && isUrlSource(w) && git(w) === undefined)) {
      const item = await downloadItem(url, { workDir: host.workDir, checksum: i.checksum, location: i.location, signal: host.signal });
      const archive = i.unpack === true ? await archiveItem((item.nodes[0]!.content as { path: string }).path, item.name, host.workDir, i.location) : undefined;
      items.push(archive ?? item);
    }
  }
  for (const name of heredocWords) {
    const doc = heredocByName.get(name)!;
    let content = doc.chomp ? chompHeredocContent(doc.content) : doc.content;
    if (doc.expand) content = expandWord(content, env, { escape: host.escape, skipProcessQuotes: true });
    items.push({ kind: 'single', name, nodes: [{ rel: '', type: 'file', mode: 0o644, uid: 0, gid: 0, content: { kind: 'bytes', data: new TextEncoder().encode(content) } }] });
  }

  const entries = await placeItems(items, { dest, owner, chmod, destFs: i.link ? undefined : state.fs, extracted, location: i.location });
  let createdBy = what;
  if (i.parents) createdBy += ' --parents';
  if (chown !== undefined) createdBy += ` --chown=${chown}`;
  if (chmodText !== undefined) createdBy += ` --chmod=${chmodText}`;
  for (const w of words) createdBy += ` ${w}`;
  for (const name of heredocWords) createdBy += ` <<${name}`;
  createdBy += ` ${destWord} # buildkit`;
  const layer = await host.writeLayer({ entries });
  addLayer(state, layer, createdBy);
}

/** The directory a WORKDIR instruction sets (expanded, relative to the previous one). */
export function workdirPath(state: StageState, i: WordInstruction): string {
  const value = expandAt(i.value, expansionEnv(state), state.host.escape, i.location);
  return path.posix.resolve(state.config.config?.WorkingDir || '/', value);
}

/**
 * Applies WORKDIR: sets the working directory (relative to the previous one) and, like
 * BuildKit, creates it (and missing parents) owned by the current USER. When the directory
 * already exists the step is config-only (BuildKit drops the empty layer).
 */
export async function applyWorkdir(state: StageState, i: WordInstruction): Promise<void> {
  const wd = workdirPath(state, i);
  state.config.config ??= {};
  state.config.config.WorkingDir = wd;
  const createdBy = `WORKDIR ${wd}`;
  if (wd === '/') {
    state.steps.push({ createdBy });
    return;
  }
  const resolved = await state.fs.resolve(wd, true);
  if (resolved.entry?.type === 'directory') {
    state.steps.push({ createdBy });
    return;
  }
  const user = state.config.config.User;
  const owner = user ? await resolveOwner(user, state.fs, i.location) : { uid: 0, gid: 0 };
  const entries: LayerEntry[] = [];
  const parts = resolved.path.split('/').filter((c) => c !== '');
  for (let n = 1; n <= parts.length; n++) {
    const p = parts.slice(0, n).join('/');
    const existing = await state.fs.lookup(p);
    if (existing?.type === 'directory') {
      entries.push({ type: 'directory', path: p, mode: existing.mode, uid: existing.uid, gid: existing.gid, mtime: new Date(existing.mtime * 1000) });
    } else {
      entries.push({ type: 'directory', path: p, mode: 0o755, ...owner });
    }
  }
  const layer = await state.host.writeLayer({ entries });
  addLayer(state, layer, createdBy);
}

/** Builds a file system view for an image read by `COPY --from=<image>`. */
export function imageFilesystem(state: StageState, layers: ConstructorParameters<typeof StageFilesystem>[0]): StageFilesystem {
  return new StageFilesystem(layers, state.host.cache);
}
