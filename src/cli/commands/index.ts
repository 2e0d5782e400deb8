/**
 * The list of CLI commands, loaded lazily: `ocibuild --help` and `--version` read only this
 * table, and `ocibuild NAME` imports the one module that implements NAME (with the bundled CLI,
 * its chunk), so a command pays the start-up cost of what it uses and nothing else.
 *
 * To add a command: one entry below, in help order. `name` and `summary` repeat the command
 * module's own (a test checks they agree); `load` resolves the module's {@link Command}.
 * @module
 */
import type { Command } from '../util.ts';

/** One row of the command table: what the help lists, and how to load the command. */
export interface CommandEntry {
  /** Name as typed. */
  name: string;
  /** One-line summary for the command list (the same as the loaded command's). */
  summary: string;
  /** Imports the module implementing the command and resolves its {@link Command}. */
  load(): Promise<Command>;
  /**
   * The command's only WebAssembly is undici's HTTP parser (it compresses nothing): it runs with
   * WebAssembly tier-up off (`wasm-tiering.ts`).
   */
  baselineWasm?: true;
}

/** Every command, in help order. */
export const commands: readonly CommandEntry[] = [
  { name: 'build', summary: 'build a Dockerfile', load: async () => (await import('./build.ts')).build },
  { name: 'append', summary: 'add layers from files to a base image (no Dockerfile)', load: async () => (await import('./append.ts')).append },
  {
    name: 'node',
    summary: 'build a Node.js app image (no Dockerfile; options from flags or package.json "ocibuild")',
    load: async () => (await import('./node.ts')).node,
  },
  { name: 's2i', summary: 'build SOURCE with an s2i builder image (source-to-image, rootless)', load: async () => (await import('./s2i.ts')).s2i },
  { name: 'warm', summary: 'fill the local cache with base images for offline builds', load: async () => (await import('./warm.ts')).warm },
  { name: 'copy', summary: 'copy an image between registries, OCI layouts, docker-archives and daemons (or out as files)', load: async () => (await import('./registry.ts')).copy, baselineWasm: true },
  { name: 'inspect', summary: 'show an image manifest or config', load: async () => (await import('./registry.ts')).inspect, baselineWasm: true },
  { name: 'tags', summary: 'list the tags of a registry repository', load: async () => (await import('./registry.ts')).tags, baselineWasm: true },
  { name: 'sbom', summary: 'print the SBOM attached to an image', load: async () => (await import('./sbom.ts')).sbom, baselineWasm: true },
  { name: 'sign', summary: 'sign an image with a cosign key (stored as cosign does)', load: async () => (await import('./sign.ts')).sign, baselineWasm: true },
  { name: 'verify', summary: 'verify the cosign signatures of an image with a public key', load: async () => (await import('./sign.ts')).verify, baselineWasm: true },
  { name: 'generate-key-pair', summary: 'write a cosign key pair (cosign.key, cosign.pub)', load: async () => (await import('./sign.ts')).generateKeyPair, baselineWasm: true },
];
