/**
 * Tests of the frame code and of the fixture videos. The videos are checked with Debian's ffmpeg/ffprobe,
 * independently of node-av (which made them); without ffmpeg these tests fail, they do not skip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { Frame } from 'node-av';
import {
  AV_PIX_FMT_NV12,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV420P10LE,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUVJ420P,
  type AVPixelFormat,
} from 'node-av/constants';
import { FRAME_CODE_MAX, drawFrameCode, readFrameCode, readFrameCodeFromFile } from './support/frame-code.ts';
import {
  H264_BFRAMES_NO_CTTS,
  H264_MP4_FASTSTART,
  H264_MP4_MOOV_END,
  SAMPLE_MP4,
  TEST_PRESETS,
  makeFixture,
  type FixtureSpec,
} from './support/fixtures.ts';

// ---------------------------------------------------------------- helpers

/** Runs an ffmpeg tool; fails with an install hint when it is missing. */
function run(tool: 'ffmpeg' | 'ffprobe', args: string[]): Buffer {
  const r = spawnSync(tool, ['-v', 'error', ...args], { maxBuffer: 1 << 30 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail(`${tool} is not installed; these tests check fixtures with it: apt-get install -y ffmpeg`);
  }
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${tool} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Decodes a video with ffmpeg, in display order, and reads the frame code of every frame. */
function ffmpegCodes(path: string, spec: FixtureSpec): number[] {
  const out = run('ffmpeg', ['-i', path, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  const size = spec.width * spec.height * 3;
  assert.equal(out.length % size, 0, 'ffmpeg output is not a whole number of frames');
  const codes: number[] = [];
  for (let o = 0; o < out.length; o += size) codes.push(readFrameCode(out.subarray(o, o + size), spec.width, spec.height));
  return codes;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A frame of the given format with the code of `n` painted in. */
function codeFrame(format: AVPixelFormat, width: number, height: number, n: number): Frame {
  const frame = new Frame();
  frame.alloc();
  frame.format = format;
  frame.width = width;
  frame.height = height;
  frame.allocBuffer();
  drawFrameCode(frame, n);
  return frame;
}

/** Naive YUV → grey RGB: luma only, range-expanded, chroma ignored. */
function lumaToRgb(frame: Frame, opts: { full?: boolean; bits?: 8 | 10 } = {}): Buffer {
  const { width, height } = frame;
  const luma = frame.data![0]!;
  const stride = frame.linesize[0]!;
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = opts.bits === 10 ? luma.readUInt16LE(y * stride + 2 * x) >> 2 : luma[y * stride + x]!;
      if (!opts.full) v = Math.round(((v - 16) * 255) / 219);
      rgb.fill(Math.max(0, Math.min(255, v)), (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return rgb;
}

function rgbOf(n: number, width = 320, height = 240): Buffer {
  const frame = codeFrame(AV_PIX_FMT_YUV420P, width, height, n);
  try {
    return lumaToRgb(frame);
  } finally {
    frame.free();
  }
}

/** Top-level MP4 box types, in file order. */
async function topLevelBoxes(path: string): Promise<string[]> {
  const file = await readFile(path);
  const boxes: string[] = [];
  for (let o = 0; o + 8 <= file.length;) {
    let size = file.readUInt32BE(o);
    if (size === 1) size = Number(file.readBigUInt64BE(o + 8));
    else if (size === 0) size = file.length - o;
    boxes.push(file.toString('latin1', o + 4, o + 8));
    assert.ok(size >= 8, `bad box size at ${o}`);
    o += size;
  }
  return boxes;
}

// ---------------------------------------------------------------- the frame code

test('frame code: every number 0..4095 round-trips through a 64×64 yuv420p frame', () => {
  const frame = codeFrame(AV_PIX_FMT_YUV420P, 64, 64, 0);
  try {
    for (let n = 0; n <= FRAME_CODE_MAX; n++) {
      drawFrameCode(frame, n);
      assert.equal(readFrameCode(lumaToRgb(frame), 64, 64), n);
    }
  } finally {
    frame.free();
  }
});

test('frame code: round-trips at other sizes', () => {
  for (const [w, h] of [[320, 240], [100, 70], [1920, 1080], [64, 480], [722, 64]] as const) {
    for (const n of [0, 1, 37, 1234, 2730, FRAME_CODE_MAX]) {
      assert.equal(readFrameCode(rgbOf(n, w, h), w, h), n, `${w}×${h} n=${n}`);
    }
  }
});

test('frame code: yuvj420p, yuv444p, nv12 and yuv420p10le', () => {
  const cases = [
    [AV_PIX_FMT_YUVJ420P, { full: true }],
    [AV_PIX_FMT_YUV444P, {}],
    [AV_PIX_FMT_NV12, {}],
    [AV_PIX_FMT_YUV420P10LE, { bits: 10 }],
  ] as const;
  for (const [format, opts] of cases) {
    for (const n of [0, 5, 999, FRAME_CODE_MAX]) {
      const frame = codeFrame(format, 128, 96, n);
      try {
        assert.equal(readFrameCode(lumaToRgb(frame, opts), 128, 96), n, `format ${format} n=${n}`);
      } finally {
        frame.free();
      }
    }
  }
});

test('frame code: reads grey and RGBA buffers', () => {
  const rgb = rgbOf(321);
  const grey = Buffer.alloc(320 * 240);
  const rgba = Buffer.alloc(320 * 240 * 4, 17);
  for (let i = 0; i < 320 * 240; i++) {
    grey[i] = rgb[i * 3]!;
    rgb.copy(rgba, i * 4, i * 3, i * 3 + 3);
  }
  assert.equal(readFrameCode(grey, 320, 240, 1), 321);
  assert.equal(readFrameCode(rgba, 320, 240, 4), 321);
});

test('frame code: a flipped block is detected', () => {
  const width = 320;
  const height = 240;
  for (const n of [0, 1, 100, 2048, FRAME_CODE_MAX]) {
    const good = rgbOf(n, width, height);
    for (let k = 0; k < 16; k++) {
      const bad = Buffer.from(good);
      const x0 = (k & 3) * 80;
      const y0 = (k >> 2) * 45;
      for (let y = y0; y < y0 + 45; y++) {
        for (let i = (y * width + x0) * 3; i < (y * width + x0 + 80) * 3; i++) bad[i] = 255 - bad[i]!;
      }
      assert.throws(() => readFrameCode(bad, width, height), /check bits/, `n=${n} block ${k}`);
    }
  }
});

test('frame code: blank, grey and short images fail loudly', () => {
  const size = 320 * 240 * 3;
  assert.throws(() => readFrameCode(Buffer.alloc(size, 0), 320, 240), /check bits/);
  assert.throws(() => readFrameCode(Buffer.alloc(size, 255), 320, 240), /check bits/);
  assert.throws(() => readFrameCode(Buffer.alloc(size, 128), 320, 240), /neither black nor white/);
  assert.throws(() => readFrameCode(Buffer.alloc(size - 1), 320, 240), /too small/);
  assert.throws(() => rgbOf(FRAME_CODE_MAX + 1), RangeError);
  assert.throws(() => rgbOf(1, 63, 64), RangeError);
});

test('frame code: survives JPEG and WebP at low quality, and resizing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'frame-code-'));
  try {
    for (const n of [0, 7, 1000, 3333]) {
      const raw = { raw: { width: 320, height: 240, channels: 3 } } as const;
      const jpeg = join(dir, `${n}.jpg`);
      const webp = join(dir, `${n}.webp`);
      const small = join(dir, `${n}.png`);
      await sharp(rgbOf(n), raw).jpeg({ quality: 30 }).toFile(jpeg);
      await sharp(rgbOf(n), raw).webp({ quality: 30 }).toFile(webp);
      await sharp(rgbOf(n), raw).resize(160, 90, { fit: 'fill' }).png().toFile(small);
      assert.equal(await readFrameCodeFromFile(jpeg), n);
      assert.equal(await readFrameCodeFromFile(webp), n);
      assert.equal(await readFrameCodeFromFile(small), n);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- the fixtures

test('ffmpeg and ffprobe are installed (needed to check fixtures independently)', () => {
  run('ffmpeg', ['-version']);
  run('ffprobe', ['-version']);
});

for (const [name, spec] of Object.entries(TEST_PRESETS)) {
  test(`fixture ${name}: ffmpeg decodes frames 0..${spec.frames - 1} in display order`, async () => {
    const path = await makeFixture(spec);
    assert.deepEqual(ffmpegCodes(path, spec), range(spec.frames));
  });
}

test('fixtures are cached: a second call returns the same file, unchanged', async () => {
  const path = await makeFixture(H264_MP4_MOOV_END);
  const before = await stat(path);
  assert.equal(await makeFixture({ ...H264_MP4_MOOV_END }), path);
  assert.equal((await stat(path)).mtimeMs, before.mtimeMs);
  assert.notEqual(await makeFixture(H264_MP4_FASTSTART), path);
});

test('fixtures: moov is at the end by default and first with faststart', async () => {
  const end = await topLevelBoxes(await makeFixture(H264_MP4_MOOV_END));
  const first = await topLevelBoxes(await makeFixture(H264_MP4_FASTSTART));
  assert.ok(end.indexOf('moov') > end.indexOf('mdat'), `boxes ${end}`);
  assert.ok(first.indexOf('moov') < first.indexOf('mdat'), `boxes ${first}`);
});

function probe(path: string): { hasBFrames: number; packets: Array<[string, string]> } {
  const stream = run('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'stream=has_b_frames', '-of', 'csv=p=0', path]);
  const packets = run('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'packet=pts,dts', '-of', 'csv=p=0', path]);
  return {
    hasBFrames: Number(stream.toString().trim()),
    packets: packets.toString().trim().split('\n').map((line) => line.split(',') as [string, string]),
  };
}

test('fixtures: B-frame presets have B-frames; H264_BFRAMES_NO_CTTS has pts = dts on every packet', async () => {
  const normal = probe(await makeFixture(H264_MP4_MOOV_END));
  assert.ok(normal.hasBFrames > 0);
  assert.ok(normal.packets.some(([pts, dts]) => pts !== dts), 'H264_MP4_MOOV_END should have composition offsets');
  const noCtts = probe(await makeFixture(H264_BFRAMES_NO_CTTS));
  assert.ok(noCtts.hasBFrames > 0, 'H264_BFRAMES_NO_CTTS should have B-frames');
  assert.equal(noCtts.packets.length, H264_BFRAMES_NO_CTTS.frames);
  for (const [pts, dts] of noCtts.packets) {
    assert.ok(pts !== 'N/A' && pts === dts, `packet pts ${pts} dts ${dts}`);
  }
});

test('examples/assets/sample.mp4 is small and shows frames 0..N-1', async () => {
  const path = resolve(import.meta.dirname, '../examples/assets/sample.mp4');
  assert.ok((await stat(path)).size < 150_000);
  const boxes = await topLevelBoxes(path);
  assert.ok(boxes.indexOf('moov') > boxes.indexOf('mdat'), `boxes ${boxes}`);
  assert.ok(probe(path).hasBFrames > 0);
  assert.deepEqual(ffmpegCodes(path, SAMPLE_MP4), range(SAMPLE_MP4.frames));
});
