/**
 * `ocibuild sbom REF`: print the SBOM attached to an image; and the `--sbom`/`--provenance`
 * flags shared by `build` and `node`.
 * @module
 */
import { InvalidArgumentError, parseSbomFormat, readImageSbom, type BuildOptions, type SbomFormat } from '../../index.ts';
import { parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { REGISTRY_HELP, registryFlags, registryOptions } from './shared.ts';

/** Help text of the attestation flags. */
export const ATTEST_HELP = `  --sbom[=spdx|cyclonedx]  attach an SBOM to each platform image (default format spdx)
  --no-sbom                do not attach an SBOM
  --provenance             attach SLSA v1 provenance (in-toto) to each platform image
  --no-provenance          do not attach provenance`;

/** The attestation flags, for `parseFlags`. */
export const attestFlags = {
  sbom: { type: 'string' },
  'no-sbom': { type: 'boolean' },
  provenance: { type: 'boolean' },
  'no-provenance': { type: 'boolean' },
} as const;

/**
 * `--sbom` alone means `--sbom=spdx` (parseArgs needs a value for a string flag); buildx's
 * spellings are read too: `--sbom=true|false`, `--provenance=true|false`, and
 * `--provenance=mode=min|max` or `--sbom=generator=IMAGE` (their options: ocibuild writes one
 * kind of each, so they only turn it on).
 */
export function normalizeAttestArgs(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => {
    if (end >= 0 && i >= end) return a;
    if (a === '--sbom' || a === '--sbom=true' || a === '--sbom=1' || /^--sbom=[a-z-]+=/.test(a)) return '--sbom=spdx';
    if (a === '--sbom=false' || a === '--sbom=0') return '--no-sbom';
    if (a === '--provenance=true' || a === '--provenance=1' || /^--provenance=[a-z-]+=/.test(a)) return '--provenance';
    if (a === '--provenance=false' || a === '--provenance=0') return '--no-provenance';
    return a;
  });
}

/** The library's format parser, its error turned into a usage error naming `flag`. */
function sbomFormat(text: string, flag: string): SbomFormat {
  try {
    return parseSbomFormat(text);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

/**
 * The options the attestation flags set: `sbom` (a format, or false for `--no-sbom`) and
 * `provenance`, each only when its flag is given (the command's default applies otherwise:
 * off for `build`, on for `node`).
 */
export function attestOptions(values: Record<string, unknown>): Pick<BuildOptions, 'sbom' | 'provenance'> {
  const sbomText = str(values, 'sbom');
  if (sbomText !== undefined && values['no-sbom']) throw new UsageError('--sbom and --no-sbom cannot be combined');
  if (values.provenance && values['no-provenance']) throw new UsageError('--provenance and --no-provenance cannot be combined');
  const sbom = sbomText !== undefined ? sbomFormat(sbomText, '--sbom') : values['no-sbom'] ? false : undefined;
  const provenance = values.provenance ? true : values['no-provenance'] ? false : undefined;
  return { ...(sbom !== undefined ? { sbom } : {}), ...(provenance !== undefined ? { provenance } : {}) };
}

/** `ocibuild sbom REF`. */
export const sbom: Command = {
  name: 'sbom',
  summary: "print the SBOM attached to an image",
  help: `Usage: ocibuild sbom REF [--format spdx|cyclonedx] [--platform OS/ARCH]

Prints the SBOM attached to REF (registry reference, oci:PATH[:TAG]) as an OCI referrer, found
through the registry's referrers API or the sha256-<hex> fallback tag. For an index, the SBOM of
one platform's image (default this host's). Without --format, SPDX is preferred, then CycloneDX.

  --format spdx|cyclonedx  the SBOM format wanted
  --platform OS/ARCH       platform of an index to read the SBOM of
${REGISTRY_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { format: { type: 'string' }, platform: { type: 'string' }, ...registryFlags });
    if (positionals.length !== 1) throw new UsageError('expected one REF');
    const formatText = str(values, 'format');
    const platform = str(values, 'platform');
    const found = await readImageSbom(positionals[0] as string, {
      ...registryOptions(values),
      ...signalOf(io),
      format: formatText !== undefined ? sbomFormat(formatText, '--format') : undefined,
      platform,
    });
    if (io.write) io.write(found.bytes);
    else io.out(new TextDecoder().decode(found.bytes));
    return 0;
  },
};
