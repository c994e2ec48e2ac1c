import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame } from 'node-av';
import {
  AVCOL_PRI_BT2020,
  AVCOL_RANGE_JPEG,
  AVCOL_RANGE_MPEG,
  AVCOL_SPC_BT2020_NCL,
  AVCOL_SPC_BT709,
  AVCOL_TRC_ARIB_STD_B67,
  AVCOL_TRC_SMPTE2084,
  AV_FRAME_DATA_MASTERING_DISPLAY_METADATA,
  AV_FRAME_FLAG_INTERLACED,
  AV_FRAME_FLAG_KEY,
  AV_FRAME_FLAG_TOP_FIELD_FIRST,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV420P10LE,
  AV_PIX_FMT_YUV420P12LE,
  AV_PIX_FMT_YUV422P10LE,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUVJ420P,
  AV_PIX_FMT_YUVJ444P,
  AV_PIX_FMT_YUYV422,
  type AVColorPrimaries,
  type AVColorRange,
  type AVColorSpace,
  type AVColorTransferCharacteristic,
  type AVPixelFormat,
} from 'node-av/constants';
import { Writable, pipelinePromise } from 'streamx';
import { ErrorCode, FrameBudget, FramepipeError, InvalidOptionError } from '@framepipe/common';
import { Decoder } from '@framepipe/decoder';
import { Demuxer } from '@framepipe/demuxer';
import { FileSource } from '@framepipe/http-source';
import { FrameSelector, PtsIndexer } from '@framepipe/pts-indexer';
import { RgbConverter, type RgbFrame } from '../src/index.ts';
import { H264_BFRAMES_NO_CTTS, H264_MP4_MOOV_END, TEST_PRESETS, makeFixture } from '../../../test/support/fixtures.ts';
import { drawFrameCode, readFrameCode } from '../../../test/support/frame-code.ts';

const TB = { num: 1, den: 25 };

interface Tags {
  range?: AVColorRange;
  space?: AVColorSpace;
  primaries?: AVColorPrimaries;
  transfer?: AVColorTransferCharacteristic;
  /** AVMasteringDisplayMetadata, as an HDR10 decoder attaches it. */
  mastering?: Buffer;
}

const WIDE_FORMATS = new Set<AVPixelFormat>([AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_YUV422P10LE, AV_PIX_FMT_YUV420P12LE]);

/** A frame of one colour: every sample of plane i is `values[i]` (16-bit little-endian for 10-bit formats). */
function solidFrame(format: AVPixelFormat, width: number, height: number, values: [number, number, number], tags: Tags = {}): Frame {
  const frame = new Frame();
  frame.alloc();
  frame.format = format;
  frame.width = width;
  frame.height = height;
  if (tags.range !== undefined) frame.colorRange = tags.range;
  if (tags.space !== undefined) frame.colorSpace = tags.space;
  if (tags.primaries !== undefined) frame.colorPrimaries = tags.primaries;
  if (tags.transfer !== undefined) frame.colorTrc = tags.transfer;
  if (tags.mastering) tags.mastering.copy(frame.newSideData(AV_FRAME_DATA_MASTERING_DISPLAY_METADATA, tags.mastering.length));
  assert.ok(frame.allocBuffer() >= 0);
  const wide = WIDE_FORMATS.has(format);
  frame.data!.forEach((plane, i) => {
    const value = values[i]!;
    if (!wide) plane.fill(value);
    else for (let o = 0; o + 1 < plane.length; o += 2) plane.writeUInt16LE(value, o);
  });
  return frame;
}

/** Converts the frames one by one through a fresh converter and returns what came out. */
async function convert(inputs: Array<{ frame: Frame; index: number }>, timeBase = TB): Promise<RgbFrame[]> {
  const converter = new RgbConverter({ timeBase });
  const out: RgbFrame[] = [];
  const reading = (async () => {
    for await (const rgb of converter) out.push(rgb as RgbFrame);
  })();
  for (const input of inputs) converter.write(input);
  converter.end(null);
  await reading;
  assert.equal(converter.framesConverted, inputs.length);
  return out;
}

async function convertOne(frame: Frame): Promise<RgbFrame> {
  const [rgb] = await convert([{ frame, index: 0 }]);
  return rgb!;
}

/** Every pixel of the image, as [r, g, b]; asserts they are all the same and returns that one. */
function uniformPixel(rgb: RgbFrame): [number, number, number] {
  const { data } = rgb;
  const first: [number, number, number] = [data[0]!, data[1]!, data[2]!];
  for (let o = 0; o < data.length; o += 3) {
    if (data[o] !== first[0] || data[o + 1] !== first[1] || data[o + 2] !== first[2]) {
      assert.fail(`pixel ${o / 3} is ${[data[o], data[o + 1], data[o + 2]]}, pixel 0 is ${first}`);
    }
  }
  return first;
}

function near(actual: number[], expected: number[], tolerance: number, what: string): void {
  actual.forEach((value, i) => {
    assert.ok(Math.abs(value - expected[i]!) <= tolerance, `${what}: got ${actual}, expected ${expected} ±${tolerance}`);
  });
}

// ---------------------------------------------------------------- colours

test('limited range: Y 235 is white and Y 16 is black', async () => {
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]))), [255, 255, 255]);
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [16, 128, 128]))), [0, 0, 0]);
  // Limited range is expanded: mid-grey 128 reads as 130.
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [128, 128, 128]))), [130, 130, 130]);
});

test('full range, by yuvj format or by the range tag: Y 128 stays 128', async () => {
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUVJ420P, 64, 64, [128, 128, 128]))), [128, 128, 128]);
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUVJ444P, 64, 64, [128, 128, 128]))), [128, 128, 128]);
  const tagged = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [128, 128, 128], { range: AVCOL_RANGE_JPEG });
  assert.deepEqual(uniformPixel(await convertOne(tagged)), [128, 128, 128]);
  // Full range white and black are 255 and 0 themselves.
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUVJ420P, 64, 64, [255, 128, 128]))), [255, 255, 255]);
  assert.deepEqual(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUVJ420P, 64, 64, [0, 128, 128]))), [0, 0, 0]);
});

test('the matrix follows the tag: BT.709 red is red; untagged, the same samples are read as BT.601', async () => {
  const samples: [number, number, number] = [63, 102, 240];
  const bt709 = uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P, 64, 64, samples, { range: AVCOL_RANGE_MPEG, space: AVCOL_SPC_BT709 })));
  near(bt709, [255, 0, 0], 2, 'BT.709');
  const untagged = uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P, 64, 64, samples)));
  // BT.601: R = 1.164·47 + 1.596·112 ≈ 233.
  near(untagged, [233, 0, 2], 3, 'untagged as BT.601');
});

test('one converter follows the tags of each frame as they change', async () => {
  const samples: [number, number, number] = [63, 102, 240];
  const out = await convert([
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, samples), index: 0 },
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, samples, { space: AVCOL_SPC_BT709 }), index: 1 },
    { frame: solidFrame(AV_PIX_FMT_YUVJ420P, 64, 64, [128, 128, 128]), index: 2 },
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [128, 128, 128]), index: 3 },
  ]);
  near(uniformPixel(out[0]!), [233, 0, 2], 3, 'frame 0');
  near(uniformPixel(out[1]!), [255, 0, 0], 2, 'frame 1');
  assert.deepEqual(uniformPixel(out[2]!), [128, 128, 128]);
  assert.deepEqual(uniformPixel(out[3]!), [130, 130, 130]);
});

test('10 and 12 bits, 4:2:0 and 4:2:2: white is 255, black 0, and levels round to nearest', async () => {
  for (const [format, bits] of [[AV_PIX_FMT_YUV420P10LE, 10], [AV_PIX_FMT_YUV422P10LE, 10], [AV_PIX_FMT_YUV420P12LE, 12]] as const) {
    const step = 1 << (bits - 8);
    const grey = async (y: number) => uniformPixel(await convertOne(solidFrame(format, 64, 64, [y, 128 * step, 128 * step])));
    assert.deepEqual(await grey(235 * step), [255, 255, 255], `${bits}-bit white`);
    assert.deepEqual(await grey(16 * step), [0, 0, 0], `${bits}-bit black`);
    // (Y - 16·step) / (219·step) × 255: 130.4 for 8-bit 128 as for its 10- and 12-bit equals.
    assert.deepEqual(await grey(128 * step), [130, 130, 130], `${bits}-bit grey`);
  }
});

/** AVMasteringDisplayMetadata of an HDR10 master: P3 D65 primaries, 0.0001 to 1000 nits. */
function masteringDisplay(): Buffer {
  const rationals = [[34000, 50000], [16000, 50000], [13250, 50000], [34500, 50000], [7500, 50000], [3000, 50000], [15635, 50000],
    [16450, 50000], [1, 10000], [1000, 1]];
  const data = Buffer.alloc(rationals.length * 8 + 8);
  rationals.forEach(([num, den], i) => {
    data.writeInt32LE(num!, i * 8);
    data.writeInt32LE(den!, i * 8 + 4);
  });
  data.writeInt32LE(1, rationals.length * 8); // has_primaries
  data.writeInt32LE(1, rationals.length * 8 + 4); // has_luminance
  return data;
}

test('HDR (BT.2020 PQ or HLG, with or without a mastering display) is converted by the matrix only, not tone-mapped', async () => {
  // R'G'B' (0.75, 0.25, 0.5) in BT.2020 at 10 bits: Y 411, Cb 561, Cr 727; the matrix alone gives it back.
  const samples: [number, number, number] = [411, 561, 727];
  const bt2020 = { range: AVCOL_RANGE_MPEG, space: AVCOL_SPC_BT2020_NCL, primaries: AVCOL_PRI_BT2020 };
  for (const [what, tags] of [
    ['PQ', { ...bt2020, transfer: AVCOL_TRC_SMPTE2084 }],
    ['PQ with a mastering display', { ...bt2020, transfer: AVCOL_TRC_SMPTE2084, mastering: masteringDisplay() }],
    ['HLG', { ...bt2020, transfer: AVCOL_TRC_ARIB_STD_B67 }],
  ] as const) {
    near(uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P10LE, 64, 64, samples, tags))), [191, 64, 128], 1, what);
    const white = uniformPixel(await convertOne(solidFrame(AV_PIX_FMT_YUV420P10LE, 64, 64, [940, 512, 512], tags)));
    assert.deepEqual(white, [255, 255, 255], `${what}: white`);
  }
});

test('one converter goes from 8-bit to 10-bit frames and back, each converted as on its own', async () => {
  const bt709: Tags = { range: AVCOL_RANGE_MPEG, space: AVCOL_SPC_BT709 };
  const eight = () => solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [63, 102, 240], bt709);
  const ten = () => solidFrame(AV_PIX_FMT_YUV420P10LE, 64, 64, [940, 512, 512]);
  const alone = [uniformPixel(await convertOne(eight())), uniformPixel(await convertOne(ten()))];
  const out = await convert([eight(), ten(), eight(), ten()].map((frame, index) => ({ frame, index })));
  assert.deepEqual(out.map(uniformPixel), [...alone, ...alone]);
});

// ---------------------------------------------------------------- layout

test('output is width × height × 3 bytes, row after row with no padding, at awkward sizes', async () => {
  for (const [format, width, height] of [
    [AV_PIX_FMT_YUV444P, 66, 50],
    [AV_PIX_FMT_YUV444P, 321, 241],
    [AV_PIX_FMT_YUV420P, 66, 50],
    [AV_PIX_FMT_YUV420P, 321, 241],
  ] as const) {
    const frame = solidFrame(format, width, height, [128, 128, 128], { range: AVCOL_RANGE_JPEG });
    // A luma ramp that differs on every row and column: any stride mistake shifts it.
    const luma = frame.data![0]!;
    const stride = frame.linesize[0]!;
    const value = (x: number, y: number) => (x * 3 + y * 7) % 200 + 20;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) luma[y * stride + x] = value(x, y);
    const rgb = await convertOne(frame);
    assert.equal(rgb.width, width);
    assert.equal(rgb.height, height);
    assert.equal(rgb.data.length, width * height * 3, `${width}×${height}`);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        // Grey: R = G = B = Y in full range (chroma is neutral).
        const got = rgb.data[o + 1]!;
        assert.ok(Math.abs(got - value(x, y)) <= 1, `${width}×${height} format ${format}: (${x}, ${y}) is ${got}, expected ${value(x, y)}`);
      }
    }
  }
});

test('yuv420p at every width from 64 to 96: the last columns are converted too, not left from the frame before', async () => {
  const inputs: Array<{ frame: Frame; index: number }> = [];
  for (let width = 64; width <= 96; width++) {
    // White then black at each size: a column left unconverted would still be white in the second one.
    inputs.push({ frame: solidFrame(AV_PIX_FMT_YUV420P, width, 8, [235, 128, 128]), index: inputs.length });
    inputs.push({ frame: solidFrame(AV_PIX_FMT_YUV420P, width, 8, [16, 128, 128]), index: inputs.length });
  }
  const out = await convert(inputs);
  for (let i = 0; i < out.length; i += 2) {
    const width = out[i]!.width;
    assert.equal(out[i]!.data.length, width * 8 * 3);
    assert.deepEqual(uniformPixel(out[i]!), [255, 255, 255], `white at width ${width}`);
    assert.deepEqual(uniformPixel(out[i + 1]!), [0, 0, 0], `black at width ${width}`);
  }
});

/** A frame whose samples differ from pixel to pixel and from frame to frame: each byte of plane p is a mix of its place. */
function patternedFrame(format: AVPixelFormat, width: number, height: number, seed: number): Frame {
  const frame = solidFrame(format, width, height, [0, 0, 0]);
  frame.data!.forEach((plane, p) => {
    for (let o = 0; o < plane.length; o++) plane[o] = (o * 7 + Math.floor(o / (frame.linesize[p] ?? 1)) * 13 + p * 50 + seed * 29) & 0xff;
  });
  return frame;
}

test('an offset crop gives the bytes of the whole picture converted and cut, reads no plane of the frames, and frees what it made', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  // Reading `frame.data` wraps the planes in new external Buffers, which cost more than the conversion at 1080p.
  const data = Object.getOwnPropertyDescriptor(Frame.prototype, 'data')!;
  const inputs = new Set<Frame>();
  let reads = 0;
  Object.defineProperty(Frame.prototype, 'data', {
    ...data,
    get(this: Frame) {
      if (inputs.has(this)) reads++;
      return data.get!.call(this);
    },
  });
  try {
    const crop = { x: 20, y: 10, width: 40, height: 30 };
    // yuv420p and yuv444p go through FFmpeg's crop filter; packed 4:2:2, which it does not take, is copied.
    for (const [format, planesRead] of [[AV_PIX_FMT_YUV420P, false], [AV_PIX_FMT_YUV444P, false], [AV_PIX_FMT_YUYV422, true]] as const) {
      const whole = await convert([0, 1, 2].map((index) => ({ frame: patternedFrame(format, 96, 64, index), index })));
      const converter = new RgbConverter({ timeBase: TB, crop });
      const cropped: RgbFrame[] = [];
      const reading = (async () => {
        for await (const rgb of converter) cropped.push(rgb as RgbFrame);
      })();
      reads = 0;
      for (let index = 0; index < 3; index++) {
        const frame = patternedFrame(format, 96, 64, index);
        inputs.add(frame);
        converter.write({ frame, index });
      }
      converter.end(null);
      await reading;
      await new Promise<void>((resolve) => (converter.destroyed ? resolve() : converter.once('close', () => resolve())));
      assert.equal(cropped.length, 3);
      cropped.forEach((rgb, i) => {
        assert.deepEqual([rgb.width, rgb.height], [crop.width, crop.height]);
        const expected = Buffer.concat(
          Array.from({ length: crop.height }, (_, y) => whole[i]!.data.subarray((crop.y + y) * 96 * 3 + crop.x * 3, (crop.y + y) * 96 * 3 + (crop.x + crop.width) * 3)),
        );
        assert.ok(rgb.data.equals(expected), `format ${format}, frame ${i}: the cut of the whole picture`);
      });
      assert.equal(reads > 0, planesRead, `format ${format}: ${reads} reads of the frames' planes`);
    }
    assert.deepEqual(counter.live(), { frames: 0, packets: 0 }, 'every frame freed, the filter\'s too');
  } finally {
    Object.defineProperty(Frame.prototype, 'data', data);
    counter.restore();
  }
});

test('a size change mid-stream is followed', async () => {
  const out = await convert([
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]), index: 0 },
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 96, 80, [16, 128, 128]), index: 1 },
    { frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]), index: 2 },
  ]);
  assert.deepEqual(out.map((f) => [f.width, f.height, f.data.length]), [[64, 64, 64 * 64 * 3], [96, 80, 96 * 80 * 3], [64, 64, 64 * 64 * 3]]);
  assert.deepEqual(uniformPixel(out[1]!), [0, 0, 0]);
  assert.deepEqual(uniformPixel(out[2]!), [255, 255, 255]);
});

test('index is passed through and time = pts × time base', async () => {
  const inputs = [0n, 1n, 512n, 90000n].map((pts, i) => {
    const frame = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
    frame.pts = pts;
    return { frame, index: 100 + i };
  });
  const out = await convert(inputs, { num: 1, den: 12800 });
  assert.deepEqual(out.map((f) => f.index), [100, 101, 102, 103]);
  assert.deepEqual(out.map((f) => f.pts), [0n, 1n, 512n, 90000n]);
  assert.deepEqual(out.map((f) => f.time), [0, 1 / 12800, 0.04, 90000 / 12800]);
});

test('keyframe follows the frame\'s AV_FRAME_FLAG_KEY', async () => {
  const inputs = [true, false, true].map((key, index) => {
    const frame = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
    if (key) frame.setFlags(AV_FRAME_FLAG_KEY);
    return { frame, index };
  });
  assert.deepEqual((await convert(inputs)).map((f) => f.keyframe), [true, false, true]);
});

test('an interlaced (field-coded) frame is converted as one picture, as PyAV and OpenCV do', async () => {
  // Found by test/fuzz.test.ts (an H.264 header damaged into field coding); every interlaced video failed the same
  // way: sws_scale_frame refuses to convert interlaced frames into a progressive RGB frame.
  const frame = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
  frame.setFlags(AV_FRAME_FLAG_INTERLACED, AV_FRAME_FLAG_TOP_FIELD_FIRST);
  assert.deepEqual(uniformPixel(await convertOne(frame)), [255, 255, 255]);
});

test('frame codes drawn by hand in yuvj420p and yuv420p10le read back after conversion', async () => {
  const inputs = [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_YUV420P].map((format, i) => {
    const frame = solidFrame(format, 320, 240, [0, 0, 0]);
    drawFrameCode(frame, 1000 + i);
    return { frame, index: 1000 + i };
  });
  for (const rgb of await convert(inputs)) assert.equal(readFrameCode(rgb.data, rgb.width, rgb.height), rgb.index);
});

// ---------------------------------------------------------------- decoded fixture frames

/** Demuxer → PtsIndexer → Decoder → FrameSelector → RgbConverter over a whole fixture. */
async function convertFixture(file: string): Promise<RgbFrame[]> {
  const source = new FileSource(file);
  try {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const indexer = new PtsIndexer(info);
    const budget = new FrameBudget(4);
    const out: RgbFrame[] = [];
    await pipelinePromise(
      demuxer,
      indexer,
      new Decoder(info.codecParameters, { timeBase: info.timeBase, budget }),
      new FrameSelector(indexer.index, { budget }),
      new RgbConverter({ timeBase: info.timeBase, budget }),
      new Writable({
        write(rgb, cb) {
          out.push(rgb as RgbFrame);
          budget.release();
          cb(null);
        },
      }),
    );
    assert.equal(budget.inUse, 0);
    for (const rgb of out) assert.equal(rgb.time, (Number(rgb.pts) * info.timeBase.num) / info.timeBase.den);
    return out;
  } finally {
    await source.close();
  }
}

for (const [name, spec] of Object.entries(TEST_PRESETS)) {
  if (spec.stripCts) continue;
  test(`${name}: decoded and converted, frame n shows code n`, async () => {
    const out = await convertFixture(await makeFixture(spec));
    assert.deepEqual(out.map((f) => f.index), Array.from({ length: spec.frames }, (_, i) => i));
    for (const rgb of out) {
      assert.equal(rgb.data.length, 320 * 240 * 3);
      assert.equal(readFrameCode(rgb.data, rgb.width, rgb.height), rgb.index, `frame ${rgb.index}`);
      assert.ok(Math.abs(rgb.time - rgb.index / 25) < 0.1, `frame ${rgb.index} at ${rgb.time}s`);
    }
    // The decoder marks the first frame of each GOP, and only those.
    const gop = spec.gop ?? 12;
    assert.deepEqual(out.filter((f) => f.keyframe).map((f) => f.index), out.map((f) => f.index).filter((i) => i % gop === 0));
  });
}

test('H264_BFRAMES_NO_CTTS: frame numbers follow decode order, by the rank rule', async () => {
  // The same encode with composition offsets tells which picture each decode position holds.
  const decodeOrder: number[] = [];
  {
    const source = new FileSource(await makeFixture(H264_MP4_MOOV_END));
    const pts: bigint[] = [];
    try {
      for await (const packet of new Demuxer(source)) {
        pts.push(packet.pts);
        packet.free();
      }
    } finally {
      await source.close();
    }
    const sorted = [...pts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const p of pts) decodeOrder.push(sorted.indexOf(p));
  }
  assert.notDeepEqual(decodeOrder, [...decodeOrder].sort((a, b) => a - b), 'the encode has B-frames');

  const out = await convertFixture(await makeFixture(H264_BFRAMES_NO_CTTS));
  const byIndex = new Map(out.map((f) => [f.index, readFrameCode(f.data, f.width, f.height)]));
  assert.equal(byIndex.size, 60);
  for (let i = 0; i < 60; i++) assert.equal(byIndex.get(i), decodeOrder[i], `frame ${i}`);
  assert.equal(byIndex.get(1), 4, 'frame_000001 shows picture 4');
});

// ---------------------------------------------------------------- backpressure, destroy, errors

test('backpressure: with nobody reading, the converter stops taking frames', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  try {
    const budget = new FrameBudget(16);
    const converter = new RgbConverter({ timeBase: TB, budget, highWaterMark: 1 });
    const answers: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      await budget.acquire();
      answers.push(converter.write({ frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]), index: i }));
    }
    await sleep(50);
    assert.equal(answers.at(-1), false);
    // One converted frame waits in the output buffer, one more may be converted and parked.
    assert.ok(converter.framesConverted <= 2, `${converter.framesConverted} converted with nobody reading`);
    assert.ok(counter.live().frames >= 4, 'inputs are still buffered, parked or queued');
    converter.destroy();
    await new Promise<void>((resolve) => converter.once('close', () => resolve()));
    assert.equal(budget.inUse, 0, 'destroy freed queued frames and gave back the units of every frame it held');
    assert.equal(counter.live().frames, 0, 'and freed every input frame it held');
  } finally {
    counter.restore();
  }
});

test('destroy mid-stream while frames are converted and queued', async () => {
  const budget = new FrameBudget(16);
  const converter = new RgbConverter({ timeBase: TB, budget });
  let got = 0;
  converter.on('data', () => {
    budget.release();
    if (++got === 2) converter.destroy();
  });
  for (let i = 0; i < 8; i++) {
    await budget.acquire();
    converter.write({ frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]), index: i });
  }
  await new Promise<void>((resolve) => converter.once('close', () => resolve()));
  assert.ok(got < 8);
  assert.equal(budget.inUse, 0);
});

test('a frame written while the converter is being destroyed is freed, and its unit comes back', async () => {
  // Upstream writes until this stage has closed (here: _destroy waits for a conversion), and streamx drops what
  // reaches a destroyed stream without freeing it.
  const budget = new FrameBudget(4);
  const converter = new RgbConverter({ timeBase: TB, budget });
  converter.on('data', () => budget.release());
  await budget.acquire();
  converter.write({ frame: solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]), index: 0 });
  converter.destroy();
  await budget.acquire();
  const late = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
  let freed = false;
  const free = late.free.bind(late);
  late.free = () => {
    freed = true;
    free();
  };
  assert.equal(converter.write({ frame: late, index: 1 }), false);
  assert.ok(freed, 'the late frame was freed');
  await new Promise<void>((resolve) => converter.once('close', () => resolve()));
  assert.equal(budget.inUse, 0);
});

test('a frame that cannot be converted → ERR_FRAMEPIPE_DECODE_FAILED, and its unit comes back', async () => {
  const budget = new FrameBudget(2);
  await budget.acquire();
  const frame = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
  frame.width = 0;
  const converter = new RgbConverter({ timeBase: TB, budget });
  const failed = new Promise<unknown>((resolve) => converter.once('error', (error) => resolve(error)));
  converter.write({ frame, index: 7 });
  const error = await failed;
  assert.ok(error instanceof FramepipeError && error.code === ErrorCode.DECODE_FAILED, String(error));
  assert.equal(budget.inUse, 0);
});

test('a target that cannot be allocated is freed, not left behind', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  try {
    const frame = solidFrame(AV_PIX_FMT_YUV420P, 64, 64, [235, 128, 128]);
    frame.width = 0;
    const converter = new RgbConverter({ timeBase: TB });
    converter.on('error', () => {});
    converter.write({ frame, index: 7 });
    await new Promise<void>((resolve) => converter.once('close', () => resolve()));
    assert.deepEqual(counter.live(), { frames: 0, packets: 0 });
  } finally {
    counter.restore();
  }
});

test('destroyed while a frame is being converted: that frame gives its unit and its pooled buffer back', async () => {
  const { BufferPool } = await import('@framepipe/common');
  const budget = new FrameBudget(2);
  const pool = new BufferPool(2);
  await budget.acquire();
  const converter = new RgbConverter({ timeBase: TB, budget, pool });
  converter.write({ frame: solidFrame(AV_PIX_FMT_YUV420P, 1920, 1080, [235, 128, 128]), index: 0 });
  await new Promise((resolve) => setImmediate(resolve));
  converter.destroy();
  await new Promise<void>((resolve) => converter.once('close', () => resolve()));
  assert.equal(budget.inUse, 0);
  assert.equal(pool.available, 1);
});

test('options are checked with exact messages', () => {
  const cases: Array<[unknown, string, string]> = [
    [{}, 'timeBase', 'Expected an object { num, den } of positive numbers for timeBase but received undefined of type undefined'],
    [undefined, 'timeBase', 'Expected an object { num, den } of positive numbers for timeBase but received undefined of type undefined'],
    [{ timeBase: { num: 0, den: 25 } }, 'timeBase', 'Expected an object { num, den } of positive numbers for timeBase but received { num: 0, den: 25 } of type object'],
    [{ timeBase: 0.04 }, 'timeBase', 'Expected an object { num, den } of positive numbers for timeBase but received 0.04 of type number'],
    [{ timeBase: TB, budget: 3 }, 'budget', 'Expected a FrameBudget for budget but received 3 of type number'],
    [{ timeBase: TB, highWaterMark: -1 }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received -1 of type number'],
    [{ timeBase: TB, pool: {} }, 'pool', 'Expected a BufferPool for pool but received [object] of type object'],
    [{ timeBase: TB, rotate: 45 }, 'rotate', 'Expected one of 0, 90, 180, 270 for rotate but received 45 of type number'],
    [{ timeBase: TB, size: 2 }, 'size', 'Expected an object { width, height } (either may be left out) for size but received 2 of type number'],
    [
      { timeBase: TB, resize: 2 },
      'resize',
      'Unknown option resize for RgbConverter; known options: timeBase, budget, rotate, pool, highWaterMark, size, fit, maxSide, crop, scaleFilter, pixelFormat',
    ],
  ];
  for (const [options, option, message] of cases) {
    assert.throws(
      () => new RgbConverter(options as never),
      (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
      message,
    );
  }
});
