/**
 * `ocibuild generate-key-pair`, `ocibuild sign` and `ocibuild verify`: cosign-compatible key
 * pairs and signatures (the same files, payloads and `.sig` tags `cosign` reads and writes).
 * @module
 */
import { chmod, link, open, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { createSession, parseReference, type Session } from '../../index.ts';
import { MAX_KEY_FILE_BYTES, readCosignPrivateKey, readCosignPublicKey, generateCosignKeyPair, signImage, verifyImage, dockerReferenceOf } from '../../index.ts';
import { keyValues, list, parseFlags, signalOf, str, UsageError, type Command } from '../util.ts';
import { REGISTRY_HELP, registryFlags, registryOptions } from './shared.ts';

const common = `\n${REGISTRY_HELP}`;

/** Runs `fn` in a session made from the registry flags, closed when `fn` settles. */
async function withSession<T>(values: Record<string, unknown>, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = createSession(registryOptions(values));
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Reads a password from the terminal without echo; Ctrl-C aborts. */
function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return Promise.reject(new UsageError('no password: set COSIGN_PASSWORD (standard input is not a terminal to prompt on)'));
  }
  return new Promise((resolve, reject) => {
    let text = '';
    // Echo off before the prompt shows, so nothing typed after it is echoed; the prompt is
    // written as is (io.err would end the line): the answer is typed after it.
    stdin.setRawMode(true);
    stdin.resume();
    process.stderr.write(prompt);
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('password prompt interrupted'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The key password: COSIGN_PASSWORD (even empty, as cosign), else a prompt. */
async function password(confirm: boolean): Promise<string> {
  const env = process.env.COSIGN_PASSWORD;
  if (env !== undefined) return env;
  const first = await promptPassword('Enter password for private key: ');
  if (confirm && (await promptPassword('Enter password for private key again: ')) !== first) throw new UsageError('the passwords do not match');
  return first;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Reads a key file, at most {@link MAX_KEY_FILE_BYTES} (a key is a few hundred bytes; /dev/zero is not a key). */
async function readText(file: string, flag: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_KEY_FILE_BYTES) throw new UsageError(`${flag} ${file}: larger than ${MAX_KEY_FILE_BYTES} bytes, not a key file`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${flag} ${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  } finally {
    await handle?.close();
  }
}

/** `ocibuild generate-key-pair`. */
export const generateKeyPair: Command = {
  name: 'generate-key-pair',
  summary: 'write a cosign key pair (cosign.key, cosign.pub)',
  help: `Usage: ocibuild generate-key-pair [--output-key-prefix NAME] [--force]

Generates an ECDSA P-256 key pair in cosign's format: NAME.key (encrypted private key, mode
0600) and NAME.pub (PEM public key). The password comes from COSIGN_PASSWORD, else a prompt.
Existing files are kept unless --force.

  --output-key-prefix NAME  file name prefix (default cosign)
  --force                   overwrite existing files`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { 'output-key-prefix': { type: 'string' }, force: { type: 'boolean' } });
    if (positionals.length !== 0) throw new UsageError('unexpected arguments');
    const prefix = str(values, 'output-key-prefix') ?? 'cosign';
    const keyFile = `${prefix}.key`;
    const pubFile = `${prefix}.pub`;
    // Refused before asking for a password (the link below still guards against a race).
    if (!values.force) {
      for (const file of [keyFile, pubFile]) {
        if (await exists(file)) throw new UsageError(`${file} already exists (use --force to overwrite)`);
      }
    }
    const files = await generateCosignKeyPair(await password(true));
    // Written to temporary names first, then linked into place: never a key without its public half.
    const stamp = `.tmp-${process.pid}-${Date.now()}`;
    const tmpKey = path.join(path.dirname(keyFile), `.${path.basename(keyFile)}${stamp}`);
    const tmpPub = path.join(path.dirname(pubFile), `.${path.basename(pubFile)}${stamp}`);
    const linked: string[] = [];
    try {
      await writeFile(tmpKey, files.privateKeyPem, { mode: 0o600, flag: 'wx' });
      await chmod(tmpKey, 0o600);
      await writeFile(tmpPub, files.publicKeyPem, { mode: 0o644, flag: 'wx' });
      if (values.force) {
        await rm(keyFile, { force: true });
        await rm(pubFile, { force: true });
      }
      for (const [tmp, file] of [[tmpKey, keyFile], [tmpPub, pubFile]] as const) {
        try {
          await link(tmp, file);
          linked.push(file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} already exists (use --force to overwrite)`);
          throw error;
        }
      }
    } catch (error) {
      for (const file of linked) await rm(file, { force: true });
      throw error;
    } finally {
      await rm(tmpKey, { force: true });
      await rm(tmpPub, { force: true });
    }
    io.err(`Private key written to ${keyFile}\nPublic key written to ${pubFile}`);
    return 0;
  },
};

/** `ocibuild sign`. */
export const sign: Command = {
  name: 'sign',
  summary: 'sign an image with a cosign key (stored as cosign does)',
  help: `Usage: ocibuild sign --key cosign.key [-a KEY=VALUE]... REF

Signs the manifest digest REF names and stores the signature as cosign does: a layer of the
image manifest tagged sha256-<hex>.sig in REF's repository (existing signatures are kept).
The key password comes from COSIGN_PASSWORD, else a prompt. Prints REPO@DIGEST signed.

  --key FILE               cosign private key (cosign.key)
  -a, --annotations K=V    claim stored in the payload's "optional" (repeatable)
  --sign-container-identity NAME  docker-reference to claim (default REF's repository)
  --store tag|referrer|both  where to store it: the .sig tag (default, what cosign reads), an
                           OCI 1.1 referrer (cosign's experimental OCI 1.1 shape), or both
  -y, --yes                accepted for cosign compatibility (nothing is uploaded to a
                           transparency log, so there is nothing to confirm)${common}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, {
      key: { type: 'string' },
      annotations: { type: 'string', short: 'a', multiple: true },
      'sign-container-identity': { type: 'string' },
      store: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      ...registryFlags,
    });
    if (positionals.length !== 1) throw new UsageError('expected one REF');
    const keyFile = str(values, 'key');
    if (keyFile === undefined) throw new UsageError('--key is required (keyless signing is not supported)');
    const store = str(values, 'store') ?? 'tag';
    if (store !== 'tag' && store !== 'referrer' && store !== 'both') throw new UsageError(`--store must be tag, referrer or both, not ${JSON.stringify(store)}`);
    const ref = parseReference((positionals[0] as string).replace(/^docker:\/\//, ''));
    const key = await readCosignPrivateKey(await readText(keyFile, '--key'), await password(false), keyFile);
    const annotations = keyValues(list(values, 'annotations'), '--annotations');
    const identity = str(values, 'sign-container-identity');
    return withSession(values, async (session) => {
      const result = await signImage(ref, {
        key,
        store,
        client: session.registryClient(),
        ...(Object.keys(annotations).length ? { annotations } : {}),
        identity,
        ...signalOf(io),
      });
      if (!result.added) io.err(`An equal signature is already stored for ${ref.name}@${result.digest}`);
      else {
        if (result.signatureManifestDigest !== undefined) io.err(`Pushing signature to: ${ref.name}:${result.signatureTag}`);
        if (result.referrerDigest !== undefined) io.err(`Pushing signature referrer to: ${ref.name}@${result.referrerDigest}`);
      }
      io.out(`${ref.name}@${result.digest}`);
      return 0;
    });
  },
};

/** `ocibuild verify`. */
export const verify: Command = {
  name: 'verify',
  summary: 'verify the cosign signatures of an image with a public key',
  help: `Usage: ocibuild verify --key cosign.pub [-a KEY=VALUE]... [--output json|text] REF

Checks the signatures stored for REF (cosign's sha256-<hex>.sig tag and OCI 1.1 signature
referrers): each signature against the public key, and each payload's docker-manifest-digest
against the digest REF names now. Prints the verified payloads (a JSON array, as cosign; --output text: one payload a line) and
exits 0; exits 1 when no signature verifies.

  --key FILE               public key (cosign.pub)
  -a, --annotations K=V    require this claim in the payload (repeatable)
  --output json|text       output format (default json)
  --insecure-ignore-tlog   accepted for cosign compatibility (no transparency log is checked)${common}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, {
      key: { type: 'string' },
      annotations: { type: 'string', short: 'a', multiple: true },
      output: { type: 'string' },
      'insecure-ignore-tlog': { type: 'boolean' },
      ...registryFlags,
    });
    if (positionals.length !== 1) throw new UsageError('expected one REF');
    const keyFile = str(values, 'key');
    if (keyFile === undefined) throw new UsageError('--key is required (keyless verification is not supported)');
    const output = str(values, 'output') ?? 'json';
    if (output !== 'json' && output !== 'text') throw new UsageError(`--output must be json or text, not ${JSON.stringify(output)}`);
    const text = positionals[0] as string;
    const ref = parseReference(text.replace(/^docker:\/\//, ''));
    const key = readCosignPublicKey(await readText(keyFile, '--key'), keyFile);
    const annotations = keyValues(list(values, 'annotations'), '--annotations');
    return withSession(values, async (session) => {
      const result = await verifyImage(ref, { key, client: session.registryClient(), ...(Object.keys(annotations).length ? { annotations } : {}), ...signalOf(io) });
      io.err(`\nVerification for ${dockerReferenceOf(ref)}@${result.digest} --\nThe following checks were performed on each of these signatures:`);
      if (Object.keys(annotations).length) io.err('  - The specified annotations were verified.');
      io.err('  - The cosign claims were validated\n  - The signatures were verified against the specified public key');
      const decoder = new TextDecoder();
      if (output === 'text') for (const s of result.signatures) io.out(decoder.decode(s.payload));
      else io.out(JSON.stringify(result.signatures.map((s) => s.claims)));
      return 0;
    });
  },
};
