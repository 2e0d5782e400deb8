/**
 * The esbuild options of the CLI bundle: the entry plus lazily loaded chunks under `chunks/`,
 * npm dependencies inlined. Shared by `scripts/bundle-cli.ts` (the build) and the tests that run
 * the bundled CLI as users do.
 * @module
 */
import path from 'node:path';
import type { BuildOptions } from 'esbuild';
import { barrelImportsPlugin } from './cli-barrel-plugin.ts';

/** Options bundling `src/cli/main.ts` (relative to `root`) into `outdir`. */
export function cliBundleOptions(root: string, outdir: string): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Inlined CommonJS packages call require() for Node built-ins; ESM output has none.
    banner: { js: "import { createRequire as __ocibuildCreateRequire } from 'node:module'; const require = __ocibuildCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
    // Each command's chunks hold the library modules it reaches, not all of them (cli-barrel-plugin.ts).
    plugins: [barrelImportsPlugin(path.join(root, 'src/index.ts'), path.join(root, 'src/cli'))],
  };
}
