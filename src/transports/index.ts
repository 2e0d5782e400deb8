/**
 * Transports: where images are read from and written to.
 * @module
 */
export type { BlobBody, BlobOrigin, OperationOptions, Transport, TransportCapabilities } from './types.ts';
export { ociLayout, REF_NAME_ANNOTATION } from './oci-layout.ts';
export type { OciLayoutOptions, OciLayoutTransport } from './oci-layout.ts';
export { dockerArchive, DOCKER_LAYER_TAR } from './docker-archive.ts';
export type { DockerArchiveOptions, DockerArchiveTransport } from './docker-archive.ts';
export { openTarget, parseTarget, SINGLE_PLATFORM_KINDS } from './target.ts';
export type { OpenTargetOptions, ParseTargetOptions, PlatformChoice, Target, TargetKind } from './target.ts';
export { daemonTransport } from './daemon.ts';
export type { DaemonOptions, DaemonTransport } from './daemon.ts';
export { DEFAULT_DAEMON_LIMITS } from './daemon-client.ts';
export type { DaemonLimits } from './daemon-client.ts';
export { dockerEndpoint, podmanEndpoint } from './daemon-endpoint.ts';
export type { DaemonEndpoint, DaemonEngine } from './daemon-endpoint.ts';
