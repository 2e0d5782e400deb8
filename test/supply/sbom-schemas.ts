/**
 * Validation of SBOMs against the published schemas vendored under `test/vectors/sbom/` (origin
 * and licences in `test/vectors/sbom/README.md`): SPDX 2.3 (JSON Schema 2019-09) and CycloneDX
 * 1.5 (draft-07, with the SPDX licence-id and JSF schemas it refers to). Compiled once per process.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2019Module from 'ajv/dist/2019.js';
import AjvModule from 'ajv';
import type { ErrorObject, Options, ValidateFunction } from 'ajv';

type AjvInstance = { addSchema(schema: object, key?: string): unknown; compile(schema: object): ValidateFunction };
type AjvConstructor = new (options: Options) => AjvInstance;

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../vectors/sbom');
const readJson = (file: string): object => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as object;

/** RFC 3339 date-time, as both schemas' `format: date-time` means it. */
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The formats the schemas use, checked minimally (ajv-formats is not installed). */
const FORMATS = {
  'date-time': (value: string) => DATE_TIME_RE.test(value) && !Number.isNaN(Date.parse(value)),
  uri: (value: string) => URL.canParse(value),
  'iri-reference': (value: string) => !/\s/.test(value),
  'idn-email': (value: string) => /^[^@\s]+@[^@\s]+$/.test(value),
};

function constructorOf(module: unknown): AjvConstructor {
  // CommonJS packages: the class is the default export or `.default` of it, depending on the loader.
  const m = module as AjvConstructor & { default?: AjvConstructor };
  return m.default ?? m;
}

let spdx: ValidateFunction | undefined;
let cyclonedx: ValidateFunction | undefined;

function format(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath === '' ? '(document)' : e.instancePath}: ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

/** The SPDX 2.3 schema errors of `doc` (empty when valid). */
export function spdxSchemaErrors(doc: unknown): string[] {
  if (spdx === undefined) {
    const Ajv2019 = constructorOf(Ajv2019Module);
    spdx = new Ajv2019({ allErrors: true, strict: false, formats: FORMATS }).compile(readJson('spdx/spdx-schema.json'));
  }
  return spdx(doc) ? [] : format(spdx.errors);
}

/** The CycloneDX 1.5 schema errors of `doc` (empty when valid). */
export function cycloneDxSchemaErrors(doc: unknown): string[] {
  if (cyclonedx === undefined) {
    const Ajv = constructorOf(AjvModule);
    const ajv = new Ajv({ allErrors: true, strict: false, formats: FORMATS });
    // Registered at the URLs bom-1.5's relative `$ref`s resolve to (against its `$id`).
    for (const file of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) {
      ajv.addSchema({ ...readJson(`cyclonedx/${file}`), $id: `http://cyclonedx.org/schema/${file}` });
    }
    cyclonedx = ajv.compile(readJson('cyclonedx/bom-1.5.SNAPSHOT.schema.json'));
  }
  return cyclonedx(doc) ? [] : format(cyclonedx.errors);
}
