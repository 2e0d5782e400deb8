/**
 * The labels s2i writes on its output image: `io.k8s.display-name`/`description`, and
 * `io.openshift.s2i.build.*` (builder image, source location, context dir, commit facts),
 * set over the base image's labels; and the output config. Pure.
 * @module
 */
import type { ImageConfig } from '../../oci/types.ts';
import type { SourceInfo } from './source.ts';
import type { S2iOptions } from './types.ts';

/** The namespace of s2i's build labels. */
export const S2I_LABEL_NAMESPACE = 'io.openshift.s2i.';

/** What the output labels are made of. */
export interface OutputLabelInput {
  /** The builder as given. */
  builder: string;
  /** Source facts. */
  info: SourceInfo;
  /** `io.k8s.display-name`. */
  displayName?: string | undefined;
  /** `io.k8s.description`. */
  description?: string | undefined;
}

/** The builder's labels with s2i's generated ones set over them (empty values are left out, as s2i does). */
export function outputLabels(builderLabels: Readonly<Record<string, string>> | undefined, input: OutputLabelInput): Record<string, string> {
  const labels: Record<string, string> = { ...(builderLabels ?? {}) };
  const set = (key: string, value: string | undefined): void => {
    if (value) labels[key] = value;
  };
  set('io.k8s.description', input.description);
  set('io.k8s.display-name', input.displayName);
  const build = (key: string, value: string | undefined): void => set(`${S2I_LABEL_NAMESPACE}build.${key}`, value);
  const { info } = input;
  build('image', input.builder);
  build('commit.author', info.author);
  build('commit.date', info.date);
  build('commit.id', info.commitId);
  build('commit.ref', info.ref);
  build('commit.message', info.message);
  build('source-location', info.location);
  build('source-context-dir', info.contextDir);
  return labels;
}

/** The label input of an s2i build: its builder and names, and the first of `to` as the display name unless one is given. */
export function outputLabelInput(s2i: Pick<S2iOptions, 'builder' | 'displayName' | 'description'>, info: SourceInfo, to: string | readonly string[]): OutputLabelInput {
  const targets = typeof to === 'string' ? [to] : to;
  return { builder: s2i.builder, info, displayName: s2i.displayName ?? targets[0], description: s2i.description };
}

/** The output image's config: `image`'s, with `Cmd` the run script, `Env` the build environment, and s2i's labels. */
export function outputConfig(image: ImageConfig, run: string, env: string[], labels: OutputLabelInput): ImageConfig {
  const config = image.config ?? {};
  return { ...image, config: { ...config, Cmd: [run], Env: env, Labels: outputLabels(config.Labels, labels) } };
}
