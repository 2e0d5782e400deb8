/**
 * ocibuild: build OCI and Docker container images without a Docker daemon and without root.
 *
 * The one-call API is {@link buildImage}. Around it: {@link copyImage}, {@link inspectImage} and
 * {@link listTags} (skopeo's copy, inspect and list-tags), the image model and its pure
 * functions ({@link openImage}, {@link appendLayers}...), the transports, the registry client,
 * the layer writer, the Dockerfile parser, the cache, the Node preset and source-to-image.
 *
 * Every name is listed here on purpose, grouped as the API documentation groups them
 * (`@category`); `test/api/api-snapshot.txt` records the list, and `npm run api:update` rewrites
 * it after a deliberate change.
 * @module
 */

// To add an export: name it in its group below; give its declaration's doc comment the group's
// `@category` (a new category goes in typedoc.json's categoryOrder) and, for a function or
// class, an `@example` that compiles (test/api/examples.test.ts); then `npm run api:update`.

// Build: one call from a base, files or a Dockerfile to images in registries, layouts, archives.
export { buildImage, type BuildOptions, type BuildResult, type BuildStats, type BuildEvent } from './pipeline/index.ts';
export { createSession, type Session, type SessionOptions } from './pipeline/session.ts';
export type { RegistryOptions, TransportOptions, Destination, OpenedSource } from './pipeline/targets.ts';
export type { SourceEvent, DownloadEvent, RegistryWarningEvent, SourceEventOptions } from './pipeline/source-events.ts';
export { resolveHealthcheck, type ConfigOptions, type HealthcheckOptions } from './pipeline/config.ts';
export { buildMetadata, type BuildMetadata } from './pipeline/metadata.ts';
export { linuxExecutor, type LinuxExecutorOptions } from './run/linux.ts';
export type { Executor, RunOptions, RunResult, ProbeResult, Mount, MountBase, NetworkMode, OutputSink, IdMapping, IdRange } from './run/types.ts';
export type { RunEvent, RunStartEvent, RunLogEvent, RunEndEvent } from './dockerfile/run-events.ts';
export type { StepReport, StepCacheSettings } from './cache/steps.ts';

// Images: the image model, reading, pure changes, and copying between places.
export {
  copyImage,
  inspectImage,
  type CopyImageOptions,
  type InspectImageOptions,
  type Inspection,
  type InspectionBase,
  type ImageInspection,
  type IndexInspection,
  type ArtifactInspection,
} from './pipeline/images.ts';
export type { CopyEvent, CopyEventType, CopyOptions, CopyResult, ReferrerHooks } from './image/copy.ts';
export type { Image, Layer, LayerOpenOptions, LayerOrigin, PlatformIndex } from './image/model.ts';
export { openImage, openIndex, openReference, imagePlatforms, builtLayer, type ImageSource, type OpenImageOptions, type OpenedReference } from './image/open.ts';
export { newImage, emptyImage, appendLayers, withConfig, withAnnotations, withPlatform, type AddendumLayer, type ImageFormat } from './image/mutate.ts';
export { memorySource, type MemorySource, type MemorySourceOptions, type MemoryBlobOrigin } from './image/memory.ts';
export { readAll } from './image/verify.ts';
export { ociLayout, type OciLayoutOptions, type OciLayoutTransport } from './transports/oci-layout.ts';
export { dockerArchive, type DockerArchiveOptions, type DockerArchiveTransport } from './transports/docker-archive.ts';
export { registryTransport } from './transports/registry.ts';
export { parseTarget, SINGLE_PLATFORM_KINDS, type ParseTargetOptions, type PlatformChoice, type Target, type TargetKind } from './transports/target.ts';
export { daemonTransport, type DaemonOptions, type DaemonTransport } from './transports/daemon.ts';
export { DEFAULT_DAEMON_LIMITS, type DaemonLimits } from './transports/daemon-client.ts';
export type { DaemonEndpoint, DaemonEngine } from './transports/daemon-endpoint.ts';
export { rootfsTransport, type RootfsOptions, type RootfsTransport, type OwnershipManifest } from './pipeline/rootfs-target.ts';
export type { RecordedOwner } from './run/extract.ts';
export type { Transport, TransportCapabilities, BlobBody, BlobOrigin, OperationOptions } from './transports/types.ts';
export { parsePlatform, formatPlatform, normalizePlatform, hostPlatform } from './oci/platform.ts';
export type { Descriptor, Digest, Platform, ImageManifest, ImageIndex, ImageConfig, ContainerConfig, HealthConfig, History, RawManifest } from './oci/types.ts';

// Registry: references, the client, credentials.
export { parseReference, Reference } from './reference.ts';
export { listTags, type ListRepositoryTagsOptions } from './pipeline/images.ts';
export { createRegistryClient, type RegistryClient, type RegistryClientOptions } from './registry/client.ts';
export type { HttpOptions } from './registry/http.ts';
export type { ProxySettings } from './registry/proxy.ts';
export type { RepositoryLocation, RequestOptions, TransferOptions } from './registry/operation.ts';
export type { ListTagsOptions, PutManifestResult, ReferrersOptions } from './registry/manifests.ts';
export type { PutBlobOptions, PutBlobResult } from './registry/uploads.ts';
export { DEFAULT_REGISTRY_LIMITS, type RegistryLimits } from './registry/limits.ts';
export type { RetryPolicy } from './registry/retry.ts';
export type { Credential, CredentialProvider } from './registry/types.ts';
export {
  defaultCredentials,
  dockerConfigCredentials,
  containersAuthCredentials,
  staticCredentials,
  fixedCredentials,
  chainCredentials,
  type DefaultCredentialsOptions,
  type DockerConfigOptions,
  type ContainersAuthOptions,
  type StaticCredentialsOptions,
} from './registry/credentials/index.ts';

// Layers: writing layer tars, and the digest and compression behind small interfaces.
export { writeLayer, type WriteLayerOptions } from './layer/write.ts';
export { sourceDateEpochFromEnv } from './layer/entries.ts';
export type { LayerSpec, LayerEntry, DirectorySource, EntryMetadata, BuiltLayer, LayerEvent } from './layer/types.ts';
export { DEFAULT_TAR_LIMITS, type TarLimits } from './layer/tar-guard.ts';
export { defaultSha256, hashBytes, nodeHash, nobleHash, type HashFactory, type Hasher } from './hash/index.ts';
export {
  defaultGzipEncoder,
  defaultGzipDecoder,
  nodeGzip,
  nodeGunzip,
  fflateGzip,
  libdeflateGzip,
  type LibdeflateGzipOptions,
  type GzipEncoder,
  type GzipDecoder,
  type ByteTransform,
  type NodeGzipOptions,
  type FflateGzipOptions,
  zstdWasm,
  defaultZstdEncoder,
  type ZstdEncoder,
  type ZstdWasmOptions,
  type LayerEncoder,
} from './compress/index.ts';

// Dockerfile: the parser (the interpreter runs inside buildImage).
export { parseDockerfile, parseInstructions, type ParseOptions } from './dockerfile/index.ts';
export type { Dockerfile, InstructionNode, Heredoc, KeyValue, ParserDirective, ParseWarning, EscapeToken } from './dockerfile/ast.ts';
export { parseDockerignore, type ParseDockerignoreOptions } from './dockerfile/ignore.ts';

// Cache: the local cache of bases and layers, and warming it.
export { openCache, defaultCacheDir, type CacheOptions, type LocalCache, type CachedLayerRecord } from './cache/store.ts';
export { warmCache, type WarmCacheOptions, type WarmResult } from './cache/warm.ts';

// Node: the Node.js preset (Jib's layering for npm, yarn and pnpm projects).
export { nodeApp, type NodeAppOptions, type NodeAppInfo, type NodeAppBuildOptions } from './presets/node.ts';
export { watchNodeApp, type WatchEvent, type WatchNodeAppOptions } from './presets/watch.ts';
export { baseUsers, type BaseUsers, type BaseUsersOptions } from './presets/base-user.ts';
export type { PasswdUser } from './presets/passwd.ts';
export type { LockfileKind } from './presets/project.ts';

// S2I: source-to-image builds (OpenShift s2i builder images).
export type { S2iOptions } from './pipeline/s2i/types.ts';
export { runS2iUsage, type S2iUsageOptions } from './pipeline/s2i/usage.ts';
export { S2iError, type S2iErrorOptions } from './pipeline/s2i/errors.ts';

// Supply chain: SBOMs, provenance and cosign-format signatures, attached as OCI referrers.
export { parseSbomFormat, sbomDocument, type SbomDocument } from './supply/sbom.ts';
export { scanImage, DEFAULT_SCAN_LIMITS, type ScanImageOptions, type ScanLimits } from './supply/scan.ts';
export { nodeAppSbomPackages, type NodeSbomOptions } from './presets/sbom.ts';
export type { SbomFormat, SbomChecksum, SbomPackage, SbomInput, Attachment } from './supply/types.ts';
export {
  signImage,
  verifyImage,
  listSignatures,
  signPayload,
  verifyPayloadSignature,
  SignatureVerificationError,
  type SignImageOptions,
  type SignImageResult,
  type VerifyImageOptions,
  type VerifyImageResult,
  type VerifiedSignature,
  type ListSignaturesResult,
  type SignatureFailure,
  type SignatureRegistryOptions,
} from './supply/sign.ts';
export {
  generateCosignKeyPair,
  readCosignPrivateKey,
  readCosignPublicKey,
  encryptPrivateKey,
  KeyPasswordError,
  MAX_KEY_FILE_BYTES,
  SIGSTORE_PRIVATE_KEY_PEM,
  type CosignKeyPairFiles,
  type EncryptKeyOptions,
} from './supply/cosign-key.ts';
export {
  imageReferrers,
  readImageSbom,
  type AttachedOptions,
  type AttachedReferrer,
  type ReferrersInspection,
  type ReadImageSbomOptions,
  type AttachedSbom,
} from './pipeline/attached.ts';
export { attachArtifact, type AttachOptions, type AttachResult } from './supply/attach.ts';
export { provenanceStatement, type ProvenanceInput, type ProvenanceDependency } from './supply/provenance.ts';
export type { BuildAttachment } from './pipeline/attestations.ts';
export { simpleSigningPayload, dockerReferenceOf, COSIGN_SIGNATURE_TYPE, type SimpleSigningPayload } from './supply/cosign-payload.ts';
export type { StoredSignature, SignatureManifest } from './supply/sign-store.ts';

// Errors: one base class with a stable code, its subclasses, and the two tests for them.
export {
  OcibuildError,
  AbortedError,
  DigestMismatchError,
  DockerfileError,
  InvalidArgumentError,
  InvalidReferenceError,
  LimitExceededError,
  NotFoundError,
  RegistryError,
  SizeMismatchError,
  TimeoutError,
  UnsupportedError,
  closestName,
  isOcibuildError,
  isNotFound,
  type ErrorCode,
  type InvalidArgumentCode,
  type OcibuildErrorOptions,
  type RegistryErrorOptions,
  type DockerfileLocation,
} from './errors.ts';
