/**
 * Rootless layer writing needs to read every changed file, but files a RUN step gave to another
 * container user with a private mode (`chown 1000 f && chmod 600 f`) belong to a subordinate id
 * on the host and the caller cannot open them. Such files are copied once, inside the user
 * namespace (where the caller is root), into a private scratch directory, and the layer entry
 * reads the copy; owner and mode in the layer stay those of the original.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import type { LayerEntry } from '../layer/types.ts';
import { HOST_PATH, namespaceFlags, type HostInfo } from './host.ts';

const COPY_SCRIPT = String.raw`
while [ $# -gt 1 ]; do
  cat -- "$1" > "$2" || exit 1
  shift 2
done
`;

/**
 * Points every `file` entry whose `source` the caller cannot read at a readable copy made inside
 * the namespace (rootless only; as root everything is readable). `scratch` must be a private
 * directory that lives until the layer is written.
 */
export async function ensureReadable(entries: LayerEntry[], host: HostInfo, scratch: string): Promise<number> {
  if (host.root) return 0;
  const pending: { entry: Extract<LayerEntry, { type: 'file' }>; copy: string }[] = [];
  for (const entry of entries) {
    if (entry.type !== 'file' || typeof entry.source !== 'string') continue;
    try {
      fs.accessSync(entry.source, fs.constants.R_OK);
    } catch {
      pending.push({ entry, copy: path.join(scratch, `readable-${pending.length}`) });
    }
  }
  if (pending.length === 0) return 0;
  const args = pending.flatMap((p) => [p.entry.source as string, p.copy]);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(host.tools.unshare ?? 'unshare', [...namespaceFlags(host, false), host.tools.sh ?? '/bin/sh', '-c', COPY_SCRIPT, 'ocibuild-read', ...args], {
      env: { PATH: HOST_PATH, LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new OcibuildError('ERR_RUN', `cannot read ${pending.length} changed file(s) owned by other container users (exit ${code}): ${stderr.trim()}`)),
    );
  });
  for (const p of pending) p.entry.source = p.copy;
  return pending.length;
}
