/**
 * The RUN executor contract: what the Dockerfile interpreter asks of a sandbox that runs one
 * command in a stage's root filesystem. Pure types; the rootless Linux implementation is in
 * `linux.ts`.
 * @module
 */

/**
 * Network mode of a RUN step (BuildKit `RUN --network=`).
 * @category Build
 */
export type NetworkMode = 'default' | 'none' | 'host';

/**
 * Fields every mount has.
 * @category Build
 */
export interface MountBase {
  /** Absolute path inside the container. Created (and removed again afterwards) when missing. */
  target: string;
  /** Mount read-only. Default: false for `bind` from a cache/tmpfs, true for `secret`. */
  readonly?: boolean;
}

/**
 * One extra mount of a RUN step. Sources are host paths the caller prepared (the interpreter
 * owns cache directories and secret files); the executor only mounts them, and removes the
 * mount-point stubs it had to create so they never reach a layer.
 * @category Build
 */
export type Mount =
  | (MountBase & {
      /** Bind a host file or directory (`--mount=type=bind`). */
      type: 'bind';
      /** Host path. */
      source: string;
    })
  | (MountBase & {
      /** A fresh, empty tmpfs (`--mount=type=tmpfs`). */
      type: 'tmpfs';
      /** Size limit in bytes. */
      size?: number;
    })
  | (MountBase & {
      /** A persistent host directory (`--mount=type=cache`); read-write by default. */
      type: 'cache';
      /** Host directory kept between builds by the caller. */
      source: string;
      /** Owner (container-side uid) set on the cache directory's root when it is first created. */
      uid?: number;
      /** Owner (container-side gid) set on the cache directory's root when it is first created. */
      gid?: number;
      /** Permission bits of the cache directory's root, default 0o755. */
      mode?: number;
    })
  | (MountBase & {
      /** A secret file (`--mount=type=secret`), mounted read-only from a private copy. */
      type: 'secret';
      /** Host file holding the secret. */
      source: string;
      /** Container-side owner, default 0. */
      uid?: number;
      /** Container-side group, default 0. */
      gid?: number;
      /** Permission bits, default 0o400. */
      mode?: number;
    })
  | (MountBase & {
      /** An SSH agent socket (`--mount=type=ssh`) the caller serves; bound as it is, owner and mode set first. */
      type: 'ssh';
      /** Host Unix socket. */
      source: string;
      /** Container-side owner, default 0. */
      uid?: number;
      /** Container-side group, default 0. */
      gid?: number;
      /** Permission bits, default 0o600. */
      mode?: number;
    });

/**
 * Where a RUN step's output goes. Called with raw chunks as they arrive.
 * @category Build
 */
export type OutputSink = (chunk: Uint8Array) => void;

/**
 * Everything one RUN step needs.
 * @category Build
 */
export interface RunOptions {
  /** Host directory holding the stage's root filesystem (materialised layers). */
  rootfs: string;
  /** The argv to execute (`["/bin/sh", "-c", "..."]` for the shell form). */
  argv: string[];
  /** `KEY=value` environment, exactly as the process should see it. */
  env: string[];
  /** Absolute working directory inside the container; created (root-owned, 0755) when missing. */
  workdir: string;
  /** `name`, `uid`, `name:group` or `uid:gid`, resolved in the rootfs's /etc/passwd and /etc/group. Default root. */
  user?: string;
  /** Network mode; `none` gives a namespace with loopback only. Default `default` (the host's network). */
  network?: NetworkMode;
  /**
   * The step's hostname (its own UTS namespace, and a `127.0.0.1` line of its `/etc/hosts`).
   * Default `buildkitsandbox`, as BuildKit; a Dockerfile build takes the build arg
   * `BUILDKIT_SANDBOX_HOSTNAME`, as BuildKit does.
   */
  hostname?: string;
  /** Extra `/etc/hosts` lines, name to IP address, as `docker build --add-host NAME:IP` (checked: an IPv4 or IPv6 address, a host name). */
  extraHosts?: Readonly<Record<string, string>>;
  /** Extra mounts, applied in order. */
  mounts?: Mount[];
  /** Aborting kills the whole sandbox (every process in it) and rejects with `ERR_ABORTED`. */
  signal?: AbortSignal;
  /** Receives the process's stdout; default: discarded. */
  stdout?: OutputSink;
  /** Receives the process's stderr (also kept as a tail in the result); default: discarded. */
  stderr?: OutputSink;
}

/**
 * The outcome of a RUN step that started. A non-zero `exitCode` is not thrown: the caller decides.
 * @category Build
 */
export interface RunResult {
  /** Exit status of the command; 128 + signal number when it was killed by a signal. */
  exitCode: number;
  /** The last few KiB of stderr, for error messages. */
  stderrTail: string;
}

/**
 * Why an executor cannot work on this machine, and what to change.
 * @category Build
 */
export type ProbeResult = { ok: true } | { ok: false; reason: string; hint: string };

/**
 * Runs commands inside a stage's root filesystem.
 *
 * Contract: `run` MUST NOT modify anything outside `rootfs` other than the mount sources the
 * caller passed (read-write binds and caches); MUST leave no stub files or directories it created
 * for mounts, resolv.conf or hosts in `rootfs`; MUST kill every process it started before it
 * resolves; and SHOULD make files created inside belong to the container-side ids that
 * `ownerMapping` describes. Failures to set up the sandbox reject with an `ERR_RUN` or
 * `ERR_UNSUPPORTED` error; a command that ran and failed resolves with its exit code.
 * @category Build
 */
export interface Executor {
  /** Runs one command and reports its exit status. */
  run(options: RunOptions): Promise<RunResult>;
  /** Checks whether this executor can work here, without running anything in a rootfs. */
  probe(): Promise<ProbeResult>;
  /**
   * How container-side ids appear on the host for files this executor creates. Snapshots use it
   * to turn host owners back into container owners. Identity when absent.
   */
  ownerMapping?(): Promise<IdMapping>;
}

/**
 * One contiguous range of an id mapping: container ids `[inside, inside + count)` are host ids `[outside, ...)`.
 * @category Build
 */
export interface IdRange {
  /** First container-side id. */
  inside: number;
  /** First host-side id. */
  outside: number;
  /** Number of ids. */
  count: number;
}

/**
 * Uid and gid mappings between the container and the host.
 * @category Build
 */
export interface IdMapping {
  /** Uid ranges. Empty means identity. */
  uids: IdRange[];
  /** Gid ranges. Empty means identity. */
  gids: IdRange[];
}
