/**
 * What the built-in encoders write for decoded footage, against what Supervisely's writer (OpenCV's `cv2.imwrite`
 * with its defaults) writes for the same frames: lossless PNGs within a stated bound of OpenCV's size, JPEGs at least as close to the frame as
 * OpenCV's quality 95, as Debian's ffmpeg reads them back. The frames are decoded from fixtures: a colour test
 * picture, and the fixtures' grain (uniform noise of ±24 luma steps) coded at two bit rates, the grain kept and
 * smoothed by the encoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { streamVideoFrames } from '@framepipe/core';
import type { RgbFrame } from '@framepipe/core';
import { FrameEncoder } from '@framepipe/sink';
import { H264_COLOUR_MP4, makeFixture, type FixtureSpec } from './support/fixtures.ts';
import { runTool } from './support/ffmpeg-reference.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';

const GRAIN: FixtureSpec = { codec: 'h264', container: 'mp4', frames: 8, width: 640, height: 360, fps: 25, bFrames: 2, gop: 8, grain: true, bitRate: 4_000_000 };
/**
 * The clips, and how much bigger than OpenCV's a PNG of their frames may be. sharp writes level 1 without row filters
 * where OpenCV Sub-filters every row and deflates with zlib's RLE strategy: on these small fixtures that comes out no
 * bigger; on the bench's 1080p clips sharp's files are 1.3× (testsrc2) and 1.4× (grain) OpenCV's (BENCHMARKS.md).
 */
const CLIPS: Array<[string, FixtureSpec, number]> = [
  ['a colour test picture', H264_COLOUR_MP4, 1],
  ['strong grain', GRAIN, 1.25],
  ['strong grain smoothed by a low bit rate', { ...GRAIN, bitRate: 600_000 }, 1.25],
];

async function decodedFrames(spec: FixtureSpec): Promise<RgbFrame[]> {
  const frames: RgbFrame[] = [];
  for await (const frame of streamVideoFrames(await makeFixture(spec), { frames: [0, 3, 7] })) frames.push(frame);
  assert.equal(frames.length, 3);
  return frames;
}

/**
 * The PNG OpenCV writes by default: every row Sub-filtered, then zlib at level 1 with the RLE strategy. Made here
 * with node:zlib, which is zlib too, so the IDAT is the one OpenCV's libpng would write.
 */
function opencvPng(frame: RgbFrame): Buffer {
  const row = frame.width * 3;
  const rows = Buffer.alloc((row + 1) * frame.height);
  for (let y = 0; y < frame.height; y++) {
    const at = y * (row + 1);
    rows[at] = 1;
    for (let x = 0; x < row; x++) rows[at + 1 + x] = frame.data[y * row + x]! - (x >= 3 ? frame.data[y * row + x - 3]! : 0);
  }
  const chunk = (type: string, body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body, crc32(type)));
    return Buffer.concat([length, Buffer.from(type, 'latin1'), body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(frame.width);
  header.writeUInt32BE(frame.height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, adaptive filtering (method 0), no interlace
  const idat = deflateSync(rows, { level: 1, strategy: constants.Z_RLE });
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', header), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** An image file decoded to packed RGB by Debian's ffmpeg, a decoder independent of the encoders' libraries. */
async function ffmpegRgb(bytes: Buffer, name: string): Promise<Buffer> {
  const dir = await tempDir();
  try {
    await writeFile(join(dir, name), bytes);
    return await runTool('ffmpeg', ['-i', join(dir, name), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  } finally {
    await removeDir(dir);
  }
}

/** PSNR in dB of `decoded` against the frames' own pixels, pooled over all frames. */
function psnr(decoded: Buffer[], frames: RgbFrame[]): number {
  let sum = 0;
  let samples = 0;
  for (const [k, frame] of frames.entries()) {
    assert.equal(decoded[k]!.length, frame.data.length, 'decoded to the frame\'s size');
    for (let i = 0; i < frame.data.length; i++) sum += (decoded[k]![i]! - frame.data[i]!) ** 2;
    samples += frame.data.length;
  }
  return 10 * Math.log10((255 * 255 * samples) / sum);
}

test('the OpenCV PNG that the size test compares with decodes to the frame', async () => {
  const [frame] = await decodedFrames(GRAIN);
  assert.ok((await ffmpegRgb(opencvPng(frame!), 'opencv.png')).equals(frame!.data));
});

for (const [what, spec, bound] of CLIPS) {
  test(`PNG of ${what}: lossless, and at most ${bound}× the size of OpenCV's default PNG of each frame`, async () => {
    const encoder = new FrameEncoder({ ext: 'png' });
    for (const frame of await decodedFrames(spec)) {
      const png = await encoder.encode(frame);
      assert.ok((await ffmpegRgb(png, 'frame.png')).equals(frame.data), `frame ${frame.index} is lossless`);
      const opencv = opencvPng(frame);
      assert.ok(png.length <= bound * opencv.length, `frame ${frame.index}: ${png.length} bytes against OpenCV's ${opencv.length}`);
    }
  });

  test(`JPEG of ${what}: read back by ffmpeg, at least as close to the frames as OpenCV's quality 95`, async () => {
    const frames = await decodedFrames(spec);
    const encoder = new FrameEncoder({ ext: 'jpg' });
    const ours = await Promise.all(frames.map(async (frame) => ffmpegRgb(await encoder.encode(frame), 'frame.jpg')));
    // OpenCV's cv2.imwrite at quality 95: libjpeg with its accurate DCT, 4:2:0, standard Huffman tables (sharp's here).
    const opencv = await Promise.all(frames.map(async ({ data, width, height }) => {
      const jpeg = await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95, chromaSubsampling: '4:2:0', optimiseCoding: false }).toBuffer();
      return ffmpegRgb(jpeg, 'opencv.jpg');
    }));
    const [mine, theirs] = [psnr(ours, frames), psnr(opencv, frames)];
    assert.ok(mine >= theirs && mine > 25, `${mine.toFixed(3)} dB against OpenCV's ${theirs.toFixed(3)} dB`);
  });
}
