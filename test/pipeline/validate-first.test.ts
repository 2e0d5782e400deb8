// The whole Dockerfile is checked before any step runs: a bad line after a RUN fails at once with
// FILE:LINE, and the RUN (through the real executor, counted) never ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, linuxExecutor, OcibuildError, type Executor } from '../../src/index.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

test('a bad line after a RUN fails with file:line before the RUN runs', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-validate-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  const from = `FROM oci:${base.layoutPath}:${base.tag}`;
  const real = linuxExecutor();
  let runs = 0;
  const executor: Executor = {
    run: (options) => {
      runs++;
      return real.run(options);
    },
    probe: () => real.probe(),
    ...(real.ownerMapping ? { ownerMapping: () => (real.ownerMapping as NonNullable<Executor['ownerMapping']>)() } : {}),
  };
  const cases: { lines: string[]; line: number; message: RegExp }[] = [
    { lines: [from, 'RUN echo ran', 'ENV =bad'], line: 3, message: /ENV names can not be blank/ },
    { lines: [from, 'RUN echo ran', 'EXPOSE notaport'], line: 3, message: /invalid containerPort: notaport/ },
    { lines: [from, 'ARG PORT=notaport', 'RUN echo ran', 'EXPOSE $PORT'], line: 4, message: /invalid containerPort: notaport/ },
    { lines: [from, 'RUN echo ran', 'COPY --bogus=1 a /a'], line: 3, message: /unknown flag: bogus/ },
    { lines: [from, 'RUN echo ran', 'COPY --from=7 /a /a'], line: 3, message: /invalid stage index 7/ },
    { lines: [`${from} AS one`, 'RUN echo ran', `${from} AS two`, 'COPY --from=two /a /a'], line: 4, message: /circular dependency detected on stage: two/ },
    { lines: [`${from} AS one`, 'RUN echo ran', 'COPY --from=two /a /a', `${from} AS two`], line: 3, message: /cannot copy from stage "two", it needs to be defined before current stage/ },
    { lines: [`${from} AS one`, 'RUN echo ran', `FROM one`, 'STOPSIGNAL NOPE'], line: 4, message: /NOPE/ },
    { lines: [from, 'RUN echo ran', 'WORKDIR /app', 'HEALTHCHECK --interval=abc CMD true'], line: 4, message: /--interval/ },
  ];
  for (const c of cases) {
    const events: string[] = [];
    const started = Date.now();
    await assert.rejects(
      buildImage({
        dockerfile: { text: `${c.lines.join('\n')}\n`, file: 'Dockerfile' },
        context: dir,
        to: [`oci:${dir}/out`],
        executor,
        onEvent: (e) => events.push(e.type),
      }),
      (error: unknown) => {
        assert.ok(error instanceof OcibuildError, String(error));
        assert.equal(error.code, 'ERR_DOCKERFILE', error.message);
        assert.ok(error.message.startsWith(`Dockerfile:${c.line}: `), error.message);
        assert.match(error.message, c.message);
        return true;
      },
      c.lines.join(' | '),
    );
    assert.equal(runs, 0, `${c.lines.join(' | ')}: the RUN ran before the bad line was found`);
    assert.deepEqual(events.filter((e) => e === 'layer-built' || e === 'step'), []);
    assert.ok(Date.now() - started < 5000);
  }
  await assert.rejects(fs.stat(path.join(dir, 'out')));
  // The same executor does run a good file: the count above means something.
  await buildImage({ dockerfile: { text: `${from}\nRUN echo ran\nEXPOSE 80\n`, file: 'Dockerfile' }, context: dir, to: [], executor });
  assert.equal(runs, 1);
});
