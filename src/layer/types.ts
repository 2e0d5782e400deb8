/**
 * Layer specifications (what goes into a layer) and built layers (what came out).
 * @module
 */
import type { Descriptor } from '../oci/types.ts';

/**
 * Ownership and metadata every entry may override. Unset fields take the layer defaults.
 * @category Layers
 */
export interface EntryMetadata {
  /** Permission bits (and setuid/setgid/sticky), e.g. `0o644`. Default: from disk for host files, 0o644 files / 0o755 dirs otherwise. */
  mode?: number;
  /** Owner uid. Default 0. */
  uid?: number;
  /** Owner gid. Default 0. */
  gid?: number;
  /** Owner user name stored in the tar header. Default empty. */
  uname?: string;
  /** Owner group name stored in the tar header. Default empty. */
  gname?: string;
  /** Modification time. Default: SOURCE_DATE_EPOCH, else 1970-01-01T00:00:01Z. */
  mtime?: Date;
}

/**
 * One explicit entry of a layer. `path` is the absolute or relative path inside the image.
 * @category Layers
 */
export type LayerEntry =
  | ({ type: 'file'; path: string; source: string | Uint8Array } & EntryMetadata)
  | ({ type: 'directory'; path: string } & EntryMetadata)
  | ({ type: 'symlink'; path: string; target: string } & EntryMetadata)
  | ({ type: 'hardlink'; path: string; target: string } & EntryMetadata)
  | { type: 'whiteout'; path: string }
  | { type: 'opaque'; path: string };

/**
 * A host directory copied into a layer.
 * @category Layers
 */
export interface DirectorySource {
  /** Host directory. */
  source: string;
  /** Destination directory inside the image (default `/`). */
  destination?: string;
  /** Glob patterns (relative to `source`, `**` allowed); when given only matching paths are included. */
  include?: readonly string[];
  /** Glob patterns to leave out (a matching directory leaves out everything under it). */
  exclude?: readonly string[];
  /** Extra filter on the relative path (POSIX separators). */
  filter?: (relativePath: string) => boolean;
  /** Metadata applied to every entry from this source (overrides what the disk says). */
  metadata?: EntryMetadata;
}

/**
 * Everything one layer is made of.
 * @category Layers
 */
export interface LayerSpec {
  /** Host directories to copy. */
  directories?: readonly DirectorySource[];
  /** Explicit entries. */
  entries?: readonly LayerEntry[];
  /** Metadata for parent directories the writer has to create. Default root-owned 0o755. */
  parents?: EntryMetadata;
  /** Normalise modes to 0o644/0o755 (executable bit kept) instead of keeping disk modes. */
  normalizeModes?: boolean;
  /** Default mtime for every entry (overrides SOURCE_DATE_EPOCH). */
  mtime?: Date;
  /** History `created_by` text for this layer. */
  createdBy?: string;
  /** History comment. */
  comment?: string;
  /**
   * An already-written layer (a watcher's memo of a dependency layer it knows unchanged):
   * `buildImage` takes what this returns as the layer, without listing or reading anything,
   * and the other fields but `createdBy` and `comment` are ignored. `cached` says whether the
   * layer was reused (counted in `layersCached`) rather than written (`layersBuilt`). Its file
   * must outlive the build.
   */
  prebuilt?: () => Promise<{ layer: BuiltLayer; cached: boolean }>;
}

/**
 * A written layer: the compressed blob's descriptor, its diffID, and a way to read it back.
 * @category Layers
 */
export interface BuiltLayer {
  /** Descriptor of the compressed blob. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** Size of the uncompressed tar in bytes. */
  uncompressedSize: number;
  /** Number of entries in the tar. */
  entryCount: number;
  /** Re-reads the compressed blob from where it was spilled. */
  open(): AsyncIterable<Uint8Array>;
  /** Where the compressed blob lives on disk. */
  path: string;
}

/** Tar entry types a resolved layer entry can have. */
export type ResolvedEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'fifo' | 'char-device' | 'block-device';

/**
 * One normalised entry exactly as it will be written to the tar, in write order
 * (see `listLayerEntries`). Whiteouts appear as empty `file` entries named `.wh.NAME`.
 */
export interface ResolvedLayerEntry {
  /** Normalised path: relative, POSIX, no leading `/` or `./`, no trailing `/`. */
  path: string;
  /** Tar entry type. */
  type: ResolvedEntryType;
  /** Permission bits incl. setuid/setgid/sticky (no file type bits). */
  mode: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Owner user name (usually empty). */
  uname: string;
  /** Owner group name (usually empty). */
  gname: string;
  /** Modification time in whole seconds since the Unix epoch. */
  mtime: number;
  /** Content size in bytes (0 for everything but files). */
  size: number;
  /** Symlink target as given, or the normalised path a hardlink points to. */
  linkname?: string;
  /** Device major number (devices only). */
  devmajor?: number;
  /** Device minor number (devices only). */
  devminor?: number;
  /** Host path the content comes from, when it comes from disk. */
  source?: string;
  /** Streams the content (files only). MUST yield exactly `size` bytes or throw. */
  open?: () => AsyncIterable<Uint8Array>;
}

/**
 * Something a layer writer reports without failing (a skipped socket, for example).
 * @category Layers
 */
export interface LayerEvent {
  /** Event type. */
  type: 'warning';
  /** Host path concerned. */
  path: string;
  /** What happened. */
  message: string;
}
