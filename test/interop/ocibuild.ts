/**
 * The one place the interop tests and bench/transfer.ts call ocibuild: copy between target strings
 * (`oci:PATH[:TAG]`, `docker://HOST/REPO[:TAG]`) with the public copier, transports and registry client.
 * @module
 */
import { copyImage, type CopyEvent, type CopyResult } from '../../src/image/copy.ts';
import type { Platform } from '../../src/oci/types.ts';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/client.ts';
import type { CredentialProvider } from '../../src/registry/types.ts';
import { openTarget, parseTarget } from '../../src/transports/target.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import type { Transport } from '../../src/transports/types.ts';

/** Options of {@link ocibuildCopy}. */
export interface OcibuildCopyOptions {
  /** Credentials for registries (default: none, anonymous). */
  credentials?: CredentialProvider;
  /** Platforms of an index to copy (default all). */
  platforms?: 'all' | Platform[];
  /** Progress events of the copy. */
  onEvent?: (event: CopyEvent) => void;
  /** Retry settings of the registry client. */
  retries?: RegistryClientOptions['retries'];
  /** Blob transfers at the same time. */
  concurrency?: number;
}

/** Copies the image named by `src` to `dst` with ocibuild, as `ocibuild copy SRC DST` would. */
export async function ocibuildCopy(src: string, dst: string, options: OcibuildCopyOptions = {}): Promise<CopyResult> {
  const client = createRegistryClient({
    // An empty provider keeps the tests independent of the machine's ~/.docker/config.json.
    credentials: options.credentials ?? (async () => undefined),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
  });
  const open = { registry: (ref: Parameters<typeof registryTransport>[0]) => registryTransport(ref, client) };
  const source = parseTarget(src);
  const target = parseTarget(dst);
  let from: Transport | undefined;
  try {
    from = openTarget(source, open);
    const to = openTarget(target, open);
    return await copyImage(from, source.reference, to, [target.reference], {
      ...(options.platforms === undefined ? {} : { platforms: options.platforms }),
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    });
  } finally {
    await from?.close?.();
    await client.close?.();
  }
}
