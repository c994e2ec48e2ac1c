/**
 * Size, crop, fit and scaling filter, each against Debian's ffmpeg 5.1 on the same frames: `-vf crop=…,scale=…:flags=…`
 * (and `pad` for `fit: 'contain'`), converted to rgb24 in the same scale filter. Both resize with swscale, and the
 * converter sites 8-bit chroma as ffmpeg 5.1 does (centred) and turns before it scales, as ffmpeg does, so the bytes are
 * ffmpeg's (test/grain-footage.test.ts shows it on grain, where any difference in chroma handling shows); pictures are
 * compared by the mean and largest absolute difference per byte, with room for rounding only; a picture cut or scaled
 * from the wrong place differs by tens on average (checked below). Frame numbers are read from the frame code of the
 * resized pictures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ErrorCode, InvalidOptionError, openFrameStages, streamVideoFrames } from '@framepipe/core';
import type { IterateOptions, RgbFrame } from '@framepipe/core';
import { H264_COLOUR_MP4, H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { ffmpegFrames, sampleDifference } from './support/ffmpeg-reference.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { BIN, runScript } from './support/run-script.ts';
import { runBatch, sourceName } from '@framepipe/batch';
import * as supervisely from '@framepipe/supervisely';
import { SuperviselyApi } from '@framepipe/supervisely';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { checkJob } from '../packages/queue/src/job-data.ts';

const FIRST = 5;
const LAST = 7;

async function frames(path: string, options: IterateOptions): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for await (const frame of streamVideoFrames(path, { start: FIRST, end: LAST, ...options })) out.push(frame);
  return out;
}

interface Case {
  readonly name: string;
  readonly options: IterateOptions;
  /** ffmpeg's filters for the same picture. */
  readonly filters: string[];
  readonly size: [number, number];
  /** Largest mean difference per byte allowed against ffmpeg, and the largest share of bytes that may differ by more than 16. */
  readonly mean: number;
  readonly far: number;
}

/** The 640×360 colour fixture (a colour band over the frame code), 4:2:0. */
const CASES: Case[] = [
  { name: 'size 160x90 (area by default to shrink)', options: { size: { width: 160, height: 90 } }, filters: ['scale=160:90:flags=area'], size: [160, 90], mean: 0.05, far: 0 },
  { name: 'size 100x (height by aspect ratio), bicubic', options: { size: { width: 100 }, scaleFilter: 'bicubic' }, filters: ['scale=100:56:flags=bicubic'], size: [100, 56], mean: 0.05, far: 0 },
  { name: 'size x480 (upscale: bicubic by default)', options: { size: { height: 480 } }, filters: ['scale=853:480:flags=bicubic'], size: [853, 480], mean: 0.05, far: 0 },
  { name: 'size 200x200 bilinear', options: { size: { width: 200, height: 200 }, scaleFilter: 'bilinear' }, filters: ['scale=200:200:flags=bilinear'], size: [200, 200], mean: 0.05, far: 0 },
  { name: 'size 320x180 lanczos', options: { size: { width: 320, height: 180 }, scaleFilter: 'lanczos' }, filters: ['scale=320:180:flags=lanczos'], size: [320, 180], mean: 0.05, far: 0 },
  { name: 'size 97x61 neighbor', options: { size: { width: 97, height: 61 }, scaleFilter: 'neighbor' }, filters: ['scale=97:61:flags=neighbor'], size: [97, 61], mean: 0.05, far: 0 },
  { name: 'maxSide 200', options: { maxSide: 200 }, filters: ['scale=200:113:flags=area'], size: [200, 113], mean: 0.05, far: 0 },
  { name: 'crop with an odd corner (moved to even, as ffmpeg does)', options: { crop: { x: 37, y: 21, width: 150, height: 101 } }, filters: ['crop=150:101:36:20:exact=1'], size: [150, 101], mean: 0.05, far: 0 },
  { name: 'crop from the top left corner', options: { crop: { x: 0, y: 0, width: 300, height: 200 } }, filters: ['crop=300:200:0:0'], size: [300, 200], mean: 0.05, far: 0 },
  {
    name: 'crop then size, lanczos',
    options: { crop: { x: 320, y: 100, width: 320, height: 180 }, size: { width: 160, height: 90 }, scaleFilter: 'lanczos' },
    filters: ['crop=320:180:320:100', 'scale=160:90:flags=lanczos'],
    size: [160, 90],
    mean: 0.05,
    far: 0,
  },
  {
    name: 'fit contain 200x200 (200x113, padded top and bottom)',
    options: { size: { width: 200, height: 200 }, fit: 'contain' },
    filters: ['scale=200:113:flags=area', 'format=rgb24', 'pad=200:200:0:43:black'],
    size: [200, 200],
    mean: 0.05,
    far: 0,
  },
  {
    name: 'fit cover 224x224 (the centre 360x360, scaled)',
    options: { size: { width: 224, height: 224 }, fit: 'cover' },
    filters: ['crop=360:360:140:0', 'scale=224:224:flags=area'],
    size: [224, 224],
    mean: 0.05,
    far: 0,
  },
];

for (const c of CASES) {
  test(`${c.name}: matches ffmpeg's ${c.filters.join(',')}`, async () => {
    const path = await makeFixture(H264_COLOUR_MP4);
    const [width, height] = c.size;
    const got = await frames(path, c.options);
    assert.deepEqual(got.map((f) => f.index), [5, 6, 7]);
    const expected = await ffmpegFrames(path, { first: FIRST, last: LAST, filters: c.filters, pixFmt: 'rgb24', frameBytes: width * height * 3 });
    got.forEach((frame, i) => {
      assert.deepEqual([frame.width, frame.height, frame.stride, frame.format, frame.channels], [width, height, width * 3, 'rgb24', 3]);
      assert.equal(frame.data.length, width * height * 3);
      const { mean, max, farShare } = sampleDifference(frame.data, expected[i]!);
      const shown = `frame ${frame.index}: mean ${mean.toFixed(3)} (≤ ${c.mean}), ${(farShare * 100).toFixed(3)}% over 16 (≤ ${c.far * 100}%), max ${max}`;
      assert.ok(mean <= c.mean && farShare <= c.far, shown);
    });
  });
}

test('the tolerances catch a picture cut from the wrong place', async () => {
  const path = await makeFixture(H264_COLOUR_MP4);
  // The colour band: sharp edges in both directions.
  const [frame] = await frames(path, { crop: { x: 100, y: 200, width: 300, height: 150 } });
  const shifted = await ffmpegFrames(path, { first: FIRST, last: FIRST, filters: ['crop=300:150:108:200'], pixFmt: 'rgb24', frameBytes: 300 * 150 * 3 });
  const { mean, farShare } = sampleDifference(frame!.data, shifted[0]!);
  assert.ok(mean > 5 && farShare > 0.02, `eight pixels off: mean ${mean.toFixed(2)}, ${(farShare * 100).toFixed(1)}% over 16, far beyond the tolerances`);
});

test('a maxSide the picture is within, and a size equal to the picture, leave the frames byte for byte as without them', async () => {
  const path = await makeFixture(H264_COLOUR_MP4);
  const plain = await frames(path, {});
  for (const options of [{ maxSide: 640 }, { size: { width: 640, height: 360 } }, { crop: { x: 0, y: 0, width: 640, height: 360 } }] as IterateOptions[]) {
    const same = await frames(path, options);
    same.forEach((frame, i) => assert.ok(frame.data.equals(plain[i]!.data), `${JSON.stringify(options)}: frame ${frame.index} unchanged`));
  }
});

test('frame numbers stay right at reduced sizes: each frame shows its own number', async () => {
  const path = await makeFixture(H264_MP4_MOOV_END);
  for (const options of [{ size: { width: 96, height: 72 } }, { maxSide: 120 }, { size: { width: 200 }, scaleFilter: 'neighbor' }] as IterateOptions[]) {
    const got = [];
    for await (const frame of streamVideoFrames(path, { start: 10, end: 40, step: 10, ...options })) got.push([frame.index, readFrameCode(frame.data, frame.width, frame.height)]);
    assert.deepEqual(got, [[10, 10], [20, 20], [30, 30], [40, 40]], JSON.stringify(options));
  }
});

for (const rotation of [90, 180, 270] as const) {
  test(`rotation ${rotation}: autorotate, then crop (in upright coordinates) and size match ffmpeg's upright crop and scale`, async () => {
    const path = await makeFixture({ ...H264_MP4_MOOV_END, rotation });
    // The upright picture is 240x320 for 90 and 270, 320x240 for 180; a crop off-centre, so a wrong turn shows.
    const crop = rotation === 180 ? { x: 30, y: 20, width: 200, height: 160 } : { x: 30, y: 20, width: 160, height: 200 };
    const [sw, sh] = rotation === 180 ? [100, 80] : [80, 100];
    const got = await frames(path, { autorotate: true, crop, size: { width: sw, height: sh } });
    const expected = await ffmpegFrames(path, {
      first: FIRST,
      last: LAST,
      filters: [`crop=${crop.width}:${crop.height}:${crop.x}:${crop.y}`, `scale=${sw}:${sh}:flags=area`],
      pixFmt: 'rgb24',
      frameBytes: sw * sh * 3,
    });
    assert.deepEqual(got.map((f) => [f.index, f.width, f.height]), [5, 6, 7].map((n) => [n, sw, sh]));
    got.forEach((frame, i) => {
      const { mean, farShare } = sampleDifference(frame.data, expected[i]!);
      assert.ok(mean <= 0.05 && farShare === 0, `frame ${frame.index}: mean ${mean.toFixed(3)} (≤ 0.05), ${(farShare * 100).toFixed(2)}% over 16 (none)`);
    });
  });
}

for (const rotation of [90, 180, 270] as const) {
  test(`rotation ${rotation}: an odd crop corner moves left and up in the upright picture, as ffmpeg's crop after the turn`, async () => {
    const path = await makeFixture({ ...H264_MP4_MOOV_END, rotation });
    const crop = { x: 31, y: 21, width: 100, height: 100 };
    const got = await frames(path, { autorotate: true, crop });
    const expected = await ffmpegFrames(path, { first: FIRST, last: LAST, filters: ['crop=100:100:30:20:exact=1'], pixFmt: 'rgb24', frameBytes: 100 * 100 * 3 });
    got.forEach((frame, i) => {
      const { mean, farShare } = sampleDifference(frame.data, expected[i]!);
      assert.ok(mean <= 0.05 && farShare === 0, `frame ${frame.index}: mean ${mean.toFixed(3)} (≤ 0.05), ${(farShare * 100).toFixed(2)}% over 16 (none)`);
    });
  });
}

test('contain pads with black, opaque in rgba', async () => {
  const path = await makeFixture(H264_COLOUR_MP4);
  const [contained] = await frames(path, { size: { width: 200, height: 200 }, fit: 'contain', pixelFormat: 'rgba' });
  assert.deepEqual([contained!.width, contained!.height, contained!.stride], [200, 200, 800]);
  // The first 43 rows are padding: opaque black.
  const top = contained!.data.subarray(0, 43 * 800);
  for (let i = 0; i < top.length; i += 4) assert.deepEqual([...top.subarray(i, i + 4)], [0, 0, 0, 255], `padding pixel ${i / 4}`);
  const bottom = contained!.data.subarray((200 - 44) * 800);
  for (let i = 0; i < bottom.length; i += 4) assert.deepEqual([...bottom.subarray(i, i + 4)], [0, 0, 0, 255], `bottom padding pixel ${i / 4}`);
});

test('reuseBuffers and a custom pipeline with a pool: frames of the new size, each with its own number', async () => {
  const path = await makeFixture(H264_MP4_MOOV_END);
  const seen = [];
  for await (const frame of streamVideoFrames(path, { end: 11, reuseBuffers: true, size: { width: 128, height: 96 }, pixelFormat: 'gray8' })) {
    assert.equal(frame.data.length, 128 * 96);
    seen.push(readFrameCode(frame.data, frame.width, frame.height, 1) === frame.index);
  }
  assert.deepEqual(seen, Array(12).fill(true));
  await using stages = await openFrameStages(path, { start: 3, end: 4 }, { maxSide: 100 });
  assert.ok(stages.info, 'the video was opened');
});

test('geometry options are checked before any I/O, naming the option', () => {
  const cases: Array<[IterateOptions, string, string]> = [
    [{ size: { width: 0 } }, 'size.width', 'Expected a positive integer for size.width but received 0 of type number'],
    [{ size: {} }, 'size', 'Expected an object with a width, a height or both for size but received [object] of type object'],
    [{ size: '640x' as never }, 'size', 'Expected an object { width, height } (either may be left out) for size but received "640x" of type string'],
    [{ size: { width: 10, depth: 3 } as never }, 'size.depth', 'Expected no such key (only width and height) for size.depth but received 3 of type number'],
    [{ fit: 'stretch' as never }, 'fit', 'Expected one of "fill", "contain", "cover" for fit but received "stretch" of type string'],
    [{ maxSide: 1.5 }, 'maxSide', 'Expected a positive integer for maxSide but received 1.5 of type number'],
    [{ crop: { x: -1, y: 0, width: 10, height: 10 } }, 'crop.x', 'Expected a non-negative integer for crop.x but received -1 of type number'],
    [{ crop: { x: 0, y: 0, width: 10 } as never }, 'crop.height', 'Expected a positive integer for crop.height but received undefined of type undefined'],
    [{ scaleFilter: 'gauss' as never }, 'scaleFilter', 'Expected one of "auto", "area", "bicubic", "bilinear", "lanczos", "neighbor" for scaleFilter but received "gauss" of type string'],
    [
      { size: { width: 10 }, maxSide: 100 },
      'maxSide',
      'maxSide cannot be used together with size: size sets the output size itself; to bound the longer side, give maxSide alone',
    ],
    // A fit that changes nothing is refused rather than silently ignored.
    [{ fit: 'cover' }, 'fit', 'Expected fill unless size has both sides (with one side, or maxSide, the aspect ratio is kept: nothing to pad or cut) for fit but received "cover" of type string'],
    [{ size: { width: 224 }, fit: 'contain' }, 'fit', 'Expected fill unless size has both sides (with one side, or maxSide, the aspect ratio is kept: nothing to pad or cut) for fit but received "contain" of type string'],
  ];
  for (const [options, option, message] of cases) {
    assert.throws(
      () => streamVideoFrames('/nonexistent.mp4', options),
      (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
      message,
    );
  }
});

test('a crop outside the picture fails once the size is known, with the picture size (upright with autorotate)', async () => {
  const path = await makeFixture({ ...H264_MP4_MOOV_END, rotation: 90 });
  // Wide: inside the stored 320x240 picture, not the upright 240x320 one; tall: the other way round.
  const wide = { x: 0, y: 0, width: 300, height: 100 };
  const tall = { x: 0, y: 0, width: 100, height: 300 };
  assert.equal((await frames(path, { crop: wide })).length, 3);
  await assert.rejects(frames(path, { crop: wide, autorotate: true }), {
    code: ErrorCode.INVALID_OPTION,
    message: 'Expected a rectangle inside the 240x320 picture for crop but received { x: 0, y: 0, width: 300, height: 100 } of type object',
  });
  assert.equal((await frames(path, { crop: tall, autorotate: true })).length, 3);
  await assert.rejects(frames(path, { crop: tall }), {
    code: ErrorCode.INVALID_OPTION,
    message: 'Expected a rectangle inside the 320x240 picture for crop but received { x: 0, y: 0, width: 100, height: 300 } of type object',
  });
});

test('CLI: --size, --crop, --fit, --max-side, --scale-filter and --pixel-format reach the files; bad values exit 2 naming the flag', async () => {
  const path = await makeFixture(H264_MP4_MOOV_END);
  const dir = await tempDir();
  try {
    const run = (out: string, ...flags: string[]) => runScript(BIN, ['frames', path, '-o', join(dir, out), '--end', '1', '-q', ...flags]);
    const wide = await run('wide', '--size', '160x', '--scale-filter', 'bilinear');
    assert.equal(wide.code, 0, wide.stderr);
    const tall = await run('tall', '--size', 'x60', '--pixel-format', 'gray8', '--ext', 'jpg');
    assert.equal(tall.code, 0, tall.stderr);
    const boxed = await run('boxed', '--size', '100x100', '--fit', 'contain', '--crop', '200x100+60+70');
    assert.equal(boxed.code, 0, boxed.stderr);
    const small = await run('small', '--max-side', '64', '--pixel-format', 'rgb48');
    assert.equal(small.code, 0, small.stderr);
    const shape = async (out: string) => {
      const files = (await readdir(join(dir, out))).sort();
      const meta = await sharp(join(dir, out, files[0]!)).metadata();
      return [files, meta.width, meta.height, meta.channels, meta.depth];
    };
    assert.deepEqual(await shape('wide'), [['frame_000000.png', 'frame_000001.png'], 160, 120, 3, 'uchar']);
    assert.deepEqual(await shape('tall'), [['frame_000000.jpg', 'frame_000001.jpg'], 80, 60, 1, 'uchar']);
    assert.deepEqual(await shape('boxed'), [['frame_000000.png', 'frame_000001.png'], 100, 100, 3, 'uchar']);
    assert.deepEqual(await shape('small'), [['frame_000000.png', 'frame_000001.png'], 64, 48, 3, 'ushort']);
    const bad: Array<[string[], string]> = [
      [['--size', '640'], 'Expected WxH, Wx or xH in pixels, e.g. 640x360, 640x or x360 for --size but received "640"'],
      [['--crop', '1,2,3,4'], 'Expected WxH+X+Y in pixels, e.g. 640x360+100+50 for --crop but received "1,2,3,4"'],
      [['--fit', 'squash', '--size', '5x5'], 'Expected one of "fill", "contain", "cover" for --fit but received "squash"'],
      [['--scale-filter', 'gauss'], 'Expected one of "auto", "area", "bicubic", "bilinear", "lanczos", "neighbor" for --scale-filter but received "gauss"'],
      [['--pixel-format', 'yuv'], 'Expected one of "rgb24", "bgr24", "rgba", "gray8", "rgb48" for --pixel-format but received "yuv"'],
      [['--max-side', '0'], 'Expected a positive integer for --max-side but received 0'],
      // The library's words name options as flags, and only those: "the output size" stays a word.
      [['--size', '10x', '--max-side', '5'], '--max-side cannot be used together with --size: --size sets the output size itself; to bound the longer side, give --max-side alone'],
      [['--size', '224x', '--fit', 'cover'], 'Expected fill unless --size has both sides (with one side, or --max-side, the aspect ratio is kept: nothing to pad or cut) for --fit but received "cover"'],
      [['--max-side', '64', '--fit', 'contain'], 'Expected fill unless --size has both sides (with one side, or --max-side, the aspect ratio is kept: nothing to pad or cut) for --fit but received "contain"'],
      // A part of what one flag gives is named as such, with the whole as typed.
      [['--size', '0x100'], 'Expected a positive integer for the width of --size but received "0x100"'],
      [['--size', 'x0'], 'Expected a positive integer for the height of --size but received "x0"'],
      [['--crop', '0x10+0+0'], 'Expected a positive integer for the width of --crop but received "0x10+0+0"'],
      [['--crop', '10x0+0+0'], 'Expected a positive integer for the height of --crop but received "10x0+0+0"'],
      [['--max-side', '1.5'], 'Expected a positive integer for --max-side but received 1.5'],
      [['--max-side', 'big'], 'Expected a positive integer for --max-side but received "big"'],
      [['--scale-filter', 'Lanczos'], 'Expected one of "auto", "area", "bicubic", "bilinear", "lanczos", "neighbor" for --scale-filter but received "Lanczos"'],
      [['--crop', '300x100+100+0'], 'Expected a rectangle inside the 320x240 picture for --crop but received "300x100+100+0"'],
    ];
    for (const [flags, message] of bad) {
      const { code, stderr } = await run('bad', ...flags);
      assert.equal(code, 2, flags.join(' '));
      assert.equal(stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${message}\n`, flags.join(' '));
    }
  } finally {
    await removeDir(dir);
  }
});

test('runBatch, Supervisely calls and queued job records take the same options', async () => {
  const dir = await tempDir();
  try {
    const clip = await makeFixture(H264_MP4_MOOV_END);
    const summary = await runBatch([clip], { out: dir, start: 0, end: 1, maxSide: 80, ext: 'jpg', concurrency: 1 });
    assert.equal(summary.failed, 0);
    const name = sourceName(clip);
    const meta = await sharp(join(dir, name, 'frame_000001.jpg')).metadata();
    assert.deepEqual([meta.width, meta.height], [80, 60]);
  } finally {
    await removeDir(dir);
  }
  const path = await makeFixture(H264_MP4_MOOV_END);
  const server = await startStandInServer({ videos: { 42: { path } } });
  try {
    const api = new SuperviselyApi({ serverAddress: server.address, token: server.token });
    const got = [];
    for await (const frame of supervisely.streamVideoFrames({ api, videoId: 42, start: 2, end: 3, size: { width: 160 }, pixelFormat: 'gray8' })) {
      got.push([frame.index, frame.width, frame.height, frame.format, readFrameCode(frame.data, frame.width, frame.height, 1)]);
    }
    assert.deepEqual(got, [[2, 160, 120, 'gray8', 2], [3, 160, 120, 'gray8', 3]]);
  } finally {
    await server.close();
  }
  const record = (options: Record<string, unknown>) => ({
    batch: '0123456789abcdef',
    video: 0,
    source: '/videos/clip.mp4',
    name: sourceName('/videos/clip.mp4'),
    out: '/tmp/frames',
    options,
    shard: 0,
    selection: { start: 0, end: 9 },
  });
  const options = { size: { width: 224, height: 224 }, fit: 'cover', crop: { x: 0, y: 0, width: 100, height: 100 }, scaleFilter: 'lanczos', pixelFormat: 'bgr24' };
  assert.deepEqual(checkJob.shard(record(options), 'job-1').options, options);
  assert.throws(() => checkJob.shard(record({ size: { width: -1 } }), 'job-2'), { code: ErrorCode.INVALID_JOB });
});
