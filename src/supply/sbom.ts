/**
 * SBOM documents: {@link sbomDocument} writes an {@link SbomInput} as SPDX 2.3 JSON (the default
 * format) or CycloneDX 1.5 JSON, ready to attach to the image as a referrer. Output depends only
 * on the input: packages and relationships sorted, identifiers derived from content, the creation
 * time taken from `input.created`; so the SBOM's digest is as reproducible as the image's.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { cycloneDxDocument } from './sbom-cyclonedx.ts';
import { isoSeconds } from './sbom-common.ts';
import { spdxDocument } from './sbom-spdx.ts';
import type { Attachment, SbomFormat, SbomInput } from './types.ts';

export { spdxDocument } from './sbom-spdx.ts';
export { cycloneDxDocument } from './sbom-cyclonedx.ts';

/** Media type (and artifact type) of an SPDX JSON document. */
export const SPDX_JSON_MEDIA_TYPE = 'application/spdx+json';
/** Media type (and artifact type) of a CycloneDX JSON BOM. */
export const CYCLONEDX_JSON_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

/** The format written when none is asked for. */
export const DEFAULT_SBOM_FORMAT: SbomFormat = 'spdx';

/** The SBOM formats, in the order they are documented. */
export const SBOM_FORMATS: readonly SbomFormat[] = ['spdx', 'cyclonedx'];

/**
 * An SBOM written in one format: an {@link Attachment} that also says its format.
 * @category Supply chain
 */
export interface SbomDocument extends Attachment {
  /** The format of `bytes`. */
  readonly format: SbomFormat;
}

/** The media type of an SBOM format (`application/spdx+json`, `application/vnd.cyclonedx+json`). */
export function sbomMediaType(format: SbomFormat): string {
  switch (format) {
    case 'spdx':
      return SPDX_JSON_MEDIA_TYPE;
    case 'cyclonedx':
      return CYCLONEDX_JSON_MEDIA_TYPE;
    default:
      throw new InvalidArgumentError(`unknown SBOM format ${JSON.stringify(format)}: expected one of ${SBOM_FORMATS.join(', ')}`);
  }
}

/**
 * Parses a user's format name (`spdx`, `cyclonedx`, case-insensitive). Throws `ERR_INVALID_ARGUMENT` naming the choices.
 * @category Supply chain
 * @example
 * ```ts
 * import { parseSbomFormat } from 'ocibuild';
 *
 * // 'spdx' or 'cyclonedx' from what a user typed; anything else throws ERR_INVALID_ARGUMENT.
 * const format = parseSbomFormat(process.env.SBOM_FORMAT ?? 'SPDX');
 * console.log(format);
 * ```
 */
export function parseSbomFormat(text: string): SbomFormat {
  const lower = text.trim().toLowerCase();
  if (lower === 'spdx' || lower === 'cyclonedx') return lower;
  throw new InvalidArgumentError(`unknown SBOM format ${JSON.stringify(text)}: expected one of ${SBOM_FORMATS.join(', ')}`);
}

/**
 * Writes `input` in `format` and returns the bytes with the media type, which is also the
 * artifact type of the referrer manifest that carries them, and the
 * `org.opencontainers.image.created` annotation (from `input.created`).
 * @category Supply chain
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { sbomDocument } from 'ocibuild';
 *
 * const sbom = sbomDocument('spdx', {
 *   subject: { name: 'registry.example/app:1' },
 *   packages: [{ name: 'debug', version: '4.3.4', purl: 'pkg:npm/debug@4.3.4', ecosystem: 'npm' }],
 *   created: new Date(0),
 *   tool: { name: 'my-tool', version: '1.0.0' },
 * });
 * await writeFile('sbom.spdx.json', sbom.bytes);
 * ```
 */
export function sbomDocument(format: SbomFormat, input: SbomInput): SbomDocument {
  const mediaType = sbomMediaType(format);
  const bytes = format === 'spdx' ? spdxDocument(input) : cycloneDxDocument(input);
  return {
    format,
    artifactType: mediaType,
    mediaType,
    bytes,
    annotations: { 'org.opencontainers.image.created': isoSeconds(input.created) },
  };
}

/**
 * The creation time of an SBOM: `sourceDateEpoch` (seconds, as `SOURCE_DATE_EPOCH`) when given,
 * else the image config's `created`, else the Unix epoch. Never the clock, so the SBOM is as
 * reproducible as the image. Throws `ERR_INVALID_ARGUMENT` for a negative or non-integer epoch
 * or an unparseable `created`.
 */
export function sbomCreated(sourceDateEpoch: number | undefined, imageCreated: string | undefined): Date {
  if (sourceDateEpoch !== undefined) {
    if (!Number.isSafeInteger(sourceDateEpoch) || sourceDateEpoch < 0) {
      throw new InvalidArgumentError(`SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got ${String(sourceDateEpoch)}`);
    }
    return new Date(sourceDateEpoch * 1000);
  }
  if (imageCreated !== undefined) {
    const time = Date.parse(imageCreated);
    if (Number.isNaN(time)) throw new InvalidArgumentError(`image config "created" ${JSON.stringify(imageCreated)} is not a date`);
    return new Date(time);
  }
  return new Date(0);
}
