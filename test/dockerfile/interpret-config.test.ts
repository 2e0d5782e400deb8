/**
 * Config-only instructions: the config fields and history text each one produces.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DockerfileError } from '../../src/errors.ts';
import { formatGoDuration, parseGoDuration } from '../../src/dockerfile/instructions.ts';
import { busyboxRef, cleanupBusybox, interpret } from './interpret-harness.ts';

after(cleanupBusybox);

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

describe('metadata instructions on scratch', () => {
  const cases: { name: string; dockerfile: string; config: Record<string, unknown>; history?: string[] }[] = [
    { name: 'ENV both syntaxes', dockerfile: 'ENV A=1 B="two words"\nENV C three words', config: { Env: [PATH, 'A=1', 'B=two words', 'C=three words'] }, history: ['ENV A=1 B=two words', 'ENV C=three words'] },
    { name: 'ENV uses the values from before the instruction', dockerfile: 'ENV a=1\nENV a=2 b=$a', config: { Env: [PATH, 'a=2', 'b=1'] } },
    { name: 'ENV replaces in place', dockerfile: 'ENV A=1 B=2\nENV A=3', config: { Env: [PATH, 'A=3', 'B=2'] } },
    { name: 'LABEL', dockerfile: 'LABEL a=b "c d"="e f"\nLABEL a=z', config: { Labels: { a: 'z', 'c d': 'e f' } }, history: ['LABEL a=b c d=e f', 'LABEL a=z'] },
    { name: 'EXPOSE', dockerfile: 'EXPOSE 80 53/udp 8000-8002/TCP', config: { ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8000/tcp': {}, '8001/tcp': {}, '8002/tcp': {} } }, history: ['EXPOSE [53/udp 80/tcp 8000/tcp 8001/tcp 8002/tcp]'] },
    { name: 'EXPOSE, history sorted as a set (BuildKit testExportedHistory)', dockerfile: 'EXPOSE 2375 5000 1234/udp 2375', config: { ExposedPorts: { '2375/tcp': {}, '5000/tcp': {}, '1234/udp': {} } }, history: ['EXPOSE [1234/udp 2375/tcp 5000/tcp]'] },
    { name: 'USER', dockerfile: 'ENV U=app\nUSER $U:1', config: { User: 'app:1' }, history: ['ENV U=app', 'USER app:1'] },
    { name: 'VOLUME JSON and list', dockerfile: 'VOLUME ["/a", "/b"]\nVOLUME /c /d', config: { Volumes: { '/a': {}, '/b': {}, '/c': {}, '/d': {} } }, history: ['VOLUME [/a /b]', 'VOLUME [/c /d]'] },
    { name: 'STOPSIGNAL', dockerfile: 'STOPSIGNAL SIGKILL', config: { StopSignal: 'SIGKILL' }, history: ['STOPSIGNAL SIGKILL'] },
    { name: 'CMD shell form', dockerfile: 'CMD echo "hi there"', config: { Cmd: ['/bin/sh', '-c', 'echo "hi there"'] }, history: ['CMD ["/bin/sh" "-c" "echo \\"hi there\\""]'] },
    { name: 'CMD exec form', dockerfile: 'CMD ["a", "b"]', config: { Cmd: ['a', 'b'] } },
    { name: 'SHELL changes shell form', dockerfile: 'SHELL ["/bin/bash", "-ec"]\nENTRYPOINT run me', config: { Shell: ['/bin/bash', '-ec'], Entrypoint: ['/bin/bash', '-ec', 'run me'] }, history: ['SHELL [/bin/bash -ec]', 'ENTRYPOINT ["/bin/bash" "-ec" "run me"]'] },
    { name: 'CMD after ENTRYPOINT in the same stage stays', dockerfile: 'ENTRYPOINT ["e"]\nCMD ["c"]', config: { Entrypoint: ['e'], Cmd: ['c'] } },
    { name: 'CMD before ENTRYPOINT in the same stage stays', dockerfile: 'CMD ["c"]\nENTRYPOINT ["e"]', config: { Entrypoint: ['e'], Cmd: ['c'] } },
    {
      name: 'HEALTHCHECK with all flags',
      dockerfile: 'HEALTHCHECK --interval=1m30s --timeout=5s --start-period=1.5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/',
      config: { Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 90e9, Timeout: 5e9, StartPeriod: 1.5e9, StartInterval: 5e8, Retries: 3 } },
      history: ['HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:1m30s Timeout:5s StartPeriod:1.5s StartInterval:500ms Retries:3}'],
    },
    { name: 'HEALTHCHECK exec form', dockerfile: 'HEALTHCHECK CMD ["/bin/check", "x"]', config: { Healthcheck: { Test: ['CMD', '/bin/check', 'x'] } } },
    { name: 'HEALTHCHECK NONE', dockerfile: 'HEALTHCHECK NONE', config: { Healthcheck: { Test: ['NONE'] } } },
    { name: 'ONBUILD stored, no history', dockerfile: 'ONBUILD COPY a /b\nONBUILD  RUN echo hi', config: { OnBuild: ['COPY a /b', 'RUN echo hi'] }, history: [] },
    { name: 'ARG values in history, not in config', dockerfile: 'ARG A=1 B\nARG C=$A-x\nLABEL c=$C', config: { Labels: { c: '1-x' } }, history: ['ARG A=1 B', 'ARG C=1-x', 'LABEL c=1-x'] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const result = await interpret(`FROM scratch\n${c.dockerfile}\n`);
      const got = result.config.config ?? {};
      for (const [key, value] of Object.entries(c.config)) assert.deepEqual((got as Record<string, unknown>)[key], value, key);
      if (c.history) assert.deepEqual(result.history.map((h) => h.createdBy), c.history);
      assert.ok(result.history.every((h) => !h.layer), 'metadata instructions write no layer');
      assert.equal(result.config.config?.ArgsEscaped, undefined);
      assert.equal(result.layers.length, 0);
    });
  }

  it('FROM scratch has BuildKit\'s empty image config: WorkingDir / and a PATH (testDockerfileScratchConfig)', async () => {
    const result = await interpret('FROM scratch\nENV foo=bar\n');
    assert.equal(result.config.config?.WorkingDir, '/');
    assert.deepEqual(result.config.config?.Env, [PATH, 'foo=bar']);
    const based = await interpret(`FROM ${await busyboxRef()}\nENV foo=bar\n`);
    assert.equal(based.config.config?.WorkingDir ?? '', '', 'an image base keeps its own (unset) WorkingDir');
  });

  it('MAINTAINER sets the author', async () => {
    const result = await interpret('FROM scratch\nMAINTAINER Jane <jane@example.com>\n');
    assert.equal(result.config.author, 'Jane <jane@example.com>');
    assert.deepEqual(result.history.map((h) => h.createdBy), ['MAINTAINER Jane <jane@example.com>']);
  });

  it('history entries of config-only steps are empty_layer in the assembled config', async () => {
    const result = await interpret('FROM scratch\nENV A=1\nLABEL b=2\n', { created: 1700000000 });
    assert.deepEqual(result.config.history?.map((h) => [h.created_by, h.empty_layer, h.created]), [
      ['ENV A=1', true, '2023-11-14T22:13:20Z'],
      ['LABEL b=2', true, '2023-11-14T22:13:20Z'],
    ]);
    assert.equal(result.config.created, '2023-11-14T22:13:20Z');
  });
});

describe('inherited config', () => {
  it('ENTRYPOINT resets the base CMD; the base PATH and Cmd are kept otherwise', async () => {
    const base = await busyboxRef();
    const kept = await interpret(`FROM ${base}\nENV X=1\n`);
    assert.deepEqual(kept.config.config?.Cmd, ['sh']);
    assert.deepEqual(kept.config.config?.Env, [PATH, 'X=1']);
    const reset = await interpret(`FROM ${base}\nENTRYPOINT ["/bin/echo"]\n`);
    assert.equal(reset.config.config?.Cmd, undefined);
    assert.deepEqual(reset.config.config?.Entrypoint, ['/bin/echo']);
  });

  it('the base history and diff_ids come first', async () => {
    const result = await interpret(`FROM ${await busyboxRef()}\nLABEL a=b\n`);
    assert.equal(result.config.rootfs.diff_ids.length, 1);
    assert.equal(result.config.history?.[0]?.created_by, 'ocibuild test fixture: busybox-static');
    assert.equal(result.config.history?.[1]?.created_by, 'LABEL a=b');
  });
});

describe('metadata errors name file and line', () => {
  const bad: [string, string, number, RegExp][] = [
    ['unknown instruction', 'FROM scratch\nFOO bar\n', 2, /unknown instruction/i],
    ['unknown instruction, a typo (BuildKit testDockerfileInvalidInstruction)', 'FROM scratch\nFNTRYPOINT ["/bin/sh"]\n', 2, /unknown instruction: FNTRYPOINT \(did you mean ENTRYPOINT\?\)/],
    ['bad flag', 'FROM scratch\nCOPY --colour=1 a b\n', 2, /unknown flag: colour \(COPY accepts: --/],
    ['bad flag, near one', 'FROM scratch\nCOPY --frob=1 a b\n', 2, /unknown flag: frob \(did you mean from\?\)/],
    ['bad flag, a typo (BuildKit testMountInvalid)', 'FROM scratch\nRUN --mont=type=cache,target=/x true\n', 2, /unknown flag: mont \(did you mean mount\?\)/],
    ['invalid JSON in SHELL', 'FROM scratch\nSHELL /bin/sh -c\n', 2, /SHELL requires the arguments to be in JSON form/],
    ['ARG without name', 'FROM scratch\nARG =x\n', 2, /ARG names can not be blank/],
    ['bad port', 'FROM scratch\n\nEXPOSE 80/xyz\n', 3, /invalid proto/],
    ['bad signal', 'FROM scratch\nSTOPSIGNAL SIGNOPE\n', 2, /invalid signal/],
    ['bad duration', 'FROM scratch\nHEALTHCHECK --interval=5 CMD x\n', 2, /invalid duration/],
    ['HEALTHCHECK NONE with args', 'FROM scratch\nHEALTHCHECK NONE x\n', 2, /takes no arguments/],
    ['missing target', 'FROM scratch AS a\n', 1, /target stage "nope" could not be found/],
    ['missing target, a typo (BuildKit testTargetMistype)', 'FROM scratch AS build\n', 1, /target stage "buidl" could not be found \(did you mean build\?\)/],
    ['self-copy (BuildKit TestDockerfileCircularDependencies)', 'FROM scratch AS stage0\nCOPY --from=stage0 f1 /sub/\n', 2, /circular dependency detected on stage: stage0/],
    ['a cycle through later stages', 'FROM scratch AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM scratch AS stage1\nCOPY --from=stage0 f2 /sub/\nFROM scratch AS stage2\nCOPY --from=stage1 f2 /sub/\n', 2, /circular dependency detected on stage: stage0/],
    ['bad stage name', 'FROM scratch AS 1abc\n', 1, /invalid name for build stage/],
  ];
  for (const [name, text, line, message] of bad) {
    it(name, async () => {
      await assert.rejects(
        interpret(text, { file: 'df/Dockerfile', ...(name === 'missing target' ? { target: 'nope' } : name.startsWith('missing target, a typo') ? { target: 'buidl' } : {}) }),
        (error: unknown) => {
          assert.ok(error instanceof DockerfileError, String(error));
          assert.equal(error.file, 'df/Dockerfile');
          assert.equal(error.line, line);
          assert.match(error.message, message);
          assert.ok(error.message.startsWith(`df/Dockerfile:${line}: `), error.message);
          return true;
        },
      );
    });
  }
});

describe('Go durations', () => {
  it('parse and format like Go', () => {
    for (const [text, ns, back] of [
      ['1m30s', 90e9, '1m30s'],
      ['1.5s', 1.5e9, '1.5s'],
      ['500ms', 5e8, '500ms'],
      ['2h', 7200e9, '2h0m0s'],
      ['0', 0, '0s'],
      ['10us', 1e4, '10µs'],
    ] as const) {
      assert.equal(parseGoDuration(text), ns, text);
      assert.equal(formatGoDuration(ns), back, text);
    }
    assert.throws(() => parseGoDuration('5'));
    assert.throws(() => parseGoDuration('1x'));
  });
});
