/**
 * Bundles the CLI for start-up speed (issue 15): after `tsc` has written dist/ (the library as
 * plain ESM modules with declarations, and the unbundled CLI), esbuild replaces
 * `dist/cli/main.js` with one entry file plus chunks under `dist/cli/chunks/`, split so that each
 * lazily imported command stays a separate chunk: `ocibuild --version` loads the entry alone,
 * `ocibuild copy` the entry and the chunks copy reaches. The rest of the tsc output under
 * dist/cli/ is removed (the library never imports the CLI).
 *
 * npm dependencies are inlined (`--external-packages` keeps them external, for comparison):
 * resolving and loading a package's own module graph costs more at start-up than parsing the
 * part of it that esbuild kept. They stay declared dependencies, because some modules resolve a
 * dependency's file at run time (the compression workers load fflate's or libdeflate's entry by
 * path, the tar index reads tar-stream's header codec).
 *
 * Run: `node --import tsx scripts/bundle-cli.ts [--metafile FILE] [--external-packages]`
 * (`npm run build` does).
 * @module
 */
import { chmod, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/cli');
const args = process.argv.slice(2);
const metafileAt = args.includes('--metafile') ? args[args.indexOf('--metafile') + 1] : undefined;

// Keep tsc's declaration of the entry; drop its compiled CLI modules.
for (const entry of await readdir(outdir, { withFileTypes: true })) {
  if (entry.name !== 'main.d.ts') await rm(path.join(outdir, entry.name), { recursive: true, force: true });
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: args.includes('--external-packages') ? 'external' : undefined,
  // Inlined CommonJS packages call require() for Node built-ins; ESM output has none.
  banner: { js: "import { createRequire as __ocibuildCreateRequire } from 'node:module'; const require = __ocibuildCreateRequire(import.meta.url);" },
  legalComments: 'none',
  metafile: metafileAt !== undefined,
  logLevel: 'warning',
});
if (metafileAt !== undefined) await writeFile(metafileAt, JSON.stringify(result.metafile));
await chmod(path.join(outdir, 'main.js'), 0o755);
