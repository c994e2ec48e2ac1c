import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { Readable, pipelinePromise } from 'streamx';
import { BufferPool, ErrorCode, FramepipeError, InvalidOptionError } from '@framepipe/common';
import { FrameDirSink, FrameEncoder, IMAGE_EXTENSIONS, type SinkFrame } from '../src/index.ts';
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

test('PNG is deflated at zlib\'s fastest level with no row filters (OpenCV\'s defaults)', async () => {
  const frame = codeFrame(9);
  const png = await new FrameEncoder().encode(frame);
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const stream = Buffer.concat(idat);
  // FLEVEL, the top two bits of the zlib header's second byte: 0 for level 1, 2 for sharp's default level 6.
  assert.equal(stream[1]! >> 6, 0);
  const rows = inflateSync(stream);
  const stride = frame.width * 3 + 1;
  for (let row = 0; row < frame.height; row++) assert.equal(rows[row * stride], 0, `filter of row ${row}`);
});

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

test('frames encoded at once each get their own bytes', async () => {
  const encoder = new FrameEncoder();
  const frames = Array.from({ length: 8 }, (_, i) => codeFrame(i * 100));
  const encoded = await Promise.all(frames.map((frame) => encoder.encode(frame)));
  for (const [k, bytes] of encoded.entries()) assert.ok((await decode(bytes)).data.equals(frames[k]!.data), `frame ${k}`);
});

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

test('a frame whose data does not fit its size rejects with sharp\'s error, and its buffer still goes back', async () => {
  const pool = new BufferPool(2);
  pool.take(100); // sets the pool's size to the bad frame's
  const bad: SinkFrame = { index: 0, width: 64, height: 48, data: Buffer.alloc(100) };
  await assert.rejects(new FrameEncoder({ ext: 'jpg', pool }).encode(bad), (error: Error) => !(error instanceof FramepipeError) && /memory area too small/.test(error.message));
  assert.equal(pool.available, 1);
});

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
