/**
 * Where each s2i script comes from, in s2i's order: the `--scripts-url` location, then the
 * source's `.s2i/bin/`, then the builder's `io.openshift.s2i.scripts-url` label (or the older
 * `STI_SCRIPTS_URL` variable), then `image:///usr/libexec/s2i`. Scripts inside the builder
 * (`image://`) run in place; the others are uploaded to `DESTINATION/scripts/`, as s2i does.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S2iError } from './errors.ts';

/** The names of s2i scripts. */
export type ScriptName = 'assemble' | 'run' | 'save-artifacts' | 'usage' | 'assemble-runtime';

/** Where one script was found. */
export type ScriptLocation =
  | { kind: 'image'; /** Absolute path inside the builder. */ path: string; /** The URL it came from. */ url: string }
  | { kind: 'upload'; /** Its bytes, uploaded to DESTINATION/scripts/NAME. */ content: Uint8Array; /** The URL it came from. */ url: string };

/** Default when the builder has no scripts label. */
export const DEFAULT_SCRIPTS_URL = 'image:///usr/libexec/s2i';

/** Label naming the builder's scripts location. */
export const SCRIPTS_URL_LABEL = 'io.openshift.s2i.scripts-url';

/** What {@link locateScripts} looks at. */
export interface ScriptSources {
  /** `--scripts-url`, if given. */
  scriptsUrl?: string | undefined;
  /** The source directory (its `.s2i/bin/` overrides single scripts), if any. */
  sourceDir?: string | undefined;
  /** The builder's labels. */
  labels: Readonly<Record<string, string>>;
  /** The builder's `Env`. */
  env: readonly string[] | undefined;
  /** Tells whether an absolute path exists in the builder's file system. */
  inImage: (absolutePath: string) => Promise<boolean>;
  /** Aborts downloads. */
  signal?: AbortSignal | undefined;
}

/** The builder's own scripts URL: the label, else `STI_SCRIPTS_URL`, else the default. */
export function imageScriptsUrl(labels: Readonly<Record<string, string>>, env: readonly string[] | undefined): string {
  const label = labels[SCRIPTS_URL_LABEL];
  if (label) return label;
  const legacy = env?.find((e) => e.startsWith('STI_SCRIPTS_URL='))?.slice('STI_SCRIPTS_URL='.length);
  return legacy || DEFAULT_SCRIPTS_URL;
}

async function readIfFile(file: string): Promise<Uint8Array | undefined> {
  try {
    const stat = await fs.stat(file);
    return stat.isFile() ? await fs.readFile(file) : undefined;
  } catch {
    return undefined;
  }
}

/** Looks `name` up under one URL; undefined when it is not there. Throws for a URL s2i would not accept. */
async function lookUp(url: string, name: ScriptName, sources: ScriptSources, what: string): Promise<ScriptLocation | undefined> {
  if (url.startsWith('image://')) {
    const dir = url.slice('image://'.length);
    if (!dir.startsWith('/')) throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(url)}: image:// needs an absolute path`);
    const file = path.posix.join(dir, name);
    return (await sources.inImage(file)) ? { kind: 'image', path: file, url } : undefined;
  }
  if (/^https?:\/\//.test(url)) {
    const response = await fetch(`${url.replace(/\/+$/, '')}/${name}`, sources.signal ? { signal: sources.signal } : {}).catch((error: unknown) => {
      throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(url)}: cannot download ${name}: ${(error as Error).message}`, { cause: error, script: name });
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(url)}: downloading ${name} answered HTTP ${response.status}`, { script: name });
    return { kind: 'upload', content: new Uint8Array(await response.arrayBuffer()), url };
  }
  let dir: string;
  if (url.startsWith('file://')) {
    // s2i accepts file://relative/dir as well as file:///absolute/dir.
    dir = url.startsWith('file:///') ? fileURLToPath(url) : path.resolve(url.slice('file://'.length));
  } else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    dir = path.resolve(url);
  } else {
    throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(url)}: unsupported scheme (use image://, file://, http:// or https://)`);
  }
  const content = await readIfFile(path.join(dir, name));
  return content === undefined ? undefined : { kind: 'upload', content, url };
}

/**
 * Finds `required` and `optional` scripts. A missing required script, or a `--scripts-url`
 * that provides none of them, throws an {@link S2iError} naming the script and where it looked.
 */
export async function locateScripts(
  sources: ScriptSources,
  required: readonly ScriptName[],
  optional: readonly ScriptName[],
): Promise<Map<ScriptName, ScriptLocation>> {
  const fromImage = imageScriptsUrl(sources.labels, sources.env);
  const found = new Map<ScriptName, ScriptLocation>();
  let fromFlag = 0;
  for (const name of [...required, ...optional]) {
    const tried: string[] = [];
    let location: ScriptLocation | undefined;
    if (sources.scriptsUrl !== undefined) {
      tried.push(sources.scriptsUrl);
      location = await lookUp(sources.scriptsUrl, name, sources, '--scripts-url');
      if (location !== undefined) fromFlag++;
    }
    if (location === undefined && sources.sourceDir !== undefined) {
      const bin = path.join(sources.sourceDir, '.s2i', 'bin');
      tried.push(`${bin}/`);
      const content = await readIfFile(path.join(bin, name));
      if (content !== undefined) location = { kind: 'upload', content, url: `file://${bin}` };
    }
    if (location === undefined) {
      tried.push(fromImage);
      location = await lookUp(fromImage, name, sources, `label ${SCRIPTS_URL_LABEL}`);
    }
    if (location !== undefined) found.set(name, location);
    else if (required.includes(name)) {
      throw new S2iError('ERR_NOT_FOUND', `s2i: required script ${JSON.stringify(name)} not found (looked in ${tried.join(', ')})`, { script: name });
    }
  }
  if (sources.scriptsUrl !== undefined && fromFlag === 0) {
    throw new S2iError('ERR_NOT_FOUND', `s2i: could not download any scripts from URL ${sources.scriptsUrl}`);
  }
  return found;
}

/** The path script `name` runs from inside the container (`DESTINATION/scripts/NAME` when uploaded). Throws when it was not located. */
export function scriptPath(scripts: ReadonlyMap<ScriptName, ScriptLocation>, name: ScriptName, destination: string): string {
  const location = scripts.get(name);
  if (location === undefined) throw new S2iError('ERR_NOT_FOUND', `s2i: script ${JSON.stringify(name)} was not located`, { script: name });
  return location.kind === 'image' ? location.path : path.posix.join(destination, 'scripts', name);
}
