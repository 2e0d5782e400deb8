/**
 * Bounds on layer tars (src/layer/tar-guard.ts) with hostile archives built byte by byte: PAX
 * and GNU long-name headers over the cap, a gzip bomb against a small `maxBytes`, too many
 * members, sizes the parser could mis-frame, a `diff_ids` entry that does not match, and a stage
 * rootfs that is thrown away when its base layer fails verification. Honest tars from GNU tar
 * (PAX and GNU long names, sparse-free) pass unchanged.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { LimitExceededError, OcibuildError } from '../../src/errors.ts';
import { openLayerTar } from '../../src/layer/decode.ts';
import { DEFAULT_TAR_LIMITS, guardTarStream } from '../../src/layer/tar-guard.ts';
import { OCI_LAYER_GZIP, OCI_LAYER_TAR } from '../../src/oci/mediatypes.ts';
import { extractLayer } from '../../src/run/extract.ts';
import { StageRootfs } from '../../src/run/rootfs.ts';
import { ustarHeader as header } from '../helpers/tar.ts';
import { sha256 } from '../helpers/data.ts';

function pad(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** A member with content (header, bytes, padding). */
function member(name: string, typeflag: string, content: Buffer): Buffer {
  return Buffer.concat([header(name, typeflag, content.length), content, pad(content.length)]);
}

/** One PAX record, its length prefix counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

const END = Buffer.alloc(1024);

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Reads a stream to its end; returns how many bytes got through. */
async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.length;
  return n;
}


function isLimit(limit: string): (e: unknown) => boolean {
  return (e) => e instanceof LimitExceededError && e.code === 'ERR_LIMIT_EXCEEDED' && e.limit === limit;
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-tar-guard-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function freshRoot(name: string): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(root);
  return root;
}

describe('tar bounds: extended headers', () => {
  it('refuses a PAX header over maxHeaderBytes before reading its body (default 1 MiB, as Go)', async () => {
    assert.equal(DEFAULT_TAR_LIMITS.maxHeaderBytes, 1 << 20);
    // Declares 2 GiB of records; the guard must stop at the header, not buffer the body.
    const hostile = Buffer.concat([header('PaxHeader', 'x', 2 * 1024 ** 3), Buffer.alloc(4096, 0x41)]);
    let delivered = 0;
    await assert.rejects(
      (async () => {
        for await (const c of guardTarStream(once(hostile))) delivered += c.length;
      })(),
      isLimit('maxHeaderBytes'),
    );
    assert.equal(delivered, 0, 'nothing of the hostile chunk reaches the parser');
    // Just over a configured cap: refused; the same archive passes under the default.
    const longPath = `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(200)}`;
    const records = paxRecord('path', longPath);
    const layer = Buffer.concat([member('PaxHeader', 'x', Buffer.from(records)), member('short', '0', Buffer.from('hi')), END]);
    await assert.rejects(drain(guardTarStream(once(layer), { limits: { maxHeaderBytes: 512 } })), isLimit('maxHeaderBytes'));
    const root = freshRoot('pax-ok');
    await extractLayer(root, once(layer));
    assert.equal(fs.readFileSync(path.join(root, longPath), 'utf8'), 'hi');
  });

  it('refuses a PAX global header and GNU long name/link headers over the cap', async () => {
    for (const type of ['g', 'L', 'K']) {
      const hostile = Buffer.concat([header('././@LongLink', type, (1 << 20) + 1), Buffer.alloc(512)]);
      await assert.rejects(drain(guardTarStream(once(hostile))), isLimit('maxHeaderBytes'), `type ${type}`);
      const root = freshRoot(`long-${type}`);
      await assert.rejects(extractLayer(root, once(hostile)), isLimit('maxHeaderBytes'), `extract, type ${type}`);
      assert.deepEqual(fs.readdirSync(root), []);
    }
    // A long name under a small cap, through openLayerTar (every layer reader goes through it).
    const longName = Buffer.concat([member('././@LongLink', 'L', Buffer.from('n'.repeat(300) + '\0')), member('x', '0', Buffer.from('1')), END]);
    await assert.rejects(drain(openLayerTar(OCI_LAYER_TAR, once(longName), { limits: { maxHeaderBytes: 256 } })), isLimit('maxHeaderBytes'));
    assert.equal(await drain(openLayerTar(OCI_LAYER_TAR, once(longName))), longName.length);
  });

  it('refuses what the parser could frame differently: empty extended headers, odd PAX sizes, truncation', async () => {
    const layerError = (e: unknown): boolean => e instanceof OcibuildError && e.code === 'ERR_LAYER';
    await assert.rejects(drain(guardTarStream(once(Buffer.concat([header('PaxHeader', 'x', 0), member('f', '0', Buffer.from('x')), END])))), layerError);
    for (const size of ['-1', '12abc', '99999999999999999999', '0x10']) {
      const bad = Buffer.concat([member('PaxHeader', 'x', Buffer.from(paxRecord('size', size))), member('f', '0', Buffer.from('x')), END]);
      await assert.rejects(drain(guardTarStream(once(bad))), layerError, size);
    }
    const truncated = member('f', '0', Buffer.alloc(2000)).subarray(0, 1500);
    await assert.rejects(drain(guardTarStream(once(truncated))), layerError);
    const corrupt = header('f', '0', 1);
    corrupt[0] = 0x41; // checksum no longer matches
    await assert.rejects(drain(guardTarStream(once(Buffer.concat([corrupt, Buffer.alloc(512), END])))), layerError);
  });

  it('follows PAX size records and global headers exactly as the extractor does', async () => {
    // The PAX size (600) overrides the ustar size (0): the member's 600 bytes must be skipped as
    // content, so the tar-looking header hidden inside them is data, not a member.
    const hidden = header('hidden', '0', 0);
    const content = Buffer.concat([hidden, Buffer.alloc(88, 0x62)]);
    const layer = Buffer.concat([
      member('PaxHeader', 'g', Buffer.from(paxRecord('comment', 'global'))),
      member('PaxHeader', 'x', Buffer.from(paxRecord('size', String(content.length)))),
      header('f', '0', 0),
      content,
      pad(content.length),
      END,
    ]);
    const root = freshRoot('pax-size');
    const result = await extractLayer(root, once(layer), { limits: { maxEntries: 1 } });
    assert.equal(result.entries, 1);
    assert.deepEqual(fs.readdirSync(root), ['f']);
    assert.equal(fs.statSync(path.join(root, 'f')).size, content.length);
  });

  it('passes a GNU tar archive with long names and links unchanged', async () => {
    const src = path.join(tmp, 'gnu-src');
    const deep = path.join(src, 'd'.repeat(120), 'e'.repeat(120));
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'f'.repeat(150)), 'content');
    fs.symlinkSync('t'.repeat(180), path.join(src, 'link'));
    for (const format of ['gnu', 'pax']) {
      const bytes = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', src, '.'], { maxBuffer: 16 << 20 });
      assert.equal(await drain(guardTarStream(once(bytes), { diffId: sha256(bytes) })), bytes.length);
      const root = freshRoot(`gnu-${format}`);
      await extractLayer(root, once(bytes), { diffId: sha256(bytes) });
      assert.equal(fs.readFileSync(path.join(root, path.relative(src, deep), 'f'.repeat(150)), 'utf8'), 'content');
      assert.equal(fs.readlinkSync(path.join(root, 'link')), 't'.repeat(180));
    }
  });
});

describe('tar bounds: size and members', () => {
  it('stops a gzip bomb at maxBytes with ERR_LIMIT_EXCEEDED instead of filling the disk', async () => {
    // 32 MiB of zeros in one member compresses to ~32 KiB; with a 1 MiB cap extraction stops early.
    const zeros = 32 << 20;
    const bomb = gzipSync(Buffer.concat([header('bomb', '0', zeros), Buffer.alloc(zeros), END]), { level: 9 });
    assert.ok(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes`);
    assert.equal(DEFAULT_TAR_LIMITS.maxBytes, 64 * 1024 ** 3);
    const root = freshRoot('bomb');
    const limit = 1 << 20;
    await assert.rejects(
      extractLayer(root, openLayerTar(OCI_LAYER_GZIP, once(bomb), { limits: { maxBytes: limit } })),
      (e: unknown) => isLimit('maxBytes')(e) && (e as LimitExceededError).value === limit && /maxBytes/.test((e as Error).message),
    );
    const written = fs.statSync(path.join(root, 'bomb'), { throwIfNoEntry: false })?.size ?? 0;
    assert.ok(written <= limit, `wrote ${written} bytes`);
    // A bomb of nothing but zero blocks (no member at all) is stopped the same way.
    const blank = gzipSync(Buffer.alloc(8 << 20), { level: 9 });
    await assert.rejects(drain(openLayerTar(OCI_LAYER_GZIP, once(blank), { limits: { maxBytes: limit } })), isLimit('maxBytes'));
  });

  it('stops at maxEntries', async () => {
    const members = Array.from({ length: 11 }, (_, i) => member(`f${i}`, '0', Buffer.from('x')));
    const layer = Buffer.concat([...members, END]);
    await assert.rejects(extractLayer(freshRoot('entries'), once(layer), { limits: { maxEntries: 10 } }), isLimit('maxEntries'));
    assert.equal((await extractLayer(freshRoot('entries-ok'), once(layer), { limits: { maxEntries: 11 } })).entries, 11);
    await assert.rejects(extractLayer(freshRoot('entries-bad'), once(layer), { limits: { maxEntries: -1 } }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('tar bounds: what the file system refuses', () => {
  it('a member name the kernel refuses (a component over NAME_MAX) is a typed ERR_LAYER, on both rootfs paths', async () => {
    const longName = `${'n'.repeat(300)}`;
    const hostile = Buffer.concat([member('PaxHeader', 'x', Buffer.from(paxRecord('path', longName))), member('short', '0', Buffer.from('x')), END]);
    const fine = Buffer.concat([member('ok', '0', Buffer.from('x')), END]);
    const dir = path.join(tmp, 'stage-name-max');
    const rootfs = new StageRootfs(dir);
    const layer = (key: string, bytes: Buffer) => ({ key, tar: async () => openLayerTar(OCI_LAYER_TAR, once(bytes)) });
    // Rebuild path (nothing applied yet), then the incremental path (on top of a live tree).
    await assert.rejects(rootfs.sync([layer('sha256:long', hostile)]), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER' && /ENAMETOOLONG|name too long/i.test(e.message));
    await rootfs.sync([layer('sha256:ok', fine)]);
    await assert.rejects(rootfs.sync([layer('sha256:ok', fine), layer('sha256:long', hostile)]), { code: 'ERR_LAYER' });
    assert.equal(fs.existsSync(dir), false);
  });
});

describe('tar bounds: diffID', () => {
  const layer = Buffer.concat([member('etc/passwd', '0', Buffer.from('root:x:0:0::/root:/bin/sh\n')), END]);
  const wrong = sha256(Buffer.from('something else'));

  it('fails an extraction whose tar does not hash to the diff_ids entry', async () => {
    await assert.rejects(extractLayer(freshRoot('diff-bad'), once(layer), { diffId: wrong }), (e: unknown) => {
      return e instanceof OcibuildError && e.code === 'ERR_DIGEST_MISMATCH' && e.message.includes(wrong) && e.message.includes(sha256(layer));
    });
    await extractLayer(freshRoot('diff-ok'), once(layer), { diffId: sha256(layer) });
    // Compressed layers are checked on the uncompressed bytes.
    await drain(openLayerTar(OCI_LAYER_GZIP, once(gzipSync(layer)), { diffId: sha256(layer) }));
    await assert.rejects(drain(openLayerTar(OCI_LAYER_GZIP, once(gzipSync(layer)), { diffId: wrong })), { code: 'ERR_DIGEST_MISMATCH' });
  });

  it('throws a stage rootfs away when a base layer fails its diffID, keeps it when it matches', async () => {
    const dir = path.join(tmp, 'stage');
    const rootfs = new StageRootfs(dir);
    const good = { key: 'sha256:good', tar: async () => openLayerTar(OCI_LAYER_GZIP, once(gzipSync(layer)), { diffId: sha256(layer) }) };
    const bad = { key: 'sha256:bad', tar: async () => openLayerTar(OCI_LAYER_GZIP, once(gzipSync(layer)), { diffId: wrong }) };
    await assert.rejects(rootfs.sync([bad]), { code: 'ERR_DIGEST_MISMATCH' });
    assert.equal(fs.existsSync(dir), false, 'the unverified tree is removed');
    assert.deepEqual(rootfs.layers, []);
    await rootfs.sync([good]);
    assert.equal(fs.readFileSync(path.join(dir, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    // Applied on top of a live tree (the incremental path): the tree is removed too.
    await assert.rejects(rootfs.sync([good, bad]), { code: 'ERR_DIGEST_MISMATCH' });
    assert.equal(fs.existsSync(dir), false);
    await rootfs.remove();
  });
});
