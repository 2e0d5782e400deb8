/**
 * Interop helpers around the peer tools: skopeo (copy, inspect, list-tags) and umoci (images
 * whose manifests carry no top-level `mediaType`). Plain HTTP loopback registries only.
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs skopeo with the insecure policy (tests pull unsigned images) and returns stdout. */
export async function skopeo(args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run('skopeo', ['--insecure-policy', ...args], {
      maxBuffer: 64 << 20,
      env: env ?? process.env,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** `skopeo inspect --raw` of a registry reference over plain HTTP: the exact manifest bytes. */
export async function skopeoRawManifest(ref: string): Promise<string> {
  return skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
}

/** `skopeo inspect` (the parsed summary) of a registry reference over plain HTTP. */
export async function skopeoInspect(ref: string): Promise<{ Digest: string; Layers: string[]; Architecture: string; Os: string }> {
  return JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])) as {
    Digest: string;
    Layers: string[];
    Architecture: string;
    Os: string;
  };
}

/** Tags of a repository, via `skopeo list-tags`; a missing repository gives []. */
export async function skopeoTags(repository: string): Promise<string[]> {
  try {
    const out = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${repository}`])) as { Tags: string[] | null };
    return out.Tags ?? [];
  } catch (error) {
    if (/NAME_UNKNOWN|repository name not known|404/i.test(String(error))) return [];
    throw error;
  }
}

/** Copies with skopeo between any two transports it knows, plain HTTP for registries. */
export async function skopeoCopy(src: string, dst: string, extra: string[] = []): Promise<void> {
  await skopeo(['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dst]);
}

async function umoci(args: string[], cwd: string): Promise<void> {
  try {
    await run('umoci', args, { cwd });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`umoci ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Builds an image with umoci (init, new, unpack, add a file, repack, config) in `dir/umoci`.
 * Its manifest has no top-level `mediaType`, which some clients mishandle.
 */
export async function buildUmociLayout(dir: string, tag = 'latest'): Promise<{ layoutPath: string; tag: string }> {
  const root = path.join(dir, 'umoci');
  await mkdir(root, { recursive: true });
  await umoci(['init', '--layout', 'layout'], root);
  await umoci(['new', '--image', `layout:${tag}`], root);
  await umoci(['unpack', '--image', `layout:${tag}`, 'bundle'], root);
  await writeFile(path.join(root, 'bundle', 'rootfs', 'hello.txt'), 'hello from umoci\n');
  await umoci(['repack', '--image', `layout:${tag}`, 'bundle'], root);
  await umoci(['config', '--image', `layout:${tag}`, '--config.cmd', '/hello.txt', '--author', 'ocibuild tests'], root);
  return { layoutPath: path.join(root, 'layout'), tag };
}
