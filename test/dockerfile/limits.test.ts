/**
 * Bounds on Dockerfile processing: a variable chain that doubles at each line stops at the
 * expansion limit with an error naming the line (in a stage, in global ARGs, through ENV and
 * through `${v//p/r}`), and 20,000 ENV, ARG or LABEL lines are processed in linear time
 * (checked as a ratio between 5,000 and 20,000 lines, not as an absolute time).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DockerfileError, LimitExceededError } from '../../src/errors.ts';
import { DEFAULT_MAX_EXPANSION_LENGTH, expandWord, WordExpansionError } from '../../src/dockerfile/shell.ts';
import { cleanupBusybox, interpret } from './interpret-harness.ts';

after(cleanupBusybox);

/** The LimitExceededError at the bottom of an error's cause chain, if any. */
function limitCause(error: unknown): LimitExceededError | undefined {
  for (let e = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    if (e instanceof LimitExceededError) return e;
  }
  return undefined;
}

/** `NAME1=xx`, `NAME2=$NAME1$NAME1`, ...: line k holds 2^k characters. */
function doubling(keyword: string, lines: number): string[] {
  return Array.from({ length: lines }, (_, i) => (i === 0 ? `${keyword} v1=xx` : `${keyword} v${i + 1}=$v${i}$v${i}`));
}

function assertLimitAt(line: number): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof DockerfileError, `expected a DockerfileError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_DOCKERFILE');
    assert.equal(e.line, line);
    assert.match(e.message, new RegExp(`^Dockerfile:${line}: .*maxExpansionLength`));
    assert.equal(limitCause(e)?.limit, 'maxExpansionLength');
    assert.equal(limitCause(e)?.value, DEFAULT_MAX_EXPANSION_LENGTH);
    return true;
  };
}

describe('Dockerfile bounds: variable expansion', () => {
  it('expandWord stops past maxLength with a WordExpansionError caused by a LimitExceededError', () => {
    const env = { a: 'x'.repeat(600) };
    assert.equal(expandWord('$a$a', env, { maxLength: 1200 }).length, 1200);
    assert.throws(
      () => expandWord('$a$a$a', env, { maxLength: 1200 }),
      (e: unknown) => e instanceof WordExpansionError && e.code === 'ERR_DOCKERFILE' && limitCause(e)?.limit === 'maxExpansionLength',
    );
    // Quoted, and through a replacement that would square the value.
    assert.throws(() => expandWord('"$a$a$a"', env, { maxLength: 1200 }), WordExpansionError);
    const square = { a: 'x'.repeat(2000) }; // 2,000 x 2,000 characters: over the default 1 MiB
    assert.throws(() => expandWord('${a//?/$a}', square), (e: unknown) => limitCause(e) !== undefined);
    assert.equal(expandWord('${a//x/y}', env).length, 600);
  });

  it('an ARG chain that doubles at each line stops at the line that passes the limit', async () => {
    // Line 1 is FROM; ARG v21 (line 22) is the first value over 1 MiB (2^21 characters).
    const text = ['FROM scratch', ...doubling('ARG', 40)].join('\n');
    await assert.rejects(interpret(text), assertLimitAt(22));
  });

  it('the same through ENV and through global ARGs before FROM', async () => {
    await assert.rejects(interpret(['FROM scratch', ...doubling('ENV', 40)].join('\n')), assertLimitAt(22));
    await assert.rejects(interpret([...doubling('ARG', 40), 'FROM scratch'].join('\n')), assertLimitAt(21));
  });

  it('many lines that each reference one big value stop at the stage total (maxStageMetadataLength)', async () => {
    // v19 holds 512 KiB; 80 ENV copies of it would be 40 MiB of config.
    const lines = ['FROM scratch', ...doubling('ARG', 19), ...Array.from({ length: 80 }, (_, i) => `ENV e${i}=$v19`)];
    await assert.rejects(interpret(lines.join('\n')), (e: unknown) => {
      assert.ok(e instanceof DockerfileError, String(e));
      assert.equal(limitCause(e)?.limit, 'maxStageMetadataLength');
      // ARGs (lines 2-20) hold 1 MiB, each ENV adds 0.5 MiB: the 62nd ENV (line 20 + 62) passes 32 MiB.
      assert.equal(e.line, 20 + 62);
      return true;
    });
    // The same through LABEL.
    const labels = ['FROM scratch', ...doubling('ARG', 19), ...Array.from({ length: 80 }, (_, i) => `LABEL l${i}=$v19`)];
    await assert.rejects(interpret(labels.join('\n')), (e: unknown) => limitCause(e)?.limit === 'maxStageMetadataLength');
  });

  it('values under the limit still work', async () => {
    const result = await interpret(['FROM scratch', ...doubling('ENV', 20)].join('\n'));
    const env = result.config.config?.Env ?? [];
    assert.equal(env.find((e) => e.startsWith('v20='))?.length, 'v20='.length + 2 ** 20);
  });
});

/**
 * CPU milliseconds of this process to parse and interpret `lines` lines made by `line(i)`, the
 * best of three runs: CPU time, not wall time, so other processes on the machine matter less.
 */
async function timeLines(lines: number, line: (i: number) => string): Promise<number> {
  const text = ['FROM scratch', ...Array.from({ length: lines }, (_, i) => line(i))].join('\n');
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = process.cpuUsage();
    await interpret(text);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

describe('Dockerfile bounds: time linear in the number of instructions', () => {
  for (const [what, line] of [
    ['ENV', (i: number) => `ENV V${i}=value${i} W${i}=$V${i}`],
    ['ARG', (i: number) => `ARG A${i}=value${i}`],
    ['LABEL', (i: number) => `LABEL l${i}=value${i}`],
  ] as const) {
    it(`20,000 ${what} lines take about 4 times as long as 5,000 (quadratic: 16; it was over 30)`, async () => {
      await timeLines(1000, line); // warm up the JIT
      const small = await timeLines(5000, line);
      const large = await timeLines(20000, line);
      const ratio = large / small;
      assert.ok(ratio < 10, `${what}: 5,000 lines ${small.toFixed(0)} ms, 20,000 lines ${large.toFixed(0)} ms, ratio ${ratio.toFixed(1)}`);
    });
  }
});
