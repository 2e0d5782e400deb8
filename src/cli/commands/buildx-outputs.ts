/**
 * buildx's output flags on `ocibuild build`: `--push`, `--load` and `-o`/`--output TYPE...`.
 * With any of them, `-t` names the image as in buildx (a registry reference is pushed only with
 * `--push` or a registry output, loaded with `--load`); without them, `-t`/`--to` is a target
 * as always. docs/cli.md lists the mapping.
 * @module
 */
import { parseTarget } from '../../index.ts';
import { UsageError } from '../util.ts';

/** The flags as given. */
export interface BuildxOutputFlags {
  /** `-t`/`--to` values. */
  to: readonly string[];
  /** `-o`/`--output` values. */
  outputs: readonly string[];
  /** `--push`. */
  push: boolean;
  /** `--load`. */
  load: boolean;
}

/** buildx's CSV (`type=local,dest=out`); a value without `=` is `dest` of a local output, as buildx reads `-o DIR`. */
function parseOutput(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!spec.includes('=')) {
    out.set('type', 'local');
    out.set('dest', spec);
    return out;
  }
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--output ${spec}: expected key=value pairs separated by commas (type=local,dest=DIR)`);
    out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return out;
}

/** Whether a boolean option of an output is on (`push=true`). */
function flag(o: Map<string, string>, key: string, spec: string): boolean {
  const value = o.get(key);
  if (value === undefined) return false;
  if (['true', '1'].includes(value.toLowerCase())) return true;
  if (['false', '0'].includes(value.toLowerCase())) return false;
  throw new UsageError(`--output ${spec}: ${key}=${value}: expected true or false`);
}

/**
 * The targets buildx's flags ask for, or undefined when none of them is given (then `to` is
 * used as it is). Usage errors for an output ocibuild cannot write (`dest=-`, an OCI tarball,
 * an unknown type) and for `--load`/`type=docker` without a name.
 */
export function buildxTargets(flags: BuildxOutputFlags): string[] | undefined {
  if (flags.outputs.length === 0 && !flags.push && !flags.load) return undefined;
  const names: string[] = [];
  const targets: string[] = [];
  for (const t of flags.to) (parseTarget(t).kind === 'registry' ? names : targets).push(t);
  const loadNames = (what: string): string[] => {
    if (names.length === 0) throw new UsageError(`${what} loads the image under its -t name: give one (-t app:1)`);
    return names.map((n) => `docker-daemon:${n}`);
  };
  if (flags.push) targets.push(...names);
  if (flags.load) targets.push(...loadNames('--load'));
  for (const spec of flags.outputs) {
    const o = parseOutput(spec);
    const type = o.get('type');
    const dest = o.get('dest');
    if (dest === '-') throw new UsageError(`--output ${spec}: writing to standard output is not supported: name a file (dest=FILE)`);
    const needDest = (): string => {
      if (dest === undefined || dest === '') throw new UsageError(`--output ${spec}: needs dest=PATH`);
      return dest;
    };
    switch (type) {
      case 'local':
        targets.push(`local:${needDest()}`);
        break;
      case 'tar':
        targets.push(`tar:${needDest()}`);
        break;
      case 'oci':
        if (o.get('tar') === undefined || flag(o, 'tar', spec)) {
          throw new UsageError(`--output ${spec}: ocibuild writes an OCI layout as a folder: add tar=false (type=oci,dest=DIR,tar=false), or use --to oci:DIR`);
        }
        targets.push(`oci:${needDest()}`);
        break;
      case 'docker':
        targets.push(...(dest !== undefined && dest !== '' ? [`docker-archive:${dest}${names[0] !== undefined ? `:${names[0]}` : ''}`] : loadNames(`--output ${spec}`)));
        break;
      case 'image':
      case 'registry': {
        const named = o.get('name')?.split(/[,\s]+/).filter((n) => n !== '') ?? names;
        if (named.length === 0) throw new UsageError(`--output ${spec}: needs name=REF or -t REF`);
        // type=image pushes only with push=true (buildx keeps it in the builder otherwise, which ocibuild has not got).
        if (type === 'registry' || flag(o, 'push', spec)) targets.push(...named);
        break;
      }
      default:
        throw new UsageError(`--output ${spec}: type must be local, tar, oci (tar=false), docker, image or registry`);
    }
  }
  return [...new Set(targets)];
}
