/**
 * Bundles the CLI for start-up speed (issue 15): after `tsc` has written dist/ (the library as
 * plain ESM modules with declarations, and the unbundled CLI), esbuild replaces
 * `dist/cli/main.js` with one entry file plus chunks under `dist/cli/chunks/`, split so that each
 * lazily imported command stays a separate chunk: `ocibuild --version` loads the entry alone,
 * `ocibuild copy` the entry and the chunks copy reaches. The rest of the tsc output under
 * dist/cli/ is removed (the library never imports the CLI).
 *
 * The library entry is bundled too: `dist/index.js` becomes one ESM file holding every module
 * of the library, its npm dependencies left as imports (a consumer's copy of undici or fflate is
 * the one it resolves, as with any library), so `import … from 'ocibuild'` reads one file
 * instead of resolving ~200 modules (measured here: 0.20 s → 0.13 s for the import of the whole
 * API, `node -e 0` being 0.05 s). tsc's per-module `.js` files are then removed; its `.d.ts`
 * files stay, and are what the package's types point to.
 *
 * npm dependencies are inlined (`--external-packages` keeps them external, for comparison):
 * resolving and loading a package's own module graph costs more at start-up than parsing the
 * part of it that esbuild kept. They stay declared dependencies, because some modules resolve a
 * dependency's file at run time (the compression workers load fflate's or libdeflate's entry by
 * path).
 *
 * Run: `node --import tsx scripts/bundle-cli.ts [--metafile FILE] [--external-packages]`
 * (`npm run build` does).
 * @module
 */
import { chmod, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { cliBundleOptions } from './cli-bundle-options.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/cli');
const args = process.argv.slice(2);
const metafileAt = args.includes('--metafile') ? args[args.indexOf('--metafile') + 1] : undefined;

// Keep tsc's declaration of the entry; drop its compiled CLI modules.
for (const entry of await readdir(outdir, { withFileTypes: true })) {
  if (entry.name !== 'main.d.ts') await rm(path.join(outdir, entry.name), { recursive: true, force: true });
}

const result = await build({
  ...cliBundleOptions(root, outdir),
  packages: args.includes('--external-packages') ? 'external' : undefined,
  metafile: metafileAt !== undefined,
});
if (metafileAt !== undefined) await writeFile(metafileAt, JSON.stringify(result.metafile));
await chmod(path.join(outdir, 'main.js'), 0o755);

// The library entry: one file, dependencies external.
const dist = path.join(root, 'dist');
await build({
  absWorkingDir: root,
  entryPoints: { index: 'src/index.ts' },
  outdir: dist,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  legalComments: 'none',
  logLevel: 'warning',
  allowOverwrite: true,
});

/** Removes tsc's compiled modules under `dir` (declarations stay), except the bundles. */
async function dropCompiledModules(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (at !== outdir) await dropCompiledModules(at);
    } else if (entry.name.endsWith('.js') && at !== path.join(dist, 'index.js')) {
      await rm(at);
    }
  }
}
await dropCompiledModules(dist);
