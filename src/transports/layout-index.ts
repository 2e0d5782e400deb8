/**
 * The pure part of an OCI layout's `index.json`: the tag annotation, the changes a writer
 * makes, and applying them to a document read from disk (no I/O here).
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';

/** The annotation that names a manifest in `index.json` (the layout's "tag"). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** One change a writer makes to `index.json`: point a tag at a manifest, or list one untagged. */
export type IndexOp =
  | { kind: 'tag'; tag: string; descriptor: Descriptor }
  | { kind: 'untagged'; descriptor: Descriptor; explicit: boolean };

/** `index.json` as read: the manifests list plus any other fields, kept as they were. */
export interface IndexDocument {
  schemaVersion?: number;
  manifests: Descriptor[];
  [extra: string]: unknown;
}

/** Applies tag moves and untagged additions to an index document, returning a new document. */
export function applyOps(base: IndexDocument, ops: readonly IndexOp[], children: ReadonlySet<string>): IndexDocument {
  let manifests = [...base.manifests];
  const tagged = new Set(ops.filter((op) => op.kind === 'tag').map((op) => op.descriptor.digest));
  for (const op of ops) {
    if (op.kind === 'tag') {
      // A tag names one manifest: adding it again moves it; other tags stay.
      manifests = manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== op.tag);
      manifests.push({ ...op.descriptor, annotations: { [REF_NAME_ANNOTATION]: op.tag } });
    } else if (op.explicit || (!children.has(op.descriptor.digest) && !tagged.has(op.descriptor.digest))) {
      // Manifests stored by digest only are listed untagged (as skopeo does for `oci:PATH`),
      // except index children, which the index already references.
      const present = op.explicit
        ? manifests.some((d) => d.digest === op.descriptor.digest && d.annotations?.[REF_NAME_ANNOTATION] === undefined)
        : manifests.some((d) => d.digest === op.descriptor.digest);
      if (!present) {
        manifests.push({ ...op.descriptor });
      }
    }
  }
  return { ...base, schemaVersion: base.schemaVersion ?? 2, manifests };
}

/** Refuses a tag that cannot round-trip through `oci:PATH:TAG` (control characters). */
export function validateTag(tag: string, where: string): void {
  // The layout allows any ref.name; refuse only what cannot round-trip through `oci:PATH:TAG`.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(tag)) {
    throw new InvalidArgumentError(`${where}: invalid tag ${JSON.stringify(tag)}`);
  }
}
