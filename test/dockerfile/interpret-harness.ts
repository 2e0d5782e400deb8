/**
 * Test harness for the Dockerfile interpreter: runs parse → stage graph → interpreter with a
 * host that opens `oci:PATH[:TAG]` bases (the busybox fixture), writes layers to a temp dir, and
 * reads the written layers back with tar-stream so tests can look at entries and contents.
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import { resolveBase, scratchBase } from '../../src/pipeline/base.ts';
import { assembleImage } from '../../src/pipeline/assemble.ts';
import { memorySource } from '../../src/image/memory.ts';
import { parseInstructions } from '../../src/dockerfile/index.ts';
import { createIgnoreMatcher, parseDockerignore } from '../../src/dockerfile/ignore.ts';
import { planStages } from '../../src/dockerfile/stages.ts';
import { LayerIndexCache } from '../../src/dockerfile/interpret-fs.ts';
import { interpretStages } from '../../src/dockerfile/interpret.ts';
import type { BaseImage, InterpreterHost, StageState } from '../../src/dockerfile/interpret-state.ts';
import { writeLayer } from '../../src/layer/write.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import type { Image } from '../../src/image/model.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

/** A layer entry read back. */
export interface ReadEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  linkname?: string;
}

/** Options of {@link interpret}. */
export interface InterpretOptions {
  /** Context files: path → content (string) or `{ content, mode }`, or `{ dir: true }`, or `{ symlink }`, or `{ hardlink }` (to an earlier path). */
  files?: Record<string, string | { content: string | Uint8Array; mode?: number } | { dir: true; mode?: number } | { symlink: string } | { hardlink: string } | { socket: true } | { fifo: true }>;
  /** .dockerignore text. */
  dockerignore?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: string;
  file?: string;
  created?: number;
}

/** The interpreter's result plus readers. */
export interface InterpretResult {
  state: StageState;
  config: StageState['config'];
  history: { createdBy: string; layer: boolean }[];
  /** Entries of each new layer, in order. */
  layers: Map<string, ReadEntry>[];
  /** The merged view of the new layers (later layers win). */
  merged: Map<string, ReadEntry>;
  /** Digest of the assembled manifest. */
  digest: string;
  /** Layer index reads (base layers decompressed for lookups). */
  indexReads: number;
}

let busybox: Promise<BusyboxLayout> | undefined;
let busyboxDir: string | undefined;

/** The busybox fixture layout, built once per process; reference it as `oci:<layoutPath>:<tag>`. */
export async function busyboxRef(): Promise<string> {
  busyboxDir ??= await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-interp-bb-'));
  const layout = await (busybox ??= buildBusyboxLayout(path.join(busyboxDir, 'layout')));
  return `oci:${layout.layoutPath}:${layout.tag}`;
}

/** Removes the busybox fixture. */
export async function cleanupBusybox(): Promise<void> {
  if (busyboxDir) await fs.rm(busyboxDir, { recursive: true, force: true });
}

/** Writes the context; returns the servers holding its sockets (closing one removes its file). */
async function writeContext(dir: string, files: NonNullable<InterpretOptions['files']>): Promise<net.Server[]> {
  const servers: net.Server[] = [];
  for (const [rel, spec] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    if (typeof spec === 'string') await fs.writeFile(p, spec);
    else if ('fifo' in spec) {
      const made = spawnSync('mkfifo', ['--', p]);
      if (made.status !== 0) throw new Error(`mkfifo ${p} failed`);
    } else if ('socket' in spec) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, () => resolve());
      });
    }
    else if ('dir' in spec) {
      await fs.mkdir(p, { recursive: true });
      if (spec.mode !== undefined) await fs.chmod(p, spec.mode);
    } else if ('symlink' in spec) await fs.symlink(spec.symlink, p);
    else if ('hardlink' in spec) await fs.link(path.join(dir, spec.hardlink), p);
    else {
      await fs.writeFile(p, spec.content);
      if (spec.mode !== undefined) await fs.chmod(p, spec.mode);
    }
  }
  return servers;
}

/** Reads a gzip layer file into entries. */
export async function readLayer(file: string): Promise<Map<string, ReadEntry>> {
  const out = new Map<string, ReadEntry>();
  const extract = tar.extract();
  Readable.from([gunzipSync(await fs.readFile(file))]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const h = entry.header;
    const e: ReadEntry = { type: h.type ?? 'file', mode: (h.mode ?? 0) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 };
    if (h.type === 'file') e.content = Buffer.concat(chunks).toString('utf8');
    if (h.linkname) e.linkname = h.linkname;
    out.set(h.name.replace(/\/$/, ''), e);
  }
  return out;
}

function openOci(reference: string): { transport: ReturnType<typeof ociLayout>; tag: string | undefined } {
  const body = reference.slice('oci:'.length);
  const m = /^(.*?)(?::([^:/]+))?$/.exec(body);
  return { transport: ociLayout(m?.[1] ?? body), tag: m?.[2] };
}

/** Interprets `text` with a fresh context directory; cleans the directory up afterwards. */
export async function interpret(text: string, options: InterpretOptions = {}): Promise<InterpretResult> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-interp-'));
  let servers: net.Server[] = [];
  try {
    const contextDir = path.join(root, 'context');
    const workDir = path.join(root, 'work');
    await fs.mkdir(contextDir);
    await fs.mkdir(workDir);
    servers = await writeContext(contextDir, options.files ?? {});
    const file = options.file ?? 'Dockerfile';
    const ast = parseInstructions(text, { file });
    const platform = parsePlatform(options.platform ?? 'linux/amd64');
    const graph = planStages(ast, { buildArgs: options.buildArgs ?? {}, ...(options.target ? { target: options.target } : {}), targetPlatform: platform });
    const cache = new LayerIndexCache();
    const created = options.created ?? 0;
    const toBase = (image: Image): BaseImage => ({
      config: image.config,
      layers: image.layers.map((l) => ({ key: l.descriptor.digest, mediaType: l.descriptor.mediaType, open: async () => l.open() })),
      image,
    });
    const host: InterpreterHost = {
      file,
      escape: graph.escape,
      contextDir,
      ignore: options.dockerignore !== undefined ? createIgnoreMatcher(parseDockerignore(options.dockerignore)) : undefined,
      workDir,
      created,
      globalArgs: graph.globalArgs,
      buildArgs: options.buildArgs ?? {},
      platform,
      cache,
      writeLayer: (spec) => writeLayer(spec, { directory: workDir, sourceDateEpoch: created }),
      openImage: async (reference, p) => {
        if (!reference.startsWith('oci:')) throw new Error(`test host opens only oci: images, got ${reference}`);
        const { transport, tag } = openOci(reference);
        return toBase(await resolveBase(transport, tag, p));
      },
      scratch: (p) => toBase(scratchBase(p)),
    };
    const state = await interpretStages(graph, host);
    const layers: Map<string, ReadEntry>[] = [];
    const merged = new Map<string, ReadEntry>();
    for (const step of state.steps) {
      if (!('layer' in step)) continue;
      const entries = await readLayer(step.layer.path);
      layers.push(entries);
      for (const [k, v] of entries) merged.set(k, v);
    }
    const image = assembleImage(
      { base: state.root.image as Image, baseName: undefined, baseDigest: undefined, config: state.config, steps: state.steps, format: 'oci', created },
      memorySource(),
    );
    return {
      state,
      config: image.config,
      history: state.steps.map((s) => ({ createdBy: s.createdBy, layer: 'layer' in s })),
      layers,
      merged,
      digest: image.rawManifest.digest,
      indexReads: cache.reads,
    };
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    await fs.rm(root, { recursive: true, force: true });
  }
}
