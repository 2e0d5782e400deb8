/**
 * ocibuild: build OCI and Docker container images without a Docker daemon and without root.
 *
 * The one-call API is {@link buildImage}; the pieces it is made of (OCI model, layer writer,
 * transports, registry client, copier, Dockerfile parser) are exported for tools of their own.
 * @module
 */
export * from './errors.ts';
export * from './oci/index.ts';
export * from './reference.ts';
export * from './hash/index.ts';
export * from './compress/index.ts';
export * from './layer/index.ts';
export * from './transports/index.ts';
export { registryTransport } from './transports/registry.ts';
export * from './registry/index.ts';
export type * from './registry/types.ts';
export * from './registry/credentials/index.ts';
export * from './image/index.ts';
export type * from './run/types.ts';
export { linuxExecutor, type LinuxExecutorOptions } from './run/linux.ts';
export { buildImage, type BuildOptions, type BuildResult, type BuildStats, type BuildEvent } from './pipeline/index.ts';
export type { SourceEvent, DownloadEvent, RegistryWarningEvent, SourceEventOptions } from './pipeline/source-events.ts';
export { resolveHealthcheck, type ConfigOptions, type HealthcheckOptions } from './pipeline/config.ts';
export { buildMetadata, type BuildMetadata } from './pipeline/metadata.ts';
export type { RunEvent, RunStartEvent, RunLogEvent, RunEndEvent } from './dockerfile/run-events.ts';
export type { RegistryOptions, TransportOptions } from './pipeline/targets.ts';
export type { Destination, OpenedSource } from './pipeline/targets.ts';
export { createSession, type Session, type SessionOptions } from './pipeline/session.ts';
export * from './dockerfile/index.ts';
export * from './cache/index.ts';
export * from './presets/index.ts';
export * from './pipeline/s2i/index.ts';
