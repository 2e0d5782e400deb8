// The CLI bundle's split (scripts/cli-bundle-options.ts, scripts/cli-barrel-plugin.ts): each
// command loads the library modules it reaches, not all of them. Read from esbuild's metafile:
// the chunks a command's chunk imports statically, transitively, are what loading it parses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliBundleOptions } from '../../scripts/cli-bundle-options.ts';
import { repoRoot } from '../helpers/cli.ts';

interface Metafile {
  outputs: Record<string, { entryPoint?: string; imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }>;
}

test('a command loads the library modules it reaches: copy and node never parse the Dockerfile interpreter or the RUN sandbox; build reaches them lazily', async () => {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({ ...cliBundleOptions(repoRoot, '/nonexistent-out'), write: false, metafile: true, logLevel: 'error' });
  const { outputs } = result.metafile as Metafile;
  const closure = (command: string, kinds: readonly string[]): Set<string> => {
    const entry = Object.keys(outputs).find((k) => outputs[k]?.entryPoint === `src/cli/commands/${command}.ts`);
    assert.ok(entry !== undefined, `a chunk for the ${command} command`);
    const seen = new Set<string>();
    const inputs = new Set<string>();
    for (const stack = [entry]; stack.length > 0; ) {
      const at = stack.pop() as string;
      if (seen.has(at)) continue;
      seen.add(at);
      for (const input of Object.keys(outputs[at]?.inputs ?? {})) inputs.add(input);
      for (const i of outputs[at]?.imports ?? []) if (kinds.includes(i.kind) && outputs[i.path] !== undefined) stack.push(i.path);
    }
    return inputs;
  };
  const sandboxAndInterpreter = ['src/run/linux.ts', 'src/dockerfile/interpret.ts', 'src/dockerfile/run-step.ts', 'src/pipeline/plan-dockerfile.ts', 'src/pipeline/s2i/plan.ts'];
  const copy = closure('registry', ['import-statement']);
  assert.ok(copy.has('src/image/copy.ts') && copy.has('src/registry/client.ts'), 'copy loads what it uses');
  for (const file of [...sandboxAndInterpreter, 'src/presets/node.ts', 'src/cache/steps.ts']) assert.ok(!copy.has(file), `copy does not load ${file}`);
  const node = closure('node', ['import-statement']);
  assert.ok(node.has('src/presets/node.ts') && node.has('src/pipeline/index.ts'));
  for (const file of [...sandboxAndInterpreter, 'src/cache/steps.ts']) assert.ok(!node.has(file), `node does not load ${file}`);
  // The build command gets them when it plans a Dockerfile (a dynamic import).
  const build = closure('build', ['import-statement', 'dynamic-import']);
  for (const file of sandboxAndInterpreter) assert.ok(build.has(file), `build reaches ${file}`);
});
