/**
 * BuildKit `RUN --mount=...` and `--network=...` flags: parsing the CSV option lists into typed
 * specs (pure), then preparing host sources for the executor (cache directories kept between
 * builds, context or stage sources for binds, secret files). Nothing prepared here is ever part
 * of a layer: the executor mounts these over the rootfs and removes the stubs it created.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { closestName, InvalidArgumentError, OcibuildError, UnsupportedError } from '../errors.ts';
import { resolveInRoot } from './paths.ts';
import { serveAgentSocket } from './ssh.ts';
import type { Mount, NetworkMode } from './types.ts';

/** How concurrent builds share a cache mount (BuildKit `sharing=`). */
export type CacheSharing = 'shared' | 'private' | 'locked';

/** One parsed `--mount` flag. Paths are as written, except `target` which is absolute. */
export type RunMountSpec =
  | { type: 'bind'; target: string; source: string; from: string | undefined; readwrite: boolean }
  | { type: 'cache'; target: string; id: string; sharing: CacheSharing; readonly: boolean; uid?: number; gid?: number; mode?: number; from?: string; source?: string }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; id: string; target: string | undefined; env: string | undefined; required: boolean; uid?: number; gid?: number; mode?: number }
  | { type: 'ssh'; id: string; target: string | undefined; required: boolean; uid?: number; gid?: number; mode?: number };

/** Splits one CSV record the way Go's encoding/csv does for BuildKit flags: `"` quotes, `""` escapes. */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && atStart) {
      quoted = true;
      atStart = false;
    } else if (ch === ',') {
      out.push(field);
      field = '';
      atStart = true;
    } else {
      field += ch;
      atStart = false;
    }
  }
  if (quoted) throw new InvalidArgumentError(`unterminated quote in ${JSON.stringify(text)}`);
  out.push(field);
  return out;
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined || value.toLowerCase() === 'true') return true;
  if (value.toLowerCase() === 'false') return false;
  throw new InvalidArgumentError(`invalid value for ${key}: ${value}`);
}

function parseId(key: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`invalid ${key}: ${value} (a number is expected)`);
  return Number(value);
}

function parseMode(value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw new InvalidArgumentError(`invalid mode: ${value} (octal expected)`);
  return Number.parseInt(value, 8);
}

function parseSize(value: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`invalid size: ${value}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** Makes `target` absolute: BuildKit takes a relative target relative to the working directory. */
function absoluteTarget(target: string, workdir: string): string {
  return path.posix.resolve('/', workdir, target);
}

/**
 * Parses one `--mount` value (`type=cache,target=/root/.npm,sharing=locked`). `expand` expands
 * variables in each value (BuildKit expands mount options with the build args and env).
 * Throws `ERR_INVALID_ARGUMENT` naming the bad key; the caller adds the Dockerfile line.
 */
export function parseMountFlag(value: string, workdir: string, expand: (word: string) => string = (w) => w): RunMountSpec {
  const fields = new Map<string, string | undefined>();
  for (const field of splitCsv(value)) {
    if (field.trim() === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    fields.set(key, eq < 0 ? undefined : expand(field.slice(eq + 1)));
  }
  const type = fields.get('type') ?? 'bind';
  const take = (...keys: string[]): string | undefined => {
    for (const k of keys) if (fields.has(k)) return fields.get(k) ?? '';
    return undefined;
  };
  const known = new Set(['type', 'target', 'dst', 'destination', 'source', 'src', 'from', 'readonly', 'ro', 'readwrite', 'rw', 'id', 'sharing', 'mode', 'uid', 'gid', 'size', 'required', 'env']);
  for (const key of fields.keys()) {
    if (known.has(key)) continue;
    const near = closestName(key, [...known]);
    throw new InvalidArgumentError(`unexpected key '${key}' in '${value}'${near !== undefined ? ` (did you mean ${near}?)` : ''}`);
  }
  const rawTarget = take('target', 'dst', 'destination');
  const ids = {
    ...(fields.has('uid') ? { uid: parseId('uid', fields.get('uid') ?? '') } : {}),
    ...(fields.has('gid') ? { gid: parseId('gid', fields.get('gid') ?? '') } : {}),
    ...(fields.has('mode') ? { mode: parseMode(fields.get('mode') ?? '') } : {}),
  };
  const roKey = fields.has('readonly') ? 'readonly' : fields.has('ro') ? 'ro' : undefined;
  const rwKey = fields.has('readwrite') ? 'readwrite' : fields.has('rw') ? 'rw' : undefined;
  const readonlyGiven = roKey !== undefined ? parseBool(roKey, fields.get(roKey)) : undefined;
  const readwriteGiven = rwKey !== undefined ? parseBool(rwKey, fields.get(rwKey)) : undefined;
  const needTarget = (): string => {
    if (rawTarget === undefined || rawTarget === '') throw new InvalidArgumentError(`mount type ${type} requires a target`);
    return absoluteTarget(rawTarget, workdir);
  };
  switch (type) {
    case 'bind': {
      if (Object.keys(ids).length > 0) throw new InvalidArgumentError('uid, gid and mode are not allowed on a bind mount');
      const readwrite = readwriteGiven ?? (readonlyGiven === undefined ? false : !readonlyGiven);
      return { type, target: needTarget(), source: take('source', 'src') ?? '/', from: take('from'), readwrite };
    }
    case 'cache': {
      const target = needTarget();
      // from= seeds a new cache with a stage's or image's files (source= a subdirectory of it).
      const from = take('from') || undefined;
      const seed = from !== undefined ? { from, source: take('source', 'src') || '/' } : {};
      const sharing = (take('sharing') ?? 'shared').toLowerCase();
      if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') {
        throw new InvalidArgumentError(`unsupported sharing value "${sharing}"`);
      }
      const readonly = readonlyGiven ?? (readwriteGiven === undefined ? false : !readwriteGiven);
      return { type, target, id: take('id') || target, sharing, readonly, ...ids, ...seed };
    }
    case 'tmpfs': {
      const size = take('size');
      return { type, target: needTarget(), ...(size !== undefined ? { size: parseSize(size) } : {}) };
    }
    case 'secret': {
      const target = rawTarget === undefined || rawTarget === '' ? undefined : absoluteTarget(rawTarget, workdir);
      const id = take('id') || (target !== undefined ? path.posix.basename(target) : '');
      if (id === '') throw new InvalidArgumentError(`secret mount needs an id or a target: '${value}'`);
      const env = take('env') || undefined;
      const required = fields.has('required') ? parseBool('required', fields.get('required')) : false;
      return { type, id, target: target ?? (env === undefined ? `/run/secrets/${id}` : undefined), env, required, ...ids };
    }
    case 'ssh': {
      // Target unset: /run/buildkit/ssh_agent.N, N counting the step's ssh mounts (BuildKit llb AddSSHSocket).
      const target = rawTarget === undefined || rawTarget === '' ? undefined : absoluteTarget(rawTarget, workdir);
      const required = fields.has('required') ? parseBool('required', fields.get('required')) : false;
      return { type, id: take('id') || 'default', target, required, ...ids };
    }
    default: {
      const near = closestName(type, ['bind', 'cache', 'tmpfs', 'secret', 'ssh']);
      throw new InvalidArgumentError(`unsupported mount type "${type}"${near !== undefined ? ` (did you mean ${near}?)` : ''}`);
    }
  }
}

/** Parses `--network=`: `default`, `none` or `host`. */
export function parseNetworkFlag(value: string | undefined): NetworkMode {
  const v = (value ?? 'default').toLowerCase();
  if (v === 'default' || v === 'none' || v === 'host') return v;
  throw new InvalidArgumentError(`unsupported network mode "${value}" (default, none or host)`);
}

/** Where a build keeps persistent cache mounts: `OCIBUILD_CACHE_DIR` or `~/.cache/ocibuild`, then `run-cache/`. */
export function defaultRunCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.OCIBUILD_CACHE_DIR !== undefined && env.OCIBUILD_CACHE_DIR !== '' ? env.OCIBUILD_CACHE_DIR : path.join(os.homedir(), '.cache', 'ocibuild');
  return path.join(base, 'run-cache');
}

/** The directory name of cache `id`: readable when it is a safe name, else a hash. */
export function cacheDirName(id: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(id)) return id;
  const slug = id.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 60);
  return `${slug || 'cache'}-${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

/** A secret as the build options give it: a file path or an environment variable of the build process. */
export interface SecretSource {
  /** Host file holding the secret. */
  file?: string;
  /** Name of an environment variable of the build process holding the secret. */
  env?: string;
}

/** What {@link prepareMounts} needs to find sources. */
export interface MountContext {
  /** Build context directory (bind mounts without `from`). */
  contextDir: string | undefined;
  /** Root of the persistent cache mounts (see {@link defaultRunCacheDir}). */
  cacheDir: string;
  /** Private scratch directory of this step (removed by the caller afterwards). */
  scratch: string;
  /** Secrets by id. */
  secrets: Readonly<Record<string, SecretSource>>;
  /** Agent sockets for `type=ssh` mounts, by id. */
  ssh?: Readonly<Record<string, string>>;
  /** Host directory holding the file system of a stage or image named by `from=`. */
  rootfsOf?: (from: string) => Promise<string>;
}

/** Mounts ready for the executor, plus env additions (secrets as env) and what to release afterwards. */
export interface PreparedMounts {
  /** Mounts in flag order. */
  mounts: Mount[];
  /** `KEY=value` additions for this step only (secret `env=`). Never persisted. */
  env: string[];
  /**
   * The first ssh mount's target, given or not: the step's `SSH_AUTH_SOCK` unless its env sets
   * one (BuildKit client/llb/exec.go sets it for any ssh mount, a skipped optional one too).
   */
  sshAuthSock?: string;
  /** Releases locks taken for `sharing=locked|private` caches and stops ssh forwarders. */
  release: () => Promise<void>;
}

const heldCaches = new Map<string, Promise<void>>();
/** Cache directories in use by running steps of this process (for `sharing=private`). */
const busyCaches = new Map<string, number>();

/** Serialises users of one cache directory within this process and across processes (lock dir). */
async function lockCache(dir: string): Promise<() => Promise<void>> {
  const previous = heldCaches.get(dir) ?? Promise.resolve();
  let unlock!: () => void;
  const mine = new Promise<void>((resolve) => (unlock = resolve));
  heldCaches.set(dir, previous.then(() => mine));
  await previous;
  const lock = `${dir}.lock`;
  await fs.mkdir(path.dirname(dir), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock older than an hour is left over from a killed build.
      const st = await fs.stat(lock).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > 3_600_000) await fs.rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, Math.min(50 * (attempt + 1), 500)));
    }
  }
  return async () => {
    await fs.rm(lock, { recursive: true, force: true });
    unlock();
  };
}

async function readSecret(id: string, source: SecretSource | undefined): Promise<Uint8Array | undefined> {
  if (source === undefined) return undefined;
  if (source.file !== undefined) {
    try {
      return await fs.readFile(source.file);
    } catch (error) {
      throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `secret ${JSON.stringify(id)}: cannot read its file ${source.file}`, { cause: error });
    }
  }
  if (source.env !== undefined) {
    const value = process.env[source.env];
    return value === undefined ? undefined : Buffer.from(value);
  }
  return undefined;
}

async function bindSource(spec: Extract<RunMountSpec, { type: 'bind' }>, ctx: MountContext, index: number): Promise<string> {
  let root: string;
  if (spec.from !== undefined && spec.from !== '') {
    if (ctx.rootfsOf === undefined) throw new UnsupportedError(`bind mount from=${spec.from} is not available here`);
    root = await ctx.rootfsOf(spec.from);
  } else {
    if (ctx.contextDir === undefined) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', 'bind mount without from= needs a build context');
    root = ctx.contextDir;
  }
  // Sources resolve inside their root like a chroot: no `..` or symlink reaches the host.
  const resolved = resolveInRoot(root, spec.source, { followFinal: true });
  if (!resolved.exists) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `bind mount source ${spec.source} not found${spec.from ? ` in ${spec.from}` : ' in the build context'}`);
  if (!spec.readwrite) return resolved.hostPath;
  // BuildKit throws away what a step writes to an rw bind: give it a private copy.
  const copy = path.join(ctx.scratch, `bind-${index}`);
  await fs.cp(resolved.hostPath, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return copy;
}

/** Fills a new cache directory with `source` of the stage or image `from` (made atomically: copy, then rename). */
async function seedCache(from: string, source: string, dir: string, ctx: MountContext): Promise<void> {
  if (ctx.rootfsOf === undefined) throw new UnsupportedError(`cache mount from=${from} is not available here`);
  const resolved = resolveInRoot(await ctx.rootfsOf(from), source, { followFinal: true });
  if (!resolved.exists) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `cache mount source ${source} not found in ${from}`);
  const temp = `${dir}.seed-${process.pid}-${Date.now()}`;
  await fs.cp(resolved.hostPath, temp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  await fs.rename(temp, dir).catch(async (error: unknown) => {
    await fs.rm(temp, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' && (error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
  });
}

/**
 * Turns parsed specs into executor mounts: cache directories created under `cacheDir`
 * (locked for `sharing=locked`, a private throw-away copy when a `private` cache is busy),
 * bind sources found in the context or a stage, secrets copied from their source (missing and
 * not `required`: skipped, as BuildKit does). The caller must call `release()` after the run.
 */
export async function prepareMounts(specs: readonly RunMountSpec[], ctx: MountContext): Promise<PreparedMounts> {
  const mounts: Mount[] = [];
  const env: string[] = [];
  const releases: (() => Promise<void>)[] = [];
  let sshAuthSock: string | undefined;
  let sshCount = 0;
  const release = async (): Promise<void> => {
    for (const r of releases.splice(0).reverse()) await r();
  };
  try {
    for (const [index, spec] of specs.entries()) {
      switch (spec.type) {
        case 'bind':
          mounts.push({ type: 'bind', target: spec.target, source: await bindSource(spec, ctx, index), readonly: !spec.readwrite });
          break;
        case 'tmpfs':
          mounts.push({ type: 'tmpfs', target: spec.target, size: spec.size });
          break;
        case 'cache': {
          // A seeded cache is its own cache, as BuildKit keys it by id and base (mounts.go getRefCacheDir).
          const key = spec.from === undefined ? spec.id : `${spec.id}\0${spec.from}\0${spec.source ?? '/'}`;
          let dir = path.join(ctx.cacheDir, cacheDirName(key));
          if (spec.sharing === 'locked') {
            releases.push(await lockCache(dir));
          } else if (spec.sharing === 'private' && (busyCaches.get(dir) ?? 0) > 0) {
            dir = path.join(ctx.scratch, `cache-${index}`);
          }
          const used = dir;
          busyCaches.set(used, (busyCaches.get(used) ?? 0) + 1);
          releases.push(async () => {
            const n = (busyCaches.get(used) ?? 1) - 1;
            if (n <= 0) busyCaches.delete(used);
            else busyCaches.set(used, n);
          });
          if (spec.from !== undefined && !(await fs.stat(dir).catch(() => undefined))) await seedCache(spec.from, spec.source ?? '/', dir, ctx);
          await fs.mkdir(dir, { recursive: true });
          const { uid, gid, mode } = spec;
          mounts.push({
            type: 'cache', target: spec.target, source: dir, readonly: spec.readonly,
            uid, gid, mode,
          });
          break;
        }
        case 'secret': {
          const data = await readSecret(spec.id, ctx.secrets[spec.id]);
          if (data === undefined) {
            // BuildKit's words (testSecretRequiredWithoutValue), then what to do.
            if (spec.required) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `secret ${spec.id}: not found (the mount is required; give it with --secret id=${spec.id},src=FILE or env=VAR)`);
            break;
          }
          if (spec.env !== undefined) env.push(`${spec.env}=${Buffer.from(data).toString('utf8')}`);
          if (spec.target !== undefined) {
            const file = path.join(ctx.scratch, `secret-src-${index}`);
            await fs.writeFile(file, data, { mode: 0o600 });
            const { uid, gid, mode } = spec;
            mounts.push({
              type: 'secret', target: spec.target, source: file,
              uid, gid, mode,
            });
          }
          break;
        }
        case 'ssh': {
          const target = spec.target ?? `/run/buildkit/ssh_agent.${sshCount}`;
          sshCount++;
          // Set even when the mount is skipped below: BuildKit's llb sets it when it builds the op.
          sshAuthSock ??= target;
          const agent = ctx.ssh?.[spec.id];
          if (agent === undefined) {
            // BuildKit's client answers CheckAgent with this for an id it was not given.
            if (spec.required) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `unset ssh forward key ${spec.id} (RUN --mount=type=ssh,id=${spec.id},required=true needs --ssh ${spec.id})`);
            break;
          }
          // A fresh socket served by this process, forwarding to the agent (BuildKit sshforward).
          const socket = path.join(ctx.scratch, `ssh-${index}.sock`);
          releases.push(await serveAgentSocket(socket, agent));
          const { uid, gid, mode } = spec;
          mounts.push({
            type: 'ssh', target, source: socket,
            uid, gid, mode,
          });
          break;
        }
      }
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { mounts, env, release, sshAuthSock };
}
