/**
 * Platforms (`os/architecture[/variant]`): parsing, formatting, normalisation and matching.
 * Normalisation follows containerd's `platforms` package, which is what Docker, BuildKit and
 * most registries' clients agree on, so `linux/aarch64`, `linux/arm64` and `linux/arm64/v8`
 * all name the same thing.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import type { Platform } from './types.ts';

/** One `os`, `architecture` or `variant` component: GOOS/GOARCH spellings plus `.`, `_` and `-`. */
const COMPONENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`). The result is exactly what was written;
 * call {@link normalizePlatform} to compare or deduplicate. Throws `ERR_INVALID_PLATFORM`.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !COMPONENT.test(part))) {
    throw new OcibuildError(
      'ERR_INVALID_PLATFORM',
      `invalid platform ${JSON.stringify(text)}: expected os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Formats a platform as `os/architecture[/variant]` (other fields are not shown). */
export function formatPlatform(platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant ? `${base}/${platform.variant}` : base;
}

/**
 * Returns the canonical form of a platform (a new object; `os.version` and `os.features` are kept):
 * lower-case OS; `aarch64` → `arm64`; `x86_64`/`x86-64` → `amd64`; `i386`/`i686` → `386`;
 * `armhf` → `arm/v7`; `armel` → `arm/v6`; bare `arm` → `arm/v7`; numeric variants get a `v`.
 * Default variants are dropped (`arm64/v8` → `arm64`, `amd64/v1` → `amd64`) so that a platform
 * written with and without its default variant normalises to the same value.
 */
export function normalizePlatform(platform: Platform): Platform {
  let os = platform.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() ?? '';
  switch (architecture) {
    case 'i386':
    case 'i686':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1' || variant === '1') variant = '';
      else if (/^[0-9]$/.test(variant)) variant = `v${variant}`;
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      // v8 is the baseline every arm64 CPU implements: Docker writes it, containerd drops it.
      if (variant === 'v8' || variant === '8' || variant === 'v8.0') variant = '';
      else if (/^[0-9]+(\.[0-9]+)?$/.test(variant)) variant = `v${variant}`;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      // 32-bit arm without a variant means v7 (Docker Hub's and containerd's default).
      if (variant === '') variant = 'v7';
      else if (/^[0-9]+$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const result: Platform = { os, architecture };
  if (variant !== '') result.variant = variant;
  if (platform['os.version'] !== undefined) result['os.version'] = platform['os.version'];
  if (platform['os.features'] !== undefined) result['os.features'] = [...platform['os.features']];
  return result;
}

/**
 * True when an image for `have` satisfies a request for `want`: same normalised OS,
 * architecture and variant (so a `want` without a variant matches the default variant only).
 * When `want` names an `os.version`, `have` must carry the same one.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture || (w.variant ?? '') !== (h.variant ?? '')) return false;
  return w['os.version'] === undefined || w['os.version'] === h['os.version'];
}

/**
 * A stable string key for maps and deduplication: the normalised `os/architecture[/variant]`,
 * prefixed with the OS version in parentheses when there is one (`windows(10.0.17763)/amd64`).
 */
export function platformKey(platform: Platform): string {
  const n = normalizePlatform(platform);
  const os = n['os.version'] ? `${n.os}(${n['os.version']})` : n.os;
  return formatPlatform({ ...n, os });
}

const NODE_OS: Record<string, string> = { win32: 'windows', sunos: 'solaris' };
const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  ppc64: 'ppc64le', // Node reports Linux ppc64le as 'ppc64'; little-endian is the only one Node supports there.
  loong64: 'loong64',
  mipsel: 'mipsle',
};

/**
 * The platform this process runs on, in OCI (GOOS/GOARCH) spelling, normalised. `node` gives
 * Node's own spellings to translate instead of this process's (`platform` as `process.platform`,
 * `arch` as `process.arch`, `armVersion` as Node's build variable `arm_version`).
 */
export function hostPlatform(
  node: { platform: string; arch: string; armVersion?: unknown } = {
    platform: process.platform,
    arch: process.arch,
    armVersion: (process.config.variables as Record<string, unknown>)['arm_version'],
  },
): Platform {
  const os = NODE_OS[node.platform] ?? node.platform;
  const architecture = NODE_ARCH[node.arch] ?? node.arch;
  if (architecture === 'arm') {
    const armVersion = node.armVersion;
    const variant = typeof armVersion === 'string' || typeof armVersion === 'number' ? `v${armVersion}` : 'v7';
    return normalizePlatform({ os, architecture, variant });
  }
  return normalizePlatform({ os, architecture });
}
