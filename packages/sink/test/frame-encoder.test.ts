import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Readable, pipelinePromise } from 'streamx';
import { BufferPool, ErrorCode, FramepipeError, InvalidOptionError, PIXEL_LAYOUT, type PixelFormat } from '@framepipe/common';
import { FrameDirSink, FrameEncoder, IMAGE_EXTENSIONS, type ImageExtension, type SinkFrame } from '../src/index.ts';
import { readFrameCode } from '../../../test/support/frame-code.ts';
import { codeFrame } from './support.ts';

/** The packed RGB pixels of encoded image bytes, and their format and size. */
async function decode(bytes: Buffer) {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { format } = await sharp(bytes).metadata();
  return { data, format, width: info.width, height: info.height };
}

test('PNG is lossless: the bytes decode to exactly the frame\'s pixels', async () => {
  const frame = codeFrame(123, 80, 64);
  const decoded = await decode(await new FrameEncoder().encode(frame));
  assert.equal(decoded.format, 'png');
  assert.deepEqual([decoded.width, decoded.height], [80, 64]);
  assert.ok(decoded.data.equals(frame.data));
});

for (const ext of IMAGE_EXTENSIONS) {
  test(`${ext}: the bytes are that format, of the frame's size, showing the frame`, async () => {
    const frame = codeFrame(2748);
    const encoder = new FrameEncoder({ ext });
    assert.equal(encoder.ext, ext);
    const decoded = await decode(await encoder.encode(frame));
    assert.equal(decoded.format, ext === 'jpg' ? 'jpeg' : ext);
    assert.deepEqual([decoded.width, decoded.height], [320, 240]);
    assert.equal(readFrameCode(decoded.data, decoded.width, decoded.height), 2748);
  });
}

/**
 * A frame like decoded footage with film grain, made the way a video carries it: a smooth picture (gradients, the
 * frame code) in Y, U and V, with noise of ±`grain` on every luma sample and on every chroma sample of a 2×2 block
 * (4:2:0), turned into RGB (BT.601), so that the noise of R, G and B is correlated as in a decoded frame. The noise
 * comes from a seeded generator: every run tests the same bytes.
 */
function grainFrame(index: number, width: number, height: number, grain: number, format: PixelFormat = 'rgb24'): SinkFrame {
  const { bytesPerPixel, channels } = PIXEL_LAYOUT[format];
  const code = codeFrame(index, width, height).data;
  let seed = index + 1;
  const noise = (spread: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return ((seed >>> 16) % (2 * spread + 1)) - spread;
  };
  const chroma = Array.from({ length: Math.ceil(height / 2) * Math.ceil(width / 2) }, () => [noise(grain), noise(grain)] as const);
  const data = Buffer.alloc(width * height * bytesPerPixel);
  const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  for (let p = 0; p < width * height; p++) {
    const x = p % width;
    const y = Math.floor(p / width);
    const [du, dv] = chroma[Math.floor(y / 2) * Math.ceil(width / 2) + Math.floor(x / 2)]!;
    const luma = (code[p * 3]! ? 235 : 16 + (x * 200) / width) + noise(grain);
    const u = 128 + (y * 100) / height - 50 + du;
    const v = 128 + (x * 100) / width - 50 + dv;
    const rgb = [luma + 1.402 * (v - 128), luma - 0.344 * (u - 128) - 0.714 * (v - 128), luma + 1.772 * (u - 128)].map(clamp);
    const samples = channels === 1 ? [clamp(luma)] : channels === 4 ? [...rgb, 255] : rgb;
    for (const [c, value] of samples.entries()) {
      // 16-bit samples use their low byte too, so that a PNG writer that dropped it would be caught.
      if (format === 'rgb48') data.writeUInt16LE(value * 256 + noise(127) + 127, (p * 3 + c) * 2);
      else data[p * channels + c] = value;
    }
  }
  return { index, width, height, data, format };
}

/**
 * The samples of a PNG as sharp reads them, in its own channels (sharp would turn grey into RGB), 16-bit little-endian
 * for a 16-bit PNG.
 */
async function pngSamples(bytes: Buffer): Promise<Buffer> {
  const { depth, channels } = await sharp(bytes).metadata();
  if (depth === 'ushort') return sharp(bytes).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  return channels === 1 ? sharp(bytes).extractChannel(0).raw().toBuffer() : sharp(bytes).raw().toBuffer();
}

/** A copy of B, G, R pixels as R, G, B. */
function bgrToRgb(data: Buffer): Buffer {
  const rgb = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i += 3) rgb.set([data[i + 2]!, data[i + 1]!, data[i]!], i);
  return rgb;
}

for (const format of ['rgb24', 'bgr24', 'rgba', 'gray8', 'rgb48'] as const) {
  test(`PNG of ${format} is lossless: the file decodes to exactly the frame's samples`, async () => {
    const frame = grainFrame(321, 97, 67, 40, format);
    const png = await new FrameEncoder().encode(frame);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 97, 67, PIXEL_LAYOUT[format].channels]);
    // A bgr24 frame is written as R, G, B, as every image file holds it.
    assert.ok((await pngSamples(png)).equals(format === 'bgr24' ? bgrToRgb(frame.data) : frame.data));
  });
}

test('JPEG is written with 4:2:0 chroma, as OpenCV does by default', async () => {
  const meta = await sharp(await new FrameEncoder({ ext: 'jpeg' }).encode(codeFrame(1))).metadata();
  assert.equal(meta.chromaSubsampling, '4:2:0');
});

test('the bytes are those FrameDirSink writes for the same frame', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-encoder-'));
  try {
    for (const ext of IMAGE_EXTENSIONS) {
      const frame = codeFrame(77);
      await pipelinePromise(Readable.from([frame]), new FrameDirSink(path.join(dir, ext), { ext }));
      const written = await fs.readFile(path.join(dir, ext, `frame_000077.${ext}`));
      assert.ok((await new FrameEncoder({ ext }).encode(frame)).equals(written), ext);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

for (const ext of ['png', 'jpg'] as const satisfies ImageExtension[]) {
  test(`${ext}: frames encoded at once each get their own bytes, also when the encoder reuses its buffers`, async () => {
    const encoder = new FrameEncoder({ ext });
    for (let round = 0; round < 2; round++) {
      const frames = Array.from({ length: 8 }, (_, i) => codeFrame(round * 1000 + i * 100));
      const encoded = await Promise.all(frames.map((frame) => encoder.encode(frame)));
      for (const [k, bytes] of encoded.entries()) {
        const { data } = await decode(bytes);
        if (ext === 'png') assert.ok(data.equals(frames[k]!.data), `frame ${k}`);
        else assert.equal(readFrameCode(data, 320, 240), round * 1000 + k * 100);
      }
    }
  });
}

test('with a pool, each frame\'s buffer goes back once encoded, and the next frame reuses it', async () => {
  const pool = new BufferPool(2);
  const encoder = new FrameEncoder({ pool });
  const first = codeFrame(5, 80, 64, pool);
  const bytes = await encoder.encode(first);
  assert.equal(pool.available, 1);
  assert.equal(readFrameCode((await decode(bytes)).data, 80, 64), 5, 'encoded before the buffer went back');
  const second = codeFrame(6, 80, 64, pool);
  assert.equal(second.data, first.data, 'the same buffer, reused');
  assert.equal(readFrameCode((await decode(await encoder.encode(second))).data, 80, 64), 6);
});

for (const ext of IMAGE_EXTENSIONS) {
  test(`${ext}: a frame whose data is too short for its size rejects with a RangeError, and its buffer still goes back`, async () => {
    const pool = new BufferPool(2);
    pool.take(100); // sets the pool's size to the bad frame's
    const bad: SinkFrame = { index: 0, width: 64, height: 48, data: Buffer.alloc(100) };
    await assert.rejects(new FrameEncoder({ ext, pool }).encode(bad), (error: Error) =>
      error instanceof RangeError && !(error instanceof FramepipeError) && error.message === 'Frame data of 100 bytes is too short for 64×48 rgb24 (9216 bytes)');
    assert.equal(pool.available, 1);
  });
}

test('options are checked with exact messages', () => {
  const cases: Array<[unknown, string]> = [
    [{ ext: 'gif' }, 'Expected one of "png", "jpg", "jpeg", "webp" for ext but received "gif" of type string'],
    [{ pool: {} }, 'Expected a BufferPool for pool but received [object] of type object'],
    [{ quality: 80 }, 'Unknown option quality for FrameEncoder; known options: ext, pool'],
    ['png', 'Expected an object for FrameEncoder options but received "png" of type string'],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => new FrameEncoder(options as never),
      (error: unknown) => error instanceof InvalidOptionError && error.code === ErrorCode.INVALID_OPTION && error.message === message,
      message,
    );
  }
  assert.equal(new FrameEncoder().ext, 'png');
  assert.equal(new FrameEncoder({ ext: 'JPEG' as never }).ext, 'jpeg', 'an extension in upper case is the same format');
});
