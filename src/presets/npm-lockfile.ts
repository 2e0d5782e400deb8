/**
 * Reading npm's package-lock.json / npm-shrinkwrap.json (lockfileVersion 2 and 3, whose
 * `packages` map names every installed path, including the optional packages of every
 * platform with their `os`/`cpu`/`libc`, `resolved` URL and `integrity`). Version 1 files
 * have no such map: they are reported as such, never guessed from.
 * @module
 */
import * as fs from 'node:fs/promises';
import { InvalidArgumentError, LimitExceededError } from '../errors.ts';
import type { PlatformFields } from './npm-platform.ts';
import { jsonErrorText } from './project.ts';

/** Lockfiles bigger than this are refused (the largest real ones are tens of MiB). */
export const MAX_LOCKFILE_BYTES = 256 * 1024 * 1024;

/** One entry of `packages` (only the fields ocibuild uses). */
export interface NpmLockEntry extends PlatformFields {
  /** Version installed. */
  version?: string;
  /** Tarball URL. */
  resolved?: string;
  /** Subresource-integrity string (`sha512-...`). */
  integrity?: string;
  /** True for a link to a workspace or local directory. */
  link?: boolean;
  /** Only devDependencies need it. */
  dev?: boolean;
  /** Only optional dependencies need it. */
  optional?: boolean;
  /** Declared dependencies of that package. */
  dependencies?: Record<string, string>;
  /** Declared optional dependencies. */
  optionalDependencies?: Record<string, string>;
}

/** A parsed npm lockfile. */
export interface NpmLockfile {
  /** Where it was read. */
  file: string;
  /** `lockfileVersion`. */
  version: number;
  /** `packages`, keyed by path relative to the project root (`node_modules/a`); undefined for version 1. */
  packages: Map<string, NpmLockEntry> | undefined;
}

/** Reads an npm lockfile; throws `ERR_INVALID_ARGUMENT` naming the file when it is not one. */
export async function readNpmLockfile(file: string): Promise<NpmLockfile> {
  const { size } = await fs.stat(file);
  if (size > MAX_LOCKFILE_BYTES) throw new LimitExceededError('maxLockfileBytes', MAX_LOCKFILE_BYTES, `${file}: ${size} bytes, more than the ${MAX_LOCKFILE_BYTES} a lockfile may have`);
  const text = await fs.readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not valid JSON (${jsonErrorText(text, error)})`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`${file}: not a JSON object`);
  const doc = parsed as { lockfileVersion?: unknown; packages?: unknown };
  const version = typeof doc.lockfileVersion === 'number' ? doc.lockfileVersion : 1;
  if (doc.packages === undefined) return { file, version, packages: undefined };
  if (doc.packages === null || typeof doc.packages !== 'object' || Array.isArray(doc.packages)) throw new InvalidArgumentError(`${file}: "packages" is not an object`);
  const packages = new Map<string, NpmLockEntry>();
  for (const [key, value] of Object.entries(doc.packages as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(`${file}: "packages" entry ${JSON.stringify(key)} is not an object`);
    packages.set(key, value as NpmLockEntry);
  }
  return { file, version, packages };
}
