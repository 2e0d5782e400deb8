import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { OcibuildError } from '../../src/errors.ts';
import {
  expandWithMatches,
  expandWord,
  expandWords,
  WordExpansionError,
} from '../../src/dockerfile/index.ts';
import type { ExpandOptions, ExpansionEnv } from '../../src/dockerfile/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shellVectors = path.join(repoRoot, 'test/vectors/buildkit-dockerfile/shell');

test('envVarTest vectors (platforms A and U)', () => {
  const env = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };
  const envMap = new Map(Object.entries(env));
  let checked = 0;
  for (const [i, raw] of readFileSync(path.join(shellVectors, 'envVarTest'), 'utf8').split('\n').entries()) {
    if (raw.startsWith('#')) continue;
    const line = raw.trim();
    if (line === '') continue;
    const parts = line.split('|');
    assert.equal(parts.length, 3, `line ${i + 1}`);
    const [platform, source, expected] = parts.map((p) => p.trim()) as [string, string, string];
    if (platform === 'W') continue;
    for (const e of [env, envMap]) {
      const where = `envVarTest:${i + 1} ${JSON.stringify(source)}`;
      if (expected === 'error') {
        assert.throws(() => expandWord(source, e), WordExpansionError, where);
      } else {
        assert.equal(expandWord(source, e), expected, where);
      }
    }
    checked++;
  }
  assert.ok(checked > 200, `checked ${checked} cases`);
});

interface WordsCase {
  line: number;
  input: string;
  expected: string[];
  env: Record<string, string>;
}

function readWordsTest(): WordsCase[] {
  const cases: WordsCase[] = [];
  const env: Record<string, string> = {};
  for (const [i, line] of readFileSync(path.join(shellVectors, 'wordsTest'), 'utf8').split('\n').entries()) {
    if (line.startsWith('#') || line === '') continue;
    if (line.startsWith('ENV ')) {
      const assignment = line.slice(3).replace(/^ +/, '');
      const eq = assignment.indexOf('=');
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      continue;
    }
    const parts = line.split('|');
    assert.equal(parts.length, 2, `wordsTest:${i + 1}`);
    cases.push({
      line: i + 1,
      input: parts[0]!.trim(),
      expected: parts[1]!.replace(/^ +/, '').split(','),
      env: { ...env },
    });
  }
  return cases;
}

function words(input: string, env: ExpansionEnv, options: ExpandOptions = {}): string[] {
  try {
    return expandWords(input, env, options);
  } catch (err) {
    if (err instanceof WordExpansionError) return ['error'];
    throw err;
  }
}

test('wordsTest vectors, normal mode', () => {
  const cases = readWordsTest();
  assert.ok(cases.length >= 20, `${cases.length} cases`);
  for (const c of cases) {
    assert.deepEqual(words(c.input, c.env), c.expected, `wordsTest:${c.line} ${JSON.stringify(c.input)}`);
    assert.deepEqual(words(c.input, new Map(Object.entries(c.env))), c.expected);
  }
});

// BuildKit's test loops over a second mode (RawQuotes + SkipUnsetEnv) but reads the already
// exhausted file, so upstream checks no case in it. Here every line runs in that mode: lines
// without quotes or unset variables must give the vector's words, the rest the words below.
const RAW_MODE_EXPECTED: Record<string, string[]> = {
  'hello${hi}bye': ['hello${hi}bye'],
  'hello"${space}"bye': ['hello"abc  def"bye'],
  'hello "${space}"bye': ['hello', '"abc  def"bye'],
  'hello"${leading}" def': ['hello"  ab c"', 'def'],
  'hello"${leading}"': ['hello"  ab c"'],
  'hello"${trailing}"d': ['hello"ab c   "d'],
  'hel"lo${trailing}"': ['hel"loab c   "'],
  'hello" there  "': ['hello" there  "'],
  'hello" there': ['error'],
  'hello\\" there': ['hello"', 'there'],
  'hello"\\\\there"': ['hello"\\there"'],
  'hello"\\there"': ['hello"\\there"'],
  "hello'\\\\there'": ["hello'\\\\there'"],
  "hello'\\there'": ["hello'\\there'"],
  "hello'$there'": ["hello'$there'"],
};

test('wordsTest vectors, raw quotes with unset variables kept', () => {
  const options: ExpandOptions = { rawQuotes: true, skipUnsetEnv: true };
  const used = new Set<string>();
  for (const c of readWordsTest()) {
    const plain = !/["']/.test(c.input) && expandWithMatches(c.input, c.env).unmatched.size === 0;
    const expected = plain ? c.expected : RAW_MODE_EXPECTED[c.input];
    assert.ok(expected, `no raw-mode expectation for wordsTest:${c.line} ${JSON.stringify(c.input)}`);
    if (!plain) used.add(c.input);
    assert.deepEqual(words(c.input, c.env, options), expected, `wordsTest:${c.line} ${JSON.stringify(c.input)}`);
  }
  assert.deepEqual([...used].sort(), Object.keys(RAW_MODE_EXPECTED).sort());
});

test('substitution forms and the variables they use (BuildKit TestProcessWithMatches)', () => {
  const cases: [string, Record<string, string>, string | Error, string[]?, string[]?][] = [
    ['x', { DUMMY: 'dummy' }, 'x', [], []],
    ['x ${UNUSED}', { DUMMY: 'dummy' }, 'x ', [], ['UNUSED']],
    ['x ${FOO}', { FOO: 'y' }, 'x y', ['FOO'], []],
    ['${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx  ccc', ['BAR', 'FOO'], ['BAZ']],
    ['${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx bbb ccc', ['BAR', 'FOO'], ['BAZ']],
    ['${FOO:-}', { FOO: 'xxx' }, 'xxx', ['FOO'], []],
    ['${FOO:-}', {}, '', [], ['FOO']],
    ['${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa bbb ', ['BAR', 'FOO'], ['BAZ']],
    ['${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa  ', ['BAR', 'FOO'], ['BAZ']],
    ['${FOO?aaa}', { FOO: 'xxx' }, 'xxx'],
    ['${BAR?bbb}', { BAR: '' }, ''],
    ['${BAZ?ccc}', {}, new Error('BAZ: ccc')],
    ['${FOO:?aaa}', { FOO: 'xxx' }, 'xxx'],
    ['${BAR:?bbb}', { BAR: '' }, new Error('BAR: bbb')],
    ['${BAZ:?}', {}, new Error('BAZ: is not allowed to be unset')],
    ['${BAR:?}', { BAR: '' }, new Error('BAR: is not allowed to be empty')],
    ['${VAR:?message here$ARG}', { ARG: 'x' }, new Error('VAR: message herex')],
    ['${FOO=aaa}', { FOO: 'xxx' }, new Error('unsupported modifier (=)')],
    ['${FOO=:aaa}', { FOO: 'xxx' }, new Error('unsupported modifier')],
    ['${FOO:#x}', { FOO: 'xxx' }, new Error('unsupported modifier (:#)')],
    ['${FOO#()[]{\\}^$.\\*\\?|\\\\}', { FOO: '()[]{}^$.*?|\\x' }, 'x', ['FOO'], []],
    ['${FOO%%\\**}', { FOO: 'xx**' }, 'xx'],
    ['${FOO#*x*y}', { FOO: 'xxyy' }, 'y'],
    ['${FOO#*}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: 'x' }, 'xyy', ['BAR', 'FOO'], []],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy'],
    ['${FOO#}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO##*x}', { FOO: 'xxyy' }, 'yy'],
    ['${FOO##}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO#?\\?}', { FOO: '???y' }, '?y'],
    ['${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }, '.xxyy.', ['FOO'], ['ABC']],
    ['${FOO%%\\**\\*}', { FOO: 'a***yy*' }, 'a'],
    ['${FOO%}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO%y}', { FOO: 'xxyy' }, 'xxy'],
    ['${FOO%%y*}', { FOO: 'xyxy' }, 'x'],
    ['${FOO%y*}', { FOO: 'xyxy' }, 'xyx'],
    ['${FOO%%$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy'],
    ['${FOO#[ab]}', { FOO: '[ab]c' }, 'c'],
    ['${FOO#\\x}', { FOO: 'xy' }, new Error("invalid pattern (\\x) in substitution: invalid escape '\\x'")],
    ['${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, '/foo.*/*.txt - /foo..*.txt'],
    ['${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, '/tmp/bar.txt - /bar.txt'],
    [
      '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}',
      { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' },
      '/foo/b/c.txt - /foo/c.txt',
    ],
    ['${FOO/$NEEDLE/$REPLACEMENT}', { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' }, 'https://google.de'],
    ['${FOO//\\//\\/}', { FOO: '/tmp/foo.txt' }, '\\/tmp\\/foo.txt'],
    ['${FOO/$BAR/ww}', { FOO: 'xxyy', BAR: '' }, 'wwxxyy'],
    ['${FOO//ww}', { FOO: 'xxyy' }, new Error("missing '/'")],
    ['${FOO//}', { FOO: 'xxyy' }, new Error("missing '/'")],
    ['${FOO///}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO///}', {}, '', [], ['FOO']],
    ['${FOO//*/x}', { FOO: 'abc' }, 'x'],
    // `$0` would be expanded by the lexer; an escaped one reaches Go's replacement template.
    ['${FOO//b*/[$0]}', { FOO: 'abc' }, 'a[]'],
    ['${FOO//b*/[\\$0]}', { FOO: 'abc' }, 'a[\\bc]'],
    ['${FOO/a/\\$0}', { FOO: 'abc' }, '\\$0bc'],
    [
      'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz',
      { VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7' },
      'something-v1.2.3.linux-arm-v7.tar.gz',
      ['TARGETARCH', 'TARGETOS', 'TARGETVARIANT', 'VERSION'],
      [],
    ],
  ];
  for (const [input, env, expected, matched, unmatched] of cases) {
    if (expected instanceof Error) {
      assert.throws(
        () => expandWord(input, env),
        (err: unknown) => err instanceof WordExpansionError && err.message.includes(expected.message),
        input,
      );
      continue;
    }
    const r = expandWithMatches(input, env);
    assert.equal(r.result, expected, input);
    if (matched) assert.deepEqual([...r.matched].sort(), matched, `${input} matched`);
    if (unmatched) assert.deepEqual([...r.unmatched].sort(), unmatched, `${input} unmatched`);
  }
});

test('unset references are kept verbatim with skipUnsetEnv', () => {
  const options: ExpandOptions = { skipUnsetEnv: true };
  assert.equal(expandWord('$A ${B} ${C:-x} ${D/a/b} ${E//a/b} $SET', { SET: 'v' }, options), '$A ${B} ${C:-x} ${D/a/b} ${E/a/b} v');
});

test('the backtick escape character', () => {
  const env = { PWD: '/home' };
  assert.equal(expandWord('a`$PWD `` \\x "`"q"', env, { escape: '`' }), 'a$PWD ` \\x "q');
  assert.equal(expandWord('C:\\dir\\$PWD', env, { escape: '`' }), 'C:\\dir\\/home');
});

test('raw escapes and unprocessed quotes (here-doc bodies)', () => {
  const env = { NAME: 'me' };
  assert.equal(expandWord('echo "hi $NAME" \'$NAME\' \\$NAME', env, { skipProcessQuotes: true }), 'echo "hi me" \'me\' $NAME');
  assert.equal(expandWord('a\\ b', {}, { rawEscapes: true }), 'a\\ b');
  assert.deepEqual(expandWords('a\\ b c', {}, { rawEscapes: true }), ['a\\ b', 'c']);
});

test('errors are typed and name the word', () => {
  assert.throws(
    () => expandWord('he${PWD', {}),
    (err: unknown) =>
      err instanceof WordExpansionError &&
      err instanceof OcibuildError &&
      err.code === 'ERR_DOCKERFILE' &&
      err.word === 'he${PWD' &&
      err.message.includes('"he${PWD"'),
  );
});
