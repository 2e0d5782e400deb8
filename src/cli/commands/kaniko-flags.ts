/**
 * kaniko executor flags that `ocibuild build` accepts, so that a kaniko command line runs as it
 * is (kaniko was archived in 2025). Flags with an equivalent are rewritten into it; flags that
 * tune what kaniko needs and ocibuild does not (snapshotting its own file system, its log
 * format, retries it already makes) are accepted and have no effect, which a note says; flags
 * whose only equivalent would weaken TLS for more registries than asked are refused with the
 * flag to use. docs/cli.md lists them.
 * @module
 */
import { UsageError } from '../util.ts';

/** What a kaniko command line asked for beyond the rewritten flags. */
export interface KanikoFlags {
  /** The command line with kaniko's flags rewritten or removed. */
  argv: string[];
  /** `--cache[=true]`: use the cache repo (kaniko infers `DESTINATION/cache` when none is named). */
  cache: boolean;
  /** `--insecure[=true]`: plain HTTP allowed to the registries of the destinations. */
  insecure: boolean;
  /** kaniko flags given that change nothing here, as given (`--snapshot-mode`, `--use-new-run`). */
  ignored: string[];
}

/** kaniko booleans with nothing to do here: ocibuild's behaviour is fixed (always reproducible, never snapshots a shared file system). */
const IGNORED_BOOLEANS = new Set([
  'reproducible',
  'cleanup',
  'use-new-run',
  'single-snapshot',
  'skip-unused-stages',
  'force',
  'log-timestamp',
  'cache-copy-layers',
  'cache-run-layers',
  'compressed-caching',
  'ignore-var-run',
  'skip-push-permission-check',
  'preserve-context',
]);

/** kaniko flags taking a value with nothing to do here (ocibuild retries transient registry failures itself). */
const IGNORED_VALUES = new Set(['snapshot-mode', 'verbosity', 'log-format', 'kaniko-dir', 'image-fs-extract-retry', 'image-download-retry', 'push-retry', 'ignore-path', 'git']);

/** kaniko flags whose equivalent here is broader; the message says what to use. */
const REFUSED: Record<string, string> = {
  'insecure-pull': 'name the base registries with --insecure-registry HOST',
  'skip-tls-verify-pull': 'ocibuild has one --skip-tls-verify for every registry; better, trust the registry with --ca FILE or --cert-dir DIR',
  'skip-tls-verify-registry': 'ocibuild has one --skip-tls-verify for every registry; better, trust the registry with --ca FILE or --cert-dir DIR',
  'image-name-tag-with-digest-file': 'use --image-name-with-digest-file or --metadata-file',
};

/** kaniko's boolean spellings: `--flag`, `--flag=true`, `--flag=false` (also 1/0, t/f as Go parses them). */
function parseBool(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['true', '1', 't'].includes(v)) return true;
  if (['false', '0', 'f'].includes(v)) return false;
  throw new UsageError(`--${name}=${value}: expected true or false`);
}

/**
 * Rewrites kaniko's flags in `argv` (up to a `--`): `--context dir://PATH` → `--context PATH`,
 * `--custom-platform P` → `--platform P`, `--oci-layout-path DIR` → `--to oci:DIR`,
 * `--registry-certificate REG=FILE` → `--ca FILE`; `--cache` and `--insecure` are returned;
 * the no-effect flags are removed and listed. Throws a usage error for a context kaniko fetches
 * (`git://`, `s3://`, `gs://`, `tar://`, `https://`...) and for the refused flags.
 */
export function translateKanikoArgs(argv: readonly string[]): KanikoFlags {
  const out: string[] = [];
  const ignored: string[] = [];
  let cache = false;
  let insecure = false;
  const end = argv.indexOf('--');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (end >= 0 && i >= end) {
      out.push(arg);
      continue;
    }
    // kaniko's short flags that differ from ocibuild's: -c is --context; -v takes a log level
    // (ocibuild's -v is --verbose, a switch).
    if (arg === '-c' || arg.startsWith('-c=')) {
      const context = arg === '-c' ? argv[++i] : arg.slice(3);
      if (context === undefined) throw new UsageError('-c expects a value');
      out.push('--context', localContext(context));
      continue;
    }
    const level = /^-v=?(trace|debug|info|warn|error|fatal|panic)$/i.exec(arg)?.[1] ?? (arg === '-v' && /^(trace|debug|info|warn|error|fatal|panic)$/i.test(argv[i + 1] ?? '') ? argv[++i] : undefined);
    if (level !== undefined) {
      ignored.push('-v');
      continue;
    }
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
    if (match === null) {
      out.push(arg);
      continue;
    }
    const name = match[1] as string;
    const inline = match[2];
    // The value of a flag that takes one: inline, else the next argument.
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || (end >= 0 && i + 1 >= end)) throw new UsageError(`--${name} expects a value`);
      i++;
      return next;
    };
    if (name in REFUSED) throw new UsageError(`--${name} (kaniko) is not accepted: ${REFUSED[name]}`);
    if (IGNORED_BOOLEANS.has(name)) {
      parseBool(name, inline);
      ignored.push(`--${name}`);
    } else if (IGNORED_VALUES.has(name)) {
      value();
      ignored.push(`--${name}`);
    } else if (name === 'cache') {
      cache = parseBool(name, inline);
    } else if (name === 'insecure') {
      insecure = parseBool(name, inline);
    } else if (name === 'context') {
      out.push('--context', localContext(value()));
    } else if (name === 'custom-platform') {
      out.push('--platform', value());
    } else if (name === 'oci-layout-path') {
      out.push('--to', `oci:${value()}`);
    } else if (name === 'registry-certificate') {
      const spec = value();
      const eq = spec.indexOf('=');
      if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--registry-certificate expects REGISTRY=FILE, got ${JSON.stringify(spec)}`);
      out.push('--ca', spec.slice(eq + 1));
    } else {
      out.push(arg);
    }
  }
  return { argv: out, cache, insecure, ignored };
}

/** A context as kaniko names it: PATH or dir://PATH; the remote kinds kaniko fetches are refused. */
function localContext(context: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(context)?.[1]?.toLowerCase();
  if (scheme === undefined) return context;
  if (scheme === 'dir') return context.slice('dir://'.length);
  throw new UsageError(`--context ${context}: ocibuild builds a local folder (dir://PATH or PATH); fetch the ${scheme} context first (git clone, curl | tar -x)`);
}
