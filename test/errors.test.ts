import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortedError,
  DigestMismatchError,
  InvalidArgumentError,
  isNotFound,
  isOcibuildError,
  NotFoundError,
  OcibuildError,
  RegistryError,
} from '../src/errors.ts';

test('error families keep their codes and names', () => {
  const missing = new NotFoundError('no blob');
  assert.equal(missing.code, 'ERR_NOT_FOUND');
  assert.equal(missing.name, 'NotFoundError');
  assert.ok(missing instanceof NotFoundError && missing instanceof OcibuildError && missing instanceof Error);
  assert.equal(new NotFoundError('x', { code: 'ERR_SOURCE_NOT_FOUND' }).code, 'ERR_SOURCE_NOT_FOUND');
  assert.equal(new InvalidArgumentError('bad').code, 'ERR_INVALID_ARGUMENT');
  assert.equal(new InvalidArgumentError('bad', { code: 'ERR_INVALID_PLATFORM' }).code, 'ERR_INVALID_PLATFORM');
  assert.equal(new AbortedError('stop').code, 'ERR_ABORTED');
  assert.ok(!(new InvalidArgumentError('bad') instanceof NotFoundError));
  assert.ok(!(new OcibuildError('ERR_IO', 'x') instanceof NotFoundError));
});

test('instanceof and isOcibuildError survive a second copy of the module', async () => {
  const other = (await import(`../src/errors.ts?copy=${Date.now()}`)) as typeof import('../src/errors.ts');
  assert.notEqual(other.NotFoundError, NotFoundError, 'a distinct copy was loaded');
  const foreign = new other.NotFoundError('from the other copy');
  assert.ok(foreign instanceof NotFoundError);
  assert.ok(foreign instanceof OcibuildError);
  assert.ok(!(foreign instanceof RegistryError));
  assert.ok(isOcibuildError(foreign, 'ERR_NOT_FOUND'));
  assert.ok(isNotFound(foreign));
  const mismatch = new other.DigestMismatchError('sha256:a', 'sha256:b', 'here');
  assert.ok(mismatch instanceof DigestMismatchError);
  assert.ok(new NotFoundError('x') instanceof other.OcibuildError);
});

test('isNotFound is true for absence only', () => {
  assert.ok(isNotFound(new NotFoundError('x')));
  assert.ok(isNotFound(new RegistryError('ERR_REGISTRY_NOT_FOUND', 'x', { status: 404 })));
  assert.ok(!isNotFound(new RegistryError('ERR_REGISTRY', 'x', { status: 500 })));
  assert.ok(!isNotFound(Object.assign(new Error('no file'), { code: 'ENOENT' })), 'a file-system error is not an ocibuild not-found');
  assert.ok(!isNotFound(new OcibuildError('ERR_IO', 'x')));
  assert.ok(!isOcibuildError(new Error('plain')));
  assert.ok(!isOcibuildError({ code: 'ERR_NOT_FOUND' }), 'a look-alike without the brand is not one');
});
