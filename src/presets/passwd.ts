/**
 * Reading one file (such as `/etc/passwd`) out of a base image's layers without unpacking
 * them: the layer tars are streamed from the top-most layer down and the first layer that has
 * the file (or deletes it with a whiteout) decides. Plus resolving a `User` value against the
 * accounts (parsed by `run/passwd.ts`).
 * @module
 */
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import { defaultGzipDecoder } from '../compress/index.ts';
import { openLayerBlob, openLayerTar } from '../layer/decode.ts';
import type { Descriptor } from '../oci/types.ts';
import type { OperationOptions, Transport } from '../transports/types.ts';
import { parsePasswd as parseAccounts } from '../run/passwd.ts';

/** One `/etc/passwd` line. */
export interface PasswdUser {
  /** Login name. */
  name: string;
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Home directory. */
  home: string;
}

/** Parses `/etc/passwd` text with the shared parser (`run/passwd.ts`); malformed lines are skipped. */
export function parsePasswd(text: string): PasswdUser[] {
  return parseAccounts(text);
}

/**
 * Resolves a `User` config value (`name`, `uid`, `name:group`, `uid:gid`) to numeric ids with
 * the base's passwd. A numeric group after `:` wins; a group name keeps the user's primary
 * group (ocibuild does not read /etc/group). Undefined when a name is not in `users`.
 */
export function resolveUser(user: string, users: readonly PasswdUser[]): { uid: number; gid: number } | undefined {
  const [name = '', group] = user.split(':', 2);
  const numericGroup = group !== undefined && /^\d+$/.test(group) ? Number(group) : undefined;
  if (/^\d+$/.test(name)) {
    const uid = Number(name);
    return { uid, gid: numericGroup ?? users.find((u) => u.uid === uid)?.gid ?? uid };
  }
  const found = users.find((u) => u.name === name);
  if (found === undefined) return undefined;
  return { uid: found.uid, gid: numericGroup ?? found.gid };
}

/** Normalises a tar entry name: no leading `./` or `/`, no trailing `/`. */
function normalize(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/^\/+/, '').replace(/\/+$/, '');
  return n;
}

type LayerVerdict = { kind: 'found'; bytes: Uint8Array } | { kind: 'deleted' } | { kind: 'absent' };

/** What one layer says about `target` (a normalised path such as `etc/passwd`). */
async function scanLayer(stream: AsyncIterable<Uint8Array>, descriptor: Descriptor, target: string): Promise<LayerVerdict> {
  // By the blob's magic bytes (gzip, zstd, plain), not only its media type: see layer/decode.ts.
  const tarBytes = openLayerTar(descriptor, stream, { gzip: defaultGzipDecoder });
  const extract = tar.extract();
  const input = Readable.from(tarBytes, { objectMode: false });
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract);
  // Paths that, when whited out (or made opaque) in this layer, hide the target below.
  const ancestors: string[] = [];
  for (let p = target; p.includes('/'); ) {
    p = p.slice(0, p.lastIndexOf('/'));
    ancestors.push(p);
  }
  const whiteoutOf = (p: string): string => {
    const slash = p.lastIndexOf('/');
    return slash < 0 ? `.wh.${p}` : `${p.slice(0, slash)}/.wh.${p.slice(slash + 1)}`;
  };
  const deleting = new Set([target, ...ancestors].map(whiteoutOf));
  const opaque = new Set(ancestors.map((a) => `${a}/.wh..wh..opq`));
  let verdict: LayerVerdict = { kind: 'absent' };
  try {
    for await (const entry of extract) {
      const name = normalize(entry.header.name);
      if (name === target && entry.header.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        verdict = { kind: 'found', bytes: Buffer.concat(chunks) };
        break;
      }
      if (name === target && (entry.header.type === 'symlink' || entry.header.type === 'link')) {
        // A linked passwd is rare; treat it as not readable rather than guess.
        verdict = { kind: 'deleted' };
        entry.resume();
        break;
      }
      if (deleting.has(name) || opaque.has(name)) verdict = { kind: 'deleted' };
      entry.resume();
    }
  } finally {
    input.unpipe(extract);
    input.destroy();
    extract.destroy();
  }
  return verdict;
}

/**
 * Reads the file at absolute `filePath` from the image whose layers are `layers` (bottom
 * first), as the container would see it: the top-most layer holding the file wins, and a
 * whiteout above hides it. Undefined when no layer has it. Layers below the deciding one are
 * never read.
 */
export async function readImageFile(
  transport: Transport,
  layers: readonly Descriptor[],
  filePath: string,
  options: OperationOptions = {},
): Promise<Uint8Array | undefined> {
  const target = normalize(filePath);
  for (let i = layers.length - 1; i >= 0; i--) {
    const descriptor = layers[i] as Descriptor;
    const blob = await openLayerBlob(descriptor, () => transport.getBlob(descriptor, { signal: options.signal }), { signal: options.signal, source: transport.description });
    const verdict = await scanLayer(blob, descriptor, target);
    if (verdict.kind === 'found') return verdict.bytes;
    if (verdict.kind === 'deleted') return undefined;
  }
  return undefined;
}
