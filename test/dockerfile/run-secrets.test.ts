import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

const SECRET = 'tok-9d2f61c0e4';
const BUILD_ARG = 'barg-5c7e13a8b2';

/** Every host process whose argv or environment holds `needle`: pid, argv and where it was found. */
function holders(needle: string): { pid: string; argv: string; where: 'argv' | 'environ' }[] {
  const out: { pid: string; argv: string; where: 'argv' | 'environ' }[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || pid === String(process.pid)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (argv.includes(needle)) out.push({ pid, argv, where: 'argv' });
      if (fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(needle)) out.push({ pid, argv, where: 'environ' });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

describe('RUN secrets and build args', { skip: process.platform !== 'linux' }, () => {
  it('never shows them in any argv or helper environment, and redacts secrets from the failure message', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-secrets-'));
    try {
      const base = await buildBusyboxLayout(path.join(tmp, 'base'));
      const context = path.join(tmp, 'context');
      fs.mkdirSync(context);
      fs.writeFileSync(path.join(tmp, 'secret'), SECRET);
      const seen: ReturnType<typeof holders> = [];
      let polls = 0;
      let stop = false;
      const poll = (async () => {
        while (!stop) {
          for (const needle of [SECRET, BUILD_ARG]) seen.push(...holders(needle));
          polls++;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const text = [
        `FROM oci:${base.layoutPath}:${base.tag}`,
        'ARG BA',
        'RUN --mount=type=secret,id=tok,env=TOK --mount=type=secret,id=tok,target=/run/s sh -c \'echo "leaking $TOK" >&2; cat /run/s >&2; echo "$BA" > /dev/null; sleep 2; exit 3\'',
      ].join('\n');
      const error = await buildImage({
        context,
        cache: { dir: path.join(tmp, 'cache') },
        secrets: { tok: { file: path.join(tmp, 'secret') } },
        buildArgs: { BA: BUILD_ARG },
        dockerfile: { text, file: 'Dockerfile' },
        to: `oci:${path.join(tmp, 'out')}:latest`,
      }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      stop = true;
      await poll;
      assert.ok(error !== undefined, 'the step fails with exit code 3');
      assert.match(error.message, /exit code 3/);
      assert.match(error.message, /leaking \*\*\*/, 'the stderr tail is quoted, redacted');
      assert.ok(!error.message.includes(SECRET), error.message);
      assert.ok(polls > 10, 'the step was watched while it ran');
      // Only the step's own processes (its shell and what it starts) hold the values, in their environment.
      const steps = seen.filter((h) => h.where === 'environ' && /^(\/bin\/sh|sh|sleep|cat)\0/.test(h.argv));
      assert.ok(steps.length > 0, 'the precondition: the step itself was seen with its environment');
      const elsewhere = seen.filter((h) => !steps.includes(h));
      assert.deepEqual(elsewhere.map((h) => `${h.where} of ${h.argv.replace(/\0/g, ' ').slice(0, 80)}`), []);
    } finally {
      await removeRootfs(tmp);
    }
  });
});
