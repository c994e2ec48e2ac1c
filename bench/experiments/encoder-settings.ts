/**
 * One-off measurement behind BENCHMARKS.md's "Encoder settings": what sharp's PNG and JPEG settings cost per
 * 1080p frame, and how big the files get, with no framepipe around them. Ten RGB frames spread over the bench clip
 * are encoded with each setting, one libvips thread, three times over; the CPU time of the median round is shown.
 * Two rows are not encoders: sharp handing the raw pixels straight back (what a libvips pipeline costs with no
 * codec), and the deflate a PNG writer of our own would run on Node's zlib (each row prefixed with filter byte 0).
 *
 *   pnpm bench -- --quick          # makes the clips in .bench/ if they are not there yet
 *   node bench/experiments/encoder-settings.ts [clip]
 */
import { join } from 'node:path';
import { constants, crc32, deflateSync } from 'node:zlib';
import { referenceFrames, sampleFrames } from '../quality.ts';
import { sharp } from '../deps.ts';

const clip = process.argv[2] ?? join(import.meta.dirname, '../../.bench/testsrc2-1920x1080-25fps-10s-h264-v1.mp4');
const reference = await referenceFrames(clip, sampleFrames(250, 10));
const { width, height } = reference;
const frames = [...reference.frames.values()];

type Pipeline = ReturnType<typeof sharp>;
type Encode = (image: Pipeline) => Pipeline;
const SETTINGS: Array<[string, Encode]> = [
  ['sharp, raw pixels back (no codec)', (i) => i.raw()],
  ['PNG level 1, no filter (framepipe)', (i) => i.png({ compressionLevel: 1, adaptiveFiltering: false })],
  ['PNG level 0, no filter', (i) => i.png({ compressionLevel: 0, adaptiveFiltering: false })],
  ['PNG level 2, no filter', (i) => i.png({ compressionLevel: 2, adaptiveFiltering: false })],
  ['PNG level 1, adaptive filter', (i) => i.png({ compressionLevel: 1, adaptiveFiltering: true })],
  ['PNG level 6 (sharp default), adaptive filter', (i) => i.png({ compressionLevel: 6, adaptiveFiltering: true })],
  ['JPEG q95 4:2:0, no Huffman optimisation (framepipe)', (i) => i.jpeg({ quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: false })],
  ['JPEG q95 4:2:0, Huffman optimisation', (i) => i.jpeg({ quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: true })],
  ['JPEG q90 4:2:0, no Huffman optimisation', (i) => i.jpeg({ quality: 90, chromaSubsampling: '4:2:0', optimiseCoding: false })],
];

/** Unfiltered PNG rows: each row of the frame after a 0 byte, as the deflate input of a PNG's IDAT. */
function unfilteredRows(data: Buffer): Buffer {
  const row = width * 3;
  const out = Buffer.allocUnsafe((row + 1) * height);
  for (let y = 0; y < height; y++) {
    out[y * (row + 1)] = 0;
    data.copy(out, y * (row + 1) + 1, y * row, (y + 1) * row);
  }
  return out;
}

sharp.concurrency(1);
sharp.cache(false);
console.log(`${frames.length} frames of ${clip}, ${width}x${height}, sharp with 1 thread\n`);
console.log('| setting | CPU ms/frame | KiB/frame |\n|---|---:|---:|');
for (const [name, encode] of SETTINGS) {
  const rounds: Array<{ ms: number; bytes: number }> = [];
  for (let round = 0; round < 3; round++) {
    let bytes = 0;
    const before = process.cpuUsage();
    for (const data of frames) bytes += (await encode(sharp(data, { raw: { width, height, channels: 3 } })).toBuffer()).length;
    const used = process.cpuUsage(before);
    rounds.push({ ms: (used.user + used.system) / 1000 / frames.length, bytes: bytes / frames.length });
  }
  rounds.sort((a, b) => a.ms - b.ms);
  const median = rounds[1]!;
  console.log(`| ${name} | ${median.ms.toFixed(1)} | ${(median.bytes / 1024).toFixed(0)} |`);
}
for (const [name, strategy] of [['level 1', constants.Z_DEFAULT_STRATEGY], ['level 1, Z_RLE', constants.Z_RLE]] as const) {
  let bytes = 0;
  const before = process.cpuUsage();
  for (const data of frames) {
    const rows = unfilteredRows(data);
    bytes += deflateSync(rows, { level: 1, strategy }).length;
    crc32(rows);
  }
  const used = process.cpuUsage(before);
  console.log(`| node:zlib deflate, ${name} (rows + CRC, no PNG chunks) | ${((used.user + used.system) / 1000 / frames.length).toFixed(1)} | ${(bytes / frames.length / 1024).toFixed(0)} |`);
}
