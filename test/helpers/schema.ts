/**
 * Validation of documents against the OCI image-spec JSON Schemas, vendored under
 * `test/vectors/oci-image-spec` (origin and licence in `test/vectors/README.md`). Compiled once per process.
 *
 * Usage from any test: `validateOci('manifest', JSON.parse(text))` throws an AssertionError
 * listing every schema error; `ociSchemaErrors(...)` returns them instead.
 * @module
 */
import { AssertionError } from 'node:assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvDraft04 from 'ajv-draft-04';
import type { ErrorObject, Options, ValidateFunction } from 'ajv-draft-04';

/** The constructor type of the Ajv draft-04 class (the default export's runtime shape varies with the loader). */
type AjvConstructor = new (options: Options) => {
  addSchema(schema: object, key: string): unknown;
  getSchema(key: string): ValidateFunction | undefined;
};

/** The document kinds that have a top-level OCI schema. */
export type OciSchemaKind = 'manifest' | 'index' | 'config' | 'layout';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Folder of the upstream schema files. */
export const OCI_SCHEMA_DIR = path.join(repoRoot, 'test/vectors/oci-image-spec');

const BASE = 'https://opencontainers.org/schema/';

/**
 * Each file under every URL its `$ref`s are resolved against, as upstream's Go validator
 * registers them (see test/vectors/README.md). `defs-descriptor.json`'s own inner id
 * (`image/descriptor/mediaType`) is registered by Ajv from the file itself.
 */
const SCHEMA_URLS: Record<string, string[]> = {
  'config-schema.json': ['image/config'],
  'content-descriptor.json': ['descriptor', 'image/content-descriptor.json'],
  'defs-descriptor.json': ['defs-descriptor.json', 'image/defs-descriptor.json'],
  'defs.json': ['defs.json', 'image/defs.json', 'image/descriptor/defs.json'],
  'image-index-schema.json': ['image/index'],
  'image-layout-schema.json': ['image/layout'],
  'image-manifest-schema.json': ['image/manifest'],
};

const TOP_LEVEL: Record<OciSchemaKind, string> = {
  manifest: `${BASE}image/manifest`,
  index: `${BASE}image/index`,
  config: `${BASE}image/config`,
  layout: `${BASE}image/layout`,
};

/** RFC 3339 date-time (what the spec's `format: date-time` means). */
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

let validators: Map<OciSchemaKind, ValidateFunction> | undefined;

/** Throws an AssertionError listing every schema error when `doc` is not a valid OCI `kind` document. */
export function validateOci(kind: OciSchemaKind, doc: unknown): void {
  const errors = ociSchemaErrors(kind, doc);
  if (errors.length > 0) {
    throw new AssertionError({
      message: `not a valid OCI ${kind}:\n  ${errors.join('\n  ')}`,
      actual: doc,
      expected: `a document valid against ${TOP_LEVEL[kind]}`,
      operator: 'validateOci',
    });
  }
}

/** Returns the schema errors of `doc` as `path: message` lines (empty when valid). */
export function ociSchemaErrors(kind: OciSchemaKind, doc: unknown): string[] {
  const validate = compiled().get(kind);
  if (validate === undefined) throw new Error(`no OCI schema for ${kind}`);
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(formatError);
}

function formatError(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(document)' : error.instancePath;
  const params = error.keyword === 'required' || error.keyword === 'pattern' ? ` ${JSON.stringify(error.params)}` : '';
  return `${where}: ${error.message ?? error.keyword}${params}`;
}

function compiled(): Map<OciSchemaKind, ValidateFunction> {
  if (validators !== undefined) return validators;
  // The package is CommonJS; depending on the loader its class is the default export or `.default` of it.
  const module = AjvDraft04 as unknown as AjvConstructor & { default?: AjvConstructor };
  const Ajv = module.default ?? module;
  const ajv = new Ajv({
    allErrors: true,
    // The spec schemas use the draft-04 `media` annotation, which Ajv does not know.
    strict: false,
    formats: {
      'date-time': (value: string) => DATE_TIME_RE.test(value) && !Number.isNaN(Date.parse(value)),
      uri: (value: string) => URL.canParse(value),
    },
  });
  for (const [file, urls] of Object.entries(SCHEMA_URLS)) {
    const schema = stripRefSiblingIds(JSON.parse(readFileSync(path.join(OCI_SCHEMA_DIR, file), 'utf8')));
    for (const url of urls) ajv.addSchema({ ...(schema as object), id: BASE + url }, BASE + url);
  }
  const result = new Map<OciSchemaKind, ValidateFunction>();
  for (const [kind, url] of Object.entries(TOP_LEVEL) as [OciSchemaKind, string][]) {
    const validate = ajv.getSchema(url);
    if (validate === undefined) throw new Error(`OCI schema ${url} did not compile`);
    result.set(kind, validate);
  }
  validators = result;
  return result;
}

/**
 * Removes `id` from every schema object that also has `$ref`. Draft-04 says a `$ref` object's
 * other members are ignored; Ajv would instead let that `id` change the base URI and then fail
 * to resolve the relative `$ref` (e.g. `image/manifest/annotations` → `defs-descriptor.json`).
 */
function stripRefSiblingIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripRefSiblingIds);
  if (typeof value !== 'object' || value === null) return value;
  const hasRef = '$ref' in value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (key === 'id' && hasRef) continue;
    out[key] = stripRefSiblingIds(member);
  }
  return out;
}
