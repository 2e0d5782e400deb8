/**
 * Where a container engine listens: the Docker Engine API socket named by `DOCKER_HOST` (default
 * `/var/run/docker.sock`), or podman's Docker-compatible socket (`CONTAINER_HOST`, else
 * `/run/podman/podman.sock` as root and `$XDG_RUNTIME_DIR/podman/podman.sock` otherwise).
 * Pure: reads only the environment it is given.
 * @module
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts';

/**
 * A daemon address: a unix socket, or plain HTTP over TCP.
 * @category Images
 */
export type DaemonEndpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; display: string };

/**
 * Which engine a target names.
 * @category Images
 */
export type DaemonEngine = 'docker' | 'podman';

/** Docker's default socket when `DOCKER_HOST` is unset. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Parses a `unix:///path` or `tcp://host:port` daemon address (the forms of `DOCKER_HOST` and
 * `CONTAINER_HOST`). TLS (`DOCKER_TLS_VERIFY`) and `ssh://` are refused with `ERR_UNSUPPORTED`:
 * only a local socket or an unencrypted TCP port is spoken.
 */
export function parseDaemonHost(value: string, variable: string, env: NodeJS.ProcessEnv = process.env): DaemonEndpoint {
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new InvalidArgumentError(`${variable}=${value}: a unix socket address is unix:///absolute/path`);
    return { kind: 'unix', socketPath, display: value };
  }
  if (value.startsWith('tcp://') || value.startsWith('http://')) {
    if (env['DOCKER_TLS_VERIFY'] !== undefined && env['DOCKER_TLS_VERIFY'] !== '') {
      throw new UnsupportedError(`${variable}=${value} with DOCKER_TLS_VERIFY: TLS daemon connections are not supported; use a unix socket`);
    }
    const url = new URL(value.replace(/^tcp:/, 'http:'));
    const port = url.port === '' ? 2375 : Number(url.port);
    return { kind: 'tcp', host: url.hostname, port, display: value };
  }
  throw new UnsupportedError(`${variable}=${value}: only unix:// and tcp:// daemon addresses are supported`);
}

/** The Docker daemon address: `DOCKER_HOST`, else `unix:///var/run/docker.sock`. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): DaemonEndpoint {
  const host = env['DOCKER_HOST'];
  if (host !== undefined && host !== '') return parseDaemonHost(host, 'DOCKER_HOST', env);
  return { kind: 'unix', socketPath: DEFAULT_DOCKER_SOCKET, display: `unix://${DEFAULT_DOCKER_SOCKET}` };
}

/**
 * The podman API socket: `CONTAINER_HOST`, else the rootful socket as root, else the rootless
 * one under `XDG_RUNTIME_DIR` (`/run/user/UID` when unset), as podman's own client looks it up.
 */
export function podmanEndpoint(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): DaemonEndpoint {
  const host = env['CONTAINER_HOST'];
  if (host !== undefined && host !== '') return parseDaemonHost(host, 'CONTAINER_HOST', env);
  const socketPath = uid === 0 ? '/run/podman/podman.sock' : `${env['XDG_RUNTIME_DIR'] || `/run/user/${uid}`}/podman/podman.sock`;
  return { kind: 'unix', socketPath, display: `unix://${socketPath}` };
}

/**
 * Extra global arguments for the `podman` CLI fallback (`OCIBUILD_PODMAN_ARGS`, split on
 * whitespace), e.g. `--root DIR --runroot DIR --storage-driver vfs` for an isolated store.
 */
export function podmanGlobalArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env['OCIBUILD_PODMAN_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
}
