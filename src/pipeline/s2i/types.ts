/**
 * Options of source-to-image builds (`buildImage({ s2i })`), named after `s2i build`'s flags.
 * Pure types.
 * @module
 */
import type { NetworkMode, OutputSink } from '../../run/types.ts';

/**
 * What an s2i build takes, beyond `buildImage`'s own options (`to`, registries, executor...).
 * @category S2I
 */
export interface S2iOptions {
  /** The builder image: a registry reference, `oci:PATH[:TAG]` or `docker-archive:PATH`. */
  builder: string;
  /**
   * The application source: a local directory, or a Git URL. A local directory that is a Git
   * work tree is cloned (only committed files are built, as s2i does) unless {@link copy} is set.
   */
  source: string;
  /** Use the directory as it is on disk instead of a Git clone (`s2i build --copy`). */
  copy?: boolean;
  /** Branch, tag or commit to check out of a Git source (`--ref`). */
  ref?: string;
  /** Do not clone Git submodules (`--ignore-submodules`); by default they are cloned with the source. */
  ignoreSubmodules?: boolean;
  /** Subdirectory of the source holding the application (`--context-dir`). */
  contextDir?: string;
  /**
   * Where the scripts come from, overriding the builder's `io.openshift.s2i.scripts-url` label
   * (`-s/--scripts-url`): `image:///DIR` (inside the builder), `file:///DIR` or a directory
   * path on this machine, or `http(s)://URL`. Scripts found there win over `.s2i/bin/` ones.
   */
  scriptsUrl?: string;
  /** Where the scripts and sources are placed (`-d/--destination`); default the `io.openshift.s2i.destination` label, else `/tmp`. */
  destination?: string;
  /** Environment of `assemble` and of the output image (`-e/--env`); wins over `.s2i/environment`. */
  env?: Record<string, string>;
  /** A file of `KEY=VALUE` lines added like {@link env} (`-E/--environment-file`). */
  environmentFile?: string;
  /** User to run `assemble` as (`--assemble-user`); default the `io.openshift.s2i.assemble-user` label, else the builder's user. */
  assembleUser?: string;
  /** Allowed user ids, `N` or `N-M` joined by commas (`-u/--allowed-uids`): the builder's user must be numeric and inside them. */
  allowedUids?: string;
  /** Reuse artifacts of the previous image (`--incremental`): its `save-artifacts` output lands in `DESTINATION/artifacts`. */
  incremental?: boolean;
  /** The previous image for incremental builds; default the first target. */
  previousImage?: string;
  /** Regular expression of source paths (relative, `/`-separated) left out (`--exclude`); default `(^|/)\.git(/|$)`; `""` leaves nothing out. */
  exclude?: string;
  /** Value of the `io.k8s.display-name` label (default: the first target). */
  displayName?: string;
  /** Value of the `io.k8s.description` label. */
  description?: string;
  /**
   * Host directories visible to `assemble` only (`-i/--inject SRC:DEST`; a relative DEST is
   * under the builder's working directory). They are bind-mounted read-only, so nothing of them
   * reaches the image (s2i copies them in and truncates them afterwards, leaving empty files).
   */
  inject?: { source: string; destination: string }[];
  /** Host directories mounted read-write into the `assemble` sandbox (`-v/--volume SRC:DEST`); never in the image. */
  volumes?: { source: string; destination: string }[];
  /**
   * Extended build (`--runtime-image`): the output is this image plus one layer made by its
   * `assemble-runtime` script, fed with {@link runtimeArtifacts} taken from the builder after
   * `assemble`. Cannot be combined with {@link incremental}.
   */
  runtimeImage?: string;
  /** `SRC[:DEST]` artifacts for {@link runtimeImage} (`-a/--runtime-artifact`); default the runtime image's `io.openshift.s2i.assemble-input-files` label. */
  runtimeArtifacts?: string[];
  /** User to run `assemble-runtime` as (`--assemble-runtime-user`); default the runtime image's user. */
  assembleRuntimeUser?: string;
  /** Network of the script sandboxes (`--network`); default the host's. */
  network?: NetworkMode;
  /** Receives the scripts' stdout live (not `save-artifacts`', which is the artifacts stream). */
  stdout?: OutputSink;
  /** Receives the scripts' stderr live. */
  stderr?: OutputSink;
  /** Called when a script starts (`save-artifacts`, `assemble`, `assemble-runtime`), so output can be labelled. */
  onScript?: (script: string) => void;
  /** Receives notes (clean build instead of incremental, and why). */
  onNote?: (message: string) => void;
}
