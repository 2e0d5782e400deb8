/**
 * npm's view of a platform (`os`, `cpu`, `libc` as package.json spells them) and the matching
 * rules npm applies to a package's `os`/`cpu`/`libc` lists (a `!` entry excludes; an
 * allow-list admits only what it names). Pure: no I/O.
 * @module
 */
import type { Platform } from '../oci/types.ts';

/** A C library, as package.json's `libc` field names it. */
export type Libc = 'glibc' | 'musl';

/** A target in npm's terms. */
export interface NpmTarget {
  /** `process.platform` spelling (`linux`). */
  os: string;
  /** `process.arch` spelling (`x64`, `arm64`). */
  cpu: string;
  /** The C library; undefined when unknown (then `libc`-restricted packages never match). */
  libc: Libc | undefined;
}

/** The platform fields of a package (from its package.json or its lockfile entry). */
export interface PlatformFields {
  /** Allowed / excluded operating systems. */
  os?: unknown;
  /** Allowed / excluded CPUs. */
  cpu?: unknown;
  /** Allowed / excluded C libraries. */
  libc?: unknown;
}

const CPU_OF_ARCH: Record<string, string> = { amd64: 'x64', arm64: 'arm64', arm: 'arm', '386': 'ia32', ppc64le: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64le: 'mips64el' };

/** The npm target of an OCI platform (`linux/amd64` → `linux`/`x64`) with the base's libc. */
export function npmTarget(platform: Platform, libc: Libc | undefined): NpmTarget {
  return { os: platform.os, cpu: CPU_OF_ARCH[platform.architecture] ?? platform.architecture, libc };
}

/** The machine running this process (where node_modules was installed, as far as ocibuild can know). */
export function hostTarget(): NpmTarget {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc: Libc | undefined = process.platform !== 'linux' ? undefined : header?.glibcVersionRuntime !== undefined ? 'glibc' : 'musl';
  return { os: process.platform, cpu: process.arch, libc };
}

/** Same os, cpu and libc. */
export function sameTarget(a: NpmTarget, b: NpmTarget): boolean {
  return a.os === b.os && a.cpu === b.cpu && a.libc === b.libc;
}

/** `linux/arm64/musl`, for messages. */
export function formatTarget(t: NpmTarget): string {
  return `${t.os}/${t.cpu}${t.libc !== undefined ? `/${t.libc}` : ''}`;
}

function allows(list: unknown, value: string | undefined): boolean {
  if (!Array.isArray(list) || list.length === 0) return true;
  const entries = list.filter((e): e is string => typeof e === 'string');
  if (value === undefined) return false;
  if (entries.includes(`!${value}`)) return false;
  const positive = entries.filter((e) => !e.startsWith('!'));
  return positive.length === 0 || positive.includes(value) || positive.includes('any');
}

/** True when a package with these fields installs on `target` (npm-install-checks' rule). */
export function platformAllows(fields: PlatformFields, target: NpmTarget): boolean {
  const hasLibc = Array.isArray(fields.libc) && fields.libc.length > 0;
  // npm checks libc only on Linux.
  return allows(fields.os, target.os) && allows(fields.cpu, target.cpu) && (!hasLibc || target.os !== 'linux' || allows(fields.libc, target.libc));
}

/** True when the fields restrict the platform at all (such a package is platform-specific). */
export function isPlatformSpecific(fields: PlatformFields): boolean {
  return [fields.os, fields.cpu, fields.libc].some((f) => Array.isArray(f) && f.length > 0);
}
