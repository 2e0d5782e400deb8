/**
 * OCI image-spec data types, with the spec's exact JSON field names.
 * Pure data: nothing here does I/O.
 * @module
 */

/**
 * A content digest, `algorithm:encoded` (e.g. `sha256:` + 64 lower-case hex).
 * @category Images
 */
export type Digest = string;

/**
 * A platform as in the OCI image index (`os`, `architecture`, optional `variant`).
 * @category Images
 */
export interface Platform {
  /** CPU architecture in GOARCH spelling (`amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`). */
  architecture: string;
  /** Operating system in GOOS spelling (`linux`, `windows`). */
  os: string;
  /** OS version (Windows only in practice). */
  'os.version'?: string;
  /** OS features. */
  'os.features'?: string[];
  /** CPU variant (`v7`, `v8`). */
  variant?: string;
  /** Reserved by the spec. */
  features?: string[];
}

/**
 * An OCI content descriptor.
 * @category Images
 */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced content's exact bytes. */
  digest: Digest;
  /** Size of the referenced content in bytes. */
  size: number;
  /** Alternate download locations. */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** Embedded content, base64. */
  data?: string;
  /** Platform of a manifest referenced from an index. */
  platform?: Platform;
  /** Type of an artifact when the descriptor references one. */
  artifactType?: string;
}

/**
 * An image manifest (OCI `application/vnd.oci.image.manifest.v1+json` or Docker v2.2).
 * @category Images
 */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** Media type; optional in OCI (umoci and skopeo may omit it), required for Docker v2.2. */
  mediaType?: string;
  /** Artifact type (OCI 1.1). */
  artifactType?: string;
  /** The image config blob. */
  config: Descriptor;
  /** Layers, base first. */
  layers: Descriptor[];
  /** Manifest this one refers to (OCI 1.1 referrers). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/**
 * An image index (OCI) or manifest list (Docker v2.2).
 * @category Images
 */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** Media type; optional in OCI. */
  mediaType?: string;
  /** Artifact type (OCI 1.1). */
  artifactType?: string;
  /** Child manifests, usually with `platform`. */
  manifests: Descriptor[];
  /** Manifest this one refers to. */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/**
 * A HEALTHCHECK as stored in the image config (durations in nanoseconds).
 * @category Images
 */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`. */
  Test?: string[];
  /** Nanoseconds between checks. */
  Interval?: number;
  /** Nanoseconds before a check is considered hung. */
  Timeout?: number;
  /** Start period in nanoseconds. */
  StartPeriod?: number;
  /** Interval during the start period, nanoseconds. */
  StartInterval?: number;
  /** Consecutive failures before unhealthy. */
  Retries?: number;
}

/**
 * The runtime part of an image config (`config` field), with Docker's field names.
 * @category Images
 */
export interface ContainerConfig {
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  User?: string;
  /** Keys like `80/tcp`, values `{}`. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `KEY=value` entries. */
  Env?: string[];
  /** Entrypoint argv. */
  Entrypoint?: string[] | null;
  /** Default arguments. */
  Cmd?: string[] | null;
  /** Keys are paths, values `{}`. */
  Volumes?: Record<string, Record<string, never>>;
  /** Working directory. */
  WorkingDir?: string;
  /** Labels. */
  Labels?: Record<string, string>;
  /** Stop signal such as `SIGTERM`. */
  StopSignal?: string;
  /** Docker extension: whether Cmd/Entrypoint are already escaped (Windows). */
  ArgsEscaped?: boolean;
  /** Docker extension: HEALTHCHECK. */
  Healthcheck?: HealthConfig;
  /** Docker extension: ONBUILD triggers. */
  OnBuild?: string[] | null;
  /** Docker extension: SHELL. */
  Shell?: string[];
}

/**
 * One history entry of an image config.
 * @category Images
 */
export interface History {
  /** RFC 3339 time. */
  created?: string;
  /** The command that created the layer. */
  created_by?: string;
  /** Author. */
  author?: string;
  /** Free text. */
  comment?: string;
  /** True when this step produced no layer. */
  empty_layer?: boolean;
}

/**
 * An OCI image config (`application/vnd.oci.image.config.v1+json`), also valid as a Docker config.
 * @category Images
 */
export interface ImageConfig {
  /** RFC 3339 creation time. */
  created?: string;
  /** Author. */
  author?: string;
  /** CPU architecture. */
  architecture: string;
  /** Operating system. */
  os: string;
  /** OS version. */
  'os.version'?: string;
  /** OS features. */
  'os.features'?: string[];
  /** CPU variant. */
  variant?: string;
  /** Runtime configuration. */
  config?: ContainerConfig;
  /** Layer diffIDs (digests of the uncompressed tars), base first. */
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  /** History, one entry per step (empty_layer steps included). */
  history?: History[];
  /** Other fields found in a pulled config are kept as they were. */
  [extra: string]: unknown;
}

/**
 * A manifest or index as bytes, with its media type and digest. Digests are always computed
 * over `bytes`; a pulled manifest is never re-serialised.
 * @category Images
 */
export interface RawManifest {
  /** Media type (from the Content-Type header, the descriptor, or the document's `mediaType`). */
  mediaType: string;
  /** Digest of `bytes`. */
  digest: Digest;
  /** The exact bytes. */
  bytes: Uint8Array;
}
