/**
 * One measured writeLayer run, in its own process so its peak RSS is its own.
 * Usage: layer-child.ts SOURCE_DIR OUT_DIR [default|fflate|node]: the default gzip encoder
 * (libdeflate), fflate or node:zlib. Prints one JSON line.
 * @module
 */
import * as fs from 'node:fs/promises';
import { fflateGzip, nodeGzip } from '../../src/compress/index.ts';
import { writeLayer } from '../../src/layer/index.ts';

const [source, out, encoderName] = process.argv.slice(2);
if (source === undefined || out === undefined) throw new Error('usage: layer-child.ts SOURCE OUT [default|fflate|node]');
const encoder = encoderName === 'node' ? nodeGzip() : encoderName === 'fflate' ? fflateGzip() : undefined;
const baseline = process.memoryUsage().rss;
const started = performance.now();
const layer = await writeLayer({ directories: [{ source }] }, { directory: out, encoder });
const seconds = (performance.now() - started) / 1000;
await fs.rm(layer.path);
console.log(
  JSON.stringify({
    seconds,
    digest: layer.descriptor.digest,
    size: layer.descriptor.size,
    uncompressed: layer.uncompressedSize,
    maxRssKiB: process.resourceUsage().maxRSS,
    baselineRssKiB: Math.round(baseline / 1024),
  }),
);
