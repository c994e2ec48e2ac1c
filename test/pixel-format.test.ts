/**
 * Pixel formats, for the iterator and for files: each against Debian's ffmpeg 5.1 on the same frames of a colour
 * fixture (`-pix_fmt bgr24 / gray / rgba / rgb48le`), with the tolerance stated in each case; the files read back with
 * sharp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ErrorCode, InvalidOptionError, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { IterateOptions, PixelFormat, RgbFrame } from '@framepipe/core';
import { FrameEncoder } from '@framepipe/sink';
import { H264_COLOUR_MP4, HEVC10_COLOUR_MP4, H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { ffmpegFrames, sampleDifference } from './support/ffmpeg-reference.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';

const W = 640;
const H = 360;

async function frames(path: string, options: IterateOptions): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for await (const frame of streamVideoFrames(path, { start: 5, end: 7, ...options })) out.push(frame);
  return out;
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await run(dir);
  } finally {
    await removeDir(dir);
  }
}

const CASES: Array<{ format: PixelFormat; ffmpeg: string; channels: number; bytes: number; mean: number; max: number }> = [
  // The same swscale path as rgb24, bytes in another order: the same bytes as ffmpeg's up to its version's rounding.
  { format: 'bgr24', ffmpeg: 'bgr24', channels: 3, bytes: 3, mean: 0.5, max: 8 },
  { format: 'rgba', ffmpeg: 'rgba', channels: 4, bytes: 4, mean: 0.5, max: 8 },
  // Luma, made full range as ffmpeg's gray output from a limited-range source.
  { format: 'gray8', ffmpeg: 'gray', channels: 1, bytes: 1, mean: 0.5, max: 8 },
];

for (const c of CASES) {
  test(`${c.format}: the frames of ffmpeg's -pix_fmt ${c.ffmpeg} (mean ≤ ${c.mean}, max ≤ ${c.max} per byte)`, async () => {
    const path = await makeFixture(H264_COLOUR_MP4);
    const got = await frames(path, { pixelFormat: c.format });
    const expected = await ffmpegFrames(path, { first: 5, last: 7, pixFmt: c.ffmpeg, frameBytes: W * H * c.bytes });
    assert.deepEqual(got.map((f) => f.index), [5, 6, 7]);
    got.forEach((frame, i) => {
      assert.deepEqual([frame.format, frame.channels, frame.stride, frame.data.length], [c.format, c.channels, W * c.bytes, W * H * c.bytes]);
      const { mean, max } = sampleDifference(frame.data, expected[i]!);
      assert.ok(mean <= c.mean && max <= c.max, `frame ${frame.index}: mean ${mean.toFixed(3)}, max ${max}`);
    });
  });
}

test('bgr24 is rgb24 with red and blue swapped, byte for byte', async () => {
  const path = await makeFixture(H264_COLOUR_MP4);
  const [rgb] = await frames(path, {});
  const [bgr] = await frames(path, { pixelFormat: 'bgr24' });
  const swapped = Buffer.from(rgb!.data);
  for (let i = 0; i < swapped.length; i += 3) [swapped[i], swapped[i + 2]] = [swapped[i + 2]!, swapped[i]!];
  assert.ok(bgr!.data.equals(swapped));
  assert.ok(!bgr!.data.equals(rgb!.data), 'the colour fixture has colours, so the orders differ');
});

test("rgb48 of a 10-bit source: ffmpeg's rgb48le (mean ≤ 160 in 16-bit units, i.e. 0.6 of 8-bit; ≤ 2% of samples off by more than 16 × 257)", async () => {
  const path = await makeFixture(HEVC10_COLOUR_MP4);
  const got = await frames(path, { pixelFormat: 'rgb48' });
  // ffmpeg with accurate rounding, as the converter rounds. ffmpeg repeats each chroma sample over two pixels where
  // the converter interpolates: they differ the most at the colour band's sharp edges, as rgb24 does.
  const expected = await ffmpegFrames(path, { first: 5, last: 7, pixFmt: 'rgb48le', frameBytes: W * H * 6, args: ['-sws_flags', 'bilinear+accurate_rnd'] });
  got.forEach((frame, i) => {
    assert.deepEqual([frame.format, frame.channels, frame.stride], ['rgb48', 3, W * 6]);
    const { mean, max, farShare } = sampleDifference(frame.data, expected[i]!, 2, 16 * 257);
    assert.ok(mean <= 160 && farShare <= 0.02, `frame ${frame.index}: mean ${mean.toFixed(2)}, ${(farShare * 100).toFixed(2)}% far off, max ${max}`);
  });
  // More than 8 bits: values that are not multiples of 257 (what an 8-bit source scaled up would give).
  const values = new Uint16Array(got[0]!.data.buffer, got[0]!.data.byteOffset, got[0]!.data.length / 2);
  assert.ok(values.some((v) => v % 257 !== 0), 'rgb48 carries the source precision');
});

test('a 10-bit source gives the same picture in every format: rgb48 / 257, bgr24, rgba and rgb24 agree (saturated colours do not wrap around)', async () => {
  const path = await makeFixture(HEVC10_COLOUR_MP4);
  const [rgb] = await frames(path, { end: 5 });
  const [deep] = await frames(path, { end: 5, pixelFormat: 'rgb48' });
  const scaled = Buffer.alloc(rgb!.data.length);
  for (let i = 0; i < scaled.length; i++) scaled[i] = Math.round(deep!.data.readUInt16LE(i * 2) / 257);
  const { mean, farShare } = sampleDifference(scaled, rgb!.data);
  assert.ok(mean <= 1 && farShare <= 0.01, `rgb48 against rgb24: mean ${mean.toFixed(3)}, ${(farShare * 100).toFixed(2)}% over 16`);
  const [bgr] = await frames(path, { end: 5, pixelFormat: 'bgr24' });
  const [rgba] = await frames(path, { end: 5, pixelFormat: 'rgba' });
  for (let p = 0; p < W * H; p++) {
    const [r, g, b] = [rgb!.data[p * 3]!, rgb!.data[p * 3 + 1]!, rgb!.data[p * 3 + 2]!];
    assert.deepEqual([bgr!.data[p * 3 + 2], bgr!.data[p * 3 + 1], bgr!.data[p * 3]], [r, g, b], `bgr24 pixel ${p}`);
    if (rgba!.data[p * 4] !== r || rgba!.data[p * 4 + 1] !== g || rgba!.data[p * 4 + 2] !== b || rgba!.data[p * 4 + 3] !== 255) assert.fail(`rgba pixel ${p}`);
  }
});

test('files: gray8 gives grey PNG and JPEG, rgba a PNG with alpha and a WebP, bgr24 the right colours, rgb48 a 16-bit PNG', async () => {
  const path = await makeFixture(H264_COLOUR_MP4);
  const [rgb] = await frames(path, {});
  const [rgb48] = await frames(path, { pixelFormat: 'rgb48' });
  await withDir(async (dir) => {
    const write = (name: string, options: Parameters<typeof streamVideoFramesToDir>[2]) =>
      streamVideoFramesToDir(path, join(dir, name), { start: 5, end: 5, ...options }).then(([file]) => file!);
    const grayPng = await write('gray-png', { pixelFormat: 'gray8' });
    const grayJpg = await write('gray-jpg', { pixelFormat: 'gray8', ext: 'jpg' });
    assert.equal((await sharp(grayPng).metadata()).channels, 1, 'grey PNG');
    assert.equal((await sharp(grayJpg).metadata()).channels, 1, 'grey JPEG');
    const rgbaPng = await write('rgba-png', { pixelFormat: 'rgba' });
    const rgbaWebp = await write('rgba-webp', { pixelFormat: 'rgba', ext: 'webp' });
    assert.equal((await sharp(rgbaPng).metadata()).channels, 4);
    // The converter's alpha is opaque everywhere, and libwebp then leaves it out of a WebP: the colours stay.
    const webpPixels = await sharp(rgbaWebp).removeAlpha().raw().toBuffer();
    assert.ok(sampleDifference(webpPixels, rgb!.data).mean < 3, 'the rgba WebP shows the picture');
    // A JPEG has no alpha: its three colour channels are written.
    assert.equal((await sharp(await write('rgba-jpg', { pixelFormat: 'rgba', ext: 'jpg' })).metadata()).channels, 3);
    const bgrPng = await write('bgr-png', { pixelFormat: 'bgr24' });
    const bgrPixels = await sharp(bgrPng).raw().toBuffer();
    assert.ok(bgrPixels.equals(rgb!.data), 'a bgr24 PNG holds the RGB picture');
    const deep = await write('rgb48-png', { pixelFormat: 'rgb48' });
    const meta = await sharp(deep).metadata();
    assert.deepEqual([meta.depth, meta.channels], ['ushort', 3]);
    const read = await sharp(deep).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
    assert.ok(read.equals(rgb48!.data), 'the 16-bit PNG holds the frame values');
  });
});

test('rgb48 with JPEG or WebP files is refused before any I/O; a custom imageWriter gets each frame with its format', async () => {
  for (const ext of ['jpg', 'webp'] as const) {
    await assert.rejects(streamVideoFramesToDir('/nonexistent.mp4', '/nonexistent/out', { pixelFormat: 'rgb48', ext }), {
      code: ErrorCode.INVALID_OPTION,
      message: `pixelFormat cannot be used together with ext: ${ext} files hold 8 bits per channel; write rgb48 as png (16-bit)`,
    });
  }
  const encoder = new FrameEncoder({ ext: 'jpg' });
  await assert.rejects(encoder.encode({ width: 1, height: 1, data: Buffer.alloc(6), format: 'rgb48' }), (error: unknown) => error instanceof InvalidOptionError && error.option === 'pixelFormat');
  const path = await makeFixture(H264_MP4_MOOV_END);
  const seen: Array<[number, string | undefined, number]> = [];
  await withDir(async (dir) => {
    await streamVideoFramesToDir(path, dir, {
      start: 3,
      end: 4,
      pixelFormat: 'gray8',
      size: { width: 160 },
      ext: 'jpg',
      imageWriter: async (file, frame) => {
        await writeFile(file, '');
        seen.push([frame.index, frame.format, readFrameCode(frame.data, frame.width, frame.height, 1)]);
      },
    });
  });
  assert.deepEqual(seen.sort(), [[3, 'gray8', 3], [4, 'gray8', 4]]);
});

test('pixelFormat is checked like every option', () => {
  assert.throws(() => streamVideoFrames('x.mp4', { pixelFormat: 'yuv420p' as never }), {
    code: ErrorCode.INVALID_OPTION,
    message: 'Expected one of "rgb24", "bgr24", "rgba", "gray8", "rgb48" for pixelFormat but received "yuv420p" of type string',
  });
});
