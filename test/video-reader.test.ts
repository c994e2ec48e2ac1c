/**
 * `openVideo` → `VideoReader`: random access to the frames of a video kept open. Its frames are those of
 * `streamVideoFrames` (numbers, pixels, pts, time, keyframe flag) for any set of frame numbers, in any order; a request
 * near the last one decodes on instead of seeking and fetches no byte again; memory stays within `maxDecodedFrames`;
 * errors carry the codes a caller branches on; `close()` (or `await using`) frees everything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RunStats, openVideo, streamVideoFrames } from '@framepipe/core';
import type { IterateOptions, RgbFrame, VideoReader } from '@framepipe/core';
import { HttpSource } from '@framepipe/http-source';
import { readerTesting } from '../packages/core/src/video-reader.ts';
import { H264_1080P_FOOTAGE, H264_BFRAMES_NO_CTTS, H264_MKV, H264_MP4_MOOV_END, H264_ROTATED_MP4, H264_TS, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { deriveWithFfmpeg } from './support/ffmpeg-reference.ts';
import { readFrameCode } from './support/frame-code.ts';
import { perfectBytes, readPackets } from './support/perfect-reader.ts';
import { rewriteSyncSamples } from './support/mp4-rewrite.ts';
import { countNativeObjects, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { seededRandom, startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';

/** H.264 in MP4 with 3 B-frames and a GOP of 100 frames (4 s), 300 frames: a seek into a GOP decodes many frames. */
const LONG_GOP_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 300, gop: 100 };

/** What a frame is, minus its buffer: compared as is. */
function described(frame: RgbFrame): Omit<RgbFrame, 'data'> {
  const { data: _data, ...rest } = frame;
  return rest;
}

/** Every frame of a full run of `streamVideoFrames`, by number, with a buffer of its own. */
async function referenceFrames(file: string, options: IterateOptions = {}): Promise<Map<number, RgbFrame>> {
  const frames = new Map<number, RgbFrame>();
  for await (const frame of streamVideoFrames(file, options)) frames.set(frame.index, { ...frame, data: Buffer.from(frame.data) });
  return frames;
}

/** The frame threads of a reader's decoder: as set for tests, else FFmpeg's pick (one per core and one more, at most 16). */
function frameThreads(): number {
  const cores = availableParallelism();
  return readerTesting.decoderThreads || (cores > 1 ? Math.min(cores + 1, 16) : 1);
}

/** `count` frame numbers below `frames`, drawn with a seeded generator: repeats and any order included. */
function randomIndices(seed: number, count: number, frames: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(random() * frames));
}

/**
 * Checks `got` against the reference frames of `indices`; with `codes`, also that each shows its own number (not for a
 * picture turned by autorotate, nor for a stream whose numbers follow decode order by the seed's rule).
 */
function assertSameFrames(got: readonly RgbFrame[], indices: readonly number[], reference: Map<number, RgbFrame>, label: string, codes: boolean): void {
  assert.equal(got.length, indices.length, `${label}: one frame per number asked`);
  got.forEach((frame, i) => {
    const want = reference.get(indices[i]!)!;
    assert.deepEqual(described(frame), described(want), `${label}: frame ${indices[i]} (place ${i})`);
    assert.ok(frame.data.equals(want.data), `${label}: the pixels of frame ${indices[i]}`);
    if (codes) assert.equal(readFrameCode(frame.data, frame.width, frame.height), indices[i], `${label}: frame ${indices[i]} shows its own number`);
  });
}

const CASES: Record<string, { spec: FixtureSpec; options?: IterateOptions; codes?: false }> = {
  'MP4 with B-frames, GOP 12': { spec: H264_MP4_MOOV_END },
  'MP4 with B-frames, GOP 100': { spec: LONG_GOP_MP4 },
  MKV: { spec: H264_MKV },
  'MPEG-TS': { spec: H264_TS },
  'MP4 rotated 90°, autorotate': { spec: H264_ROTATED_MP4, options: { autorotate: true }, codes: false },
  // The converter's size, crop and format options reach the reader as they reach the iterator.
  'MP4 with B-frames, crop + size + bgr24': {
    spec: H264_MP4_MOOV_END,
    options: { crop: { x: 0, y: 0, width: 160, height: 120 }, size: { width: 96 }, pixelFormat: 'bgr24' },
    codes: false,
  },
  'MP4 rotated 90°, autorotate + cover 64×64 + gray8': {
    spec: H264_ROTATED_MP4,
    options: { autorotate: true, size: { width: 64, height: 64 }, fit: 'cover', pixelFormat: 'gray8' },
    codes: false,
  },
  // Frames carry decode-order pts: the seed numbers them in decode order, so frame n does not show n.
  'MP4 with B-frames and no composition offsets (decoded from the start)': { spec: H264_BFRAMES_NO_CTTS, codes: false },
};

for (const [name, { spec, options = {}, codes = true }] of Object.entries(CASES)) {
  describe(`VideoReader against streamVideoFrames: ${name}`, () => {
    let file: string;
    let reference: Map<number, RgbFrame>;
    before(async () => {
      file = await makeFixture(spec);
      reference = await referenceFrames(file, options);
    });

    test('frameCount, info and keyframes', async () => {
      await using reader = await openVideo(file, options);
      assert.equal(reader.frameCount, reference.size);
      assert.equal(reader.info.frameCount, reference.size);
      assert.equal(reader.info.codec, 'h264');
      assert.equal(reader.info.width, spec.width);
      assert.equal(reader.info.height, spec.height);
      assert.equal(reader.info.rotation, spec.rotation ?? 0);
      const keyframes = [...reference.values()].filter((frame) => frame.keyframe).map((frame) => frame.index);
      assert.deepEqual(reader.keyframes(), keyframes);
    });

    test('info.startTime is frame 0\'s time: getFrameAt(frame.time - startTime) is the frame', async () => {
      await using reader = await openVideo(file, options);
      assert.equal(reader.info.startTime, reference.get(0)!.time);
      // An MPEG-TS clock starts late (this fixture's at 0.08 s, two frames), so there the two clocks differ, and the
      // frame at its own `time` would be a later one.
      if (spec.container === 'ts') assert.ok(reader.info.startTime > 0, `TS clock starts at ${reader.info.startTime}`);
      for (const n of [0, 7, Math.floor(reference.size / 2), reference.size - 1]) {
        const want = reference.get(n)!;
        assert.equal((await reader.getFrameAt(want.time - reader.info.startTime)).index, n, `frame ${n} at ${want.time} s`);
      }
    });

    test('random sets of frame numbers, in the order asked, one call after another', async () => {
      await using reader = await openVideo(file, options);
      for (let seed = 1; seed <= 4; seed++) {
        const indices = randomIndices(seed, seed * 5, reference.size);
        assertSameFrames(await reader.getFrames(indices), indices, reference, `seed ${seed}`, codes);
      }
      for (const n of randomIndices(99, 6, reference.size)) assertSameFrames([await reader.getFrame(n)], [n], reference, `getFrame(${n})`, codes);
    });

    test('getFramesAt gives the frames the timestamps option selects', async () => {
      const times = [0, 0.01, 0.5, 1.04, 2.2, 0.5, 1.999];
      const selected: number[] = [];
      for await (const frame of streamVideoFrames(file, { ...options, timestamps: times })) selected.push(frame.index);
      await using reader = await openVideo(file, options);
      const got = await reader.getFramesAt(times);
      assert.deepEqual([...new Set(got.map((frame) => frame.index))].sort((a, b) => a - b), selected);
      for (const [i, t] of times.entries()) {
        const alone = await reader.getFrameAt(t);
        assert.equal(alone.index, got[i]!.index, `time ${t}`);
        assert.ok(alone.time <= t + (reference.get(0)!.time) + 1e-9, `frame ${alone.index} is shown at or before ${t} s`);
      }
    });
  });
}

test('VideoReader with a keyframe table that lies (each listed keyframe is the frame after the real one): the frames of a full decode', { timeout: 60_000 }, async () => {
  const dir = await tempDir('framepipe-reader-');
  try {
    const file = join(dir, 'shifted-stss.mp4');
    const spec = { ...H264_MP4_MOOV_END, bFrames: 0 };
    await rewriteSyncSamples(await makeFixture(spec), file, (sync, n) => sync.map((s) => s + 1).filter((s) => s <= n));
    const reference = await referenceFrames(file);
    const stats = new RunStats();
    await using reader = await openVideo(file, { stats });
    for (let seed = 1; seed <= 3; seed++) {
      const indices = randomIndices(seed, 12, reference.size);
      assertSameFrames(await reader.getFrames(indices), indices, reference, `seed ${seed}`, true);
    }
    for (const n of [13, 1, 37, 25, 59]) assertSameFrames([await reader.getFrame(n)], [n], reference, `frame ${n}`, true);
    assert.ok(stats.seeksMissed > 0, 'seeks landed where decoding cannot start, and went back');
  } finally {
    await removeDir(dir);
  }
});

test('keyframes() on a clock that goes back (two MPEG-TS files joined end to end): every keyframe, each decoded as one', async () => {
  const dir = await tempDir('framepipe-reader-');
  try {
    // The first half of the file runs 10 s later on the clock than the second: frames 0-59 are the second half's.
    const second = await makeFixture(H264_TS);
    const first = await deriveWithFfmpeg(second, { args: ['-c', 'copy', '-output_ts_offset', '10'], ext: 'ts', name: 'h264-ts-late-clock' });
    const file = join(dir, 'joined.ts');
    await writeFile(file, Buffer.concat([await readFile(first), await readFile(second)]));
    const list = await readPackets(file);
    const keyframes = list.packets.filter((p) => p.keyframe).map((p) => list.framePts.indexOf(p.pts!));
    assert.deepEqual(keyframes.slice(0, 2), [60, 72], "ffprobe: the first half's keyframes come first in decode order, shown after the second half's");

    await using reader = await openVideo(file);
    assert.deepEqual(reader.keyframes(), [...keyframes].sort((a, b) => a - b));
    for (const n of keyframes.filter((k) => k >= 60)) {
      const frame = await reader.getFrame(n);
      assert.equal(frame.keyframe, true, `frame ${n} is decoded as a keyframe`);
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), n - 60, `frame ${n} is picture ${n - 60} of the first half`);
    }
  } finally {
    await removeDir(dir);
  }
});

/**
 * `count` frame numbers below `frames`, each far from the one before it (drawn with a seeded generator): behind it, or
 * in a GOP past the next one, so that the reader seeks for every one.
 */
function farIndices(seed: number, count: number, frames: number, keyframeOf: (n: number) => number): number[] {
  const random = seededRandom(seed);
  const far: number[] = [];
  while (far.length < count) {
    const n = Math.floor(random() * frames);
    const last = far.at(-1);
    if (last === undefined || n < keyframeOf(last) || keyframeOf(keyframeOf(n) - 1) > keyframeOf(last)) far.push(n);
  }
  return far;
}

describe('VideoReader: a far request decodes from its keyframe to its frame, and no more', () => {
  const CASES: Record<string, FixtureSpec> = {
    '3 B-frames': { ...H264_MP4_MOOV_END, frames: 200, gop: 25 },
    'no B-frames': { ...H264_MP4_MOOV_END, frames: 200, gop: 25, bFrames: 0 },
  };
  for (const [name, spec] of Object.entries(CASES)) {
    for (const maxDecodedFrames of [1, 2]) {
      test(`${name}, maxDecodedFrames ${maxDecodedFrames}: frames keyframe … target, and what the budget lets the decoder give ahead of the last request`, async () => {
        const file = await makeFixture(spec);
        const stats = new RunStats();
        await using reader = await openVideo(file, { stats, maxDecodedFrames });
        const keyframes = reader.keyframes();
        const keyframeOf = (n: number) => keyframes.findLast((k) => k <= n) ?? 0;
        for (const n of farIndices(16, 24, reader.frameCount, keyframeOf)) {
          const [decoded, seeks] = [stats.framesDecoded, stats.seeks];
          const frame = await reader.getFrame(n);
          assert.equal(readFrameCode(frame.data, frame.width, frame.height), n, `frame ${n} shows its own number`);
          assert.equal(stats.seeks, seeks + 1, `frame ${n} is far from the last request: one seek`);
          // The frames shown from the keyframe to frame n (fewer when unreferenced ones are skipped), and the frames
          // the decoder gave after the last request's frame before this one came (the budget bounds them): the
          // pictures it held at the seek, or decoded from packets read ahead, are not decoded.
          const bound = n - keyframeOf(n) + 1 + maxDecodedFrames;
          const cost = stats.framesDecoded - decoded;
          assert.ok(cost <= bound, `frame ${n} (keyframe ${keyframeOf(n)}): ${cost} frames decoded, at most ${bound}`);
        }
      });
    }
  }
});

test('VideoReader: seeks back to one keyframe decode it by itself once, to check the start, not at every seek', async () => {
  const file = await makeFixture({ ...H264_MP4_MOOV_END, frames: 200, gop: 25 });
  const stats = new RunStats();
  await using reader = await openVideo(file, { stats });
  // Each request goes back within the GOP of keyframe 50: a seek to it every time.
  for (const n of [70, 65, 60, 55]) {
    const frame = await reader.getFrame(n);
    assert.equal(readFrameCode(frame.data, frame.width, frame.height), n);
  }
  assert.equal(stats.seeks, 4);
  assert.equal(stats.startsChecked, 1, 'keyframe 50 decoded by itself once');
  // On to another GOP: its keyframe is checked in turn.
  await reader.getFrame(110);
  assert.equal(stats.startsChecked, 2);
});

describe('VideoReader over HTTP: a request near the last one reuses the open state', () => {
  // 1080p at the bit rate of real footage, GOP 50 (keyframes 0, 50, ..., 250), with 3 B-frames.
  const STEPS: Array<[frame: number, seeks: number]> = [
    [230, 1], // the first request: a seek to keyframe 200
    [220, 2], // back
    [249, 2], // on, within the GOP of 200
    [10, 3], // back
    [11, 3], // the next frame
    [49, 3], // the last frame before keyframe 50
    [60, 3], // the decode stands at keyframe 50 (decoded ahead): on from there
    [95, 3], // on, within the GOP of 50
    [105, 3], // in the next GOP, whose keyframe (100) is a few frames ahead: on
    [160, 4], // in the GOP of 150, far past the next keyframe (100... 150): a seek
    [0, 5], // back to the start
    [40, 5], // on, within the GOP of 0
    [60, 6], // in the next GOP, whose keyframe (50) is 9 frames ahead: decoding on would decode the pictures before it
  ];
  let server: RangeServer;
  let reference: Map<number, RgbFrame>;
  let file: string;
  before(async () => {
    file = await makeFixture(H264_1080P_FOOTAGE);
    reference = await referenceFrames(file, { frames: [235, ...STEPS.map(([n]) => n)] });
    server = await startRangeServer({ files: { '/footage.mp4': file } });
  });
  after(() => server?.close());

  /** Opens the video with stats of its own; `requests` lists the byte ranges it asked the server for so far. */
  async function open(options: { maxDecodedFrames?: number; cacheMemory?: number } = {}): Promise<{ reader: VideoReader; stats: RunStats; requests: () => Array<[number, number]> }> {
    const first = server.requests.length;
    const stats = new RunStats();
    const reader = await openVideo(server.url('/footage.mp4'), { ...options, stats });
    const requests = () =>
      server.requests.slice(first).map((request) => {
        const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(request.range ?? '') ?? [];
        assert.ok(start !== undefined && end !== undefined, `a closed range: ${request.range}`);
        return [Number(start), Number(end)] as [number, number];
      });
    return { reader, stats, requests };
  }

  /** The byte ranges asked for do not overlap: the read cache served every byte read again. */
  function assertNoByteTwice(requests: Array<[number, number]>): void {
    const ranges = [...requests].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      assert.ok(ranges[i]![0] > ranges[i - 1]![1], `no byte asked for twice: ${JSON.stringify(ranges)}`);
    }
  }

  /** The frames decoded by a fresh reader for frame `n` alone: what a request pays after a seek. */
  async function decodedAlone(n: number): Promise<number> {
    const { reader, stats } = await open();
    try {
      await reader.getFrame(n);
      return stats.framesDecoded;
    } finally {
      await reader.close();
    }
  }

  test('frame 230, then 235: no second seek, frames decoded only in the gap, no byte fetched twice', async () => {
    const { reader, stats, requests } = await open();
    let decoded = 0;
    try {
      assertSameFrames([await reader.getFrame(230)], [230], reference, 'frame 230', true);
      assert.equal(stats.seeks, 1, 'one seek, to keyframe 200');
      const decodedFirst = stats.framesDecoded;
      const asked = requests().length;

      assertSameFrames([await reader.getFrame(235)], [235], reference, 'frame 235', true);
      assert.equal(stats.seeks, 1, 'no seek for frame 235: the decode went on from frame 230');
      decoded = stats.framesDecoded - decodedFirst;
      assert.ok(decoded <= 5 + 2, `frames 231..235 and at most maxDecodedFrames (2, the default) ahead: ${decoded} decoded`);
      // The samples up to frame 235 and the margin of its plan, then one read of FFmpeg's past the plan (the stages
      // read ahead of the frame asked for): no GOP fetched again, no block fetched for a stream.
      assert.ok(requests().length <= asked + 2, `frame 235 needs at most two requests: ${requests().length - asked}`);
      assertNoByteTwice(requests());
    } finally {
      await reader.close();
    }
    const alone = await decodedAlone(235);
    assert.ok(decoded < alone, `decoding on costs ${decoded} frames, a seek to keyframe 200 for frame 235 costs ${alone}`);
  });

  test('frame 230, then 235: the bytes asked for are those of the samples they need, and of a few samples after', async () => {
    // What the two frames need, from ffprobe's packet list (decode order): the span from keyframe 200's packet to the
    // last packet shown at or before frame 235 (see perfectBytes).
    const list = await readPackets(file);
    const needed = perfectBytes(list, 'mp4', 0, (await stat(file)).size, [230, 235]).gops;
    const pts235 = list.framePts[235]!;
    const keyframe = list.packets.findLastIndex((p) => p.keyframe && p.pts !== null && p.pts <= pts235);
    const lastNeeded = list.packets.findLastIndex((p, i) => i >= keyframe && p.pts !== null && p.pts <= pts235);
    const endOf = (i: number) => list.packets[i]!.pos + list.packets[i]!.size;
    // X: the stages read past the frame asked for before it comes out, and the reader's plan takes in as many samples
    // after the last one needed: the demuxer buffers 4 packets, the decoder holds up to 3 for reordering and one per
    // frame thread, 2 pictures decoded ahead (maxDecodedFrames). Past the plan, each read of FFmpeg's is up to 64 KiB.
    const samplesAhead = frameThreads() + 4 + 3 + 2;
    const ahead = list.packets.slice(lastNeeded + 1, lastNeeded + 1 + samplesAhead);
    const allowance = ahead.reduce((sum, p) => sum + p.size, 0) + 64 * 1024;
    const planEnd = endOf(lastNeeded + samplesAhead);

    const { reader, requests } = await open();
    const opened = requests().length;
    try {
      await reader.getFrame(230);
      await reader.getFrame(235);
      const asked = requests().slice(opened);
      // The ranges asked for, not the bytes received: a block still in flight when the call returns counts whole.
      const bytes = asked.reduce((sum, [start, end]) => sum + end - start + 1, 0);
      assert.ok(
        bytes <= needed + allowance,
        `frames 230 and 235 asked for ${bytes} bytes: the ${needed} of the packets they need + at most ${allowance} (${samplesAhead} samples and 64 KiB): ${JSON.stringify(asked)}`,
      );
      // Past the plan, no read-ahead: only what FFmpeg reads, 64 KiB at a time.
      for (const [start, end] of asked) {
        assert.ok(end < planEnd || end - Math.max(start, planEnd) + 1 <= 64 * 1024, `bytes ${start}-${end}: at most 64 KiB past ${planEnd}, the end of the plan`);
      }
      assertNoByteTwice(requests());
    } finally {
      await reader.close();
    }
  });

  for (const threads of [0, 17]) {
    test(`20 random requests with ${threads || 'FFmpeg\'s'} decoder threads: at most 2 byte requests each, no byte twice`, async () => {
      // X: a request's plan is one span, from its keyframe's sample to the samples the stages read past the frame
      // (the margin counts the decoder's frame threads); its bytes not held yet are fetched in one request, or two
      // when bytes held from an earlier request sit inside it. Nothing is left for FFmpeg's 64 KiB reads past the
      // plan to fetch one by one. (With a margin of 8 samples, 17 threads, as on a 16-core machine, took 49 requests.)
      readerTesting.decoderThreads = threads;
      const indices = randomIndices(1, 20, 300);
      try {
        const { reader, requests } = await open();
        const opened = requests().length;
        try {
          for (const n of indices) {
            const frame = await reader.getFrame(n);
            assert.equal(readFrameCode(frame.data, frame.width, frame.height), n, `frame ${n} shows its own number`);
          }
          const asked = requests().slice(opened);
          assert.ok(asked.length <= 2 * indices.length, `${indices.length} requests (${indices}) asked for ${asked.length} byte ranges: ${JSON.stringify(asked)}`);
          assertNoByteTwice(requests());
        } finally {
          await reader.close();
        }
      } finally {
        readerTesting.decoderThreads = 0;
      }
    });
  }

  test('a source you gave is left without the reader\'s plan of bytes once the reader closes', async () => {
    const source = new HttpSource(server.url('/footage.mp4'));
    try {
      const reader = await openVideo(source);
      await reader.getFrame(230);
      await reader.close();
      // Far from the bytes frame 230 needed: with the plan still on, a read there would fetch only its 100 bytes.
      const asked = server.requests.length;
      await source.read(3_000_000, 100);
      const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(server.requests[asked]!.range!)!;
      assert.equal(Number(end) - Number(start) + 1, 64 * 1024, 'the read-ahead block of a seek, 64 KiB');
    } finally {
      await source.close();
    }
  });

  test('with maxDecodedFrames 1, the second request decodes the frames between them and no more', async () => {
    const { reader, stats } = await open({ maxDecodedFrames: 1 });
    try {
      await reader.getFrame(230);
      const before = stats.framesDecoded;
      assertSameFrames([await reader.getFrame(235)], [235], reference, 'frame 235', true);
      // Non-reference pictures before frame 235 are skipped; frame 231 may have been decoded ahead, 236 during the call.
      const decoded = stats.framesDecoded - before;
      assert.ok(decoded >= 1 && decoded <= 5, `at most frames 231..235 (or 232..236): ${decoded} decoded`);
      assert.equal(stats.seeks, 1);
    } finally {
      await reader.close();
    }
  });

  for (const cacheMemory of [undefined, 1024 * 1024]) {
    // With 1 MiB of memory the GOPs read leave it for the cache's temporary file: a reader's plan keeps them there.
    test(`random far requests, each a seek: no byte fetched twice${cacheMemory ? ', with cacheMemory 1 MiB' : ''}`, async () => {
      const { reader, stats, requests } = await open(cacheMemory ? { cacheMemory } : {});
      try {
        const keyframes = reader.keyframes();
        const indices = farIndices(16, 12, reader.frameCount, (n) => keyframes.findLast((k) => k <= n) ?? 0);
        for (const n of indices) assert.equal((await reader.getFrame(n)).index, n);
        assert.equal(stats.seeks, indices.length, `every request went back or far ahead: ${indices}`);
        assertNoByteTwice(requests());
      } finally {
        await reader.close();
      }
    });
  }

  test('going back, or past the next keyframe, seeks; on within a GOP does not', async () => {
    const { reader, stats } = await open();
    try {
      for (const [n, seeks] of STEPS) {
        assertSameFrames([await reader.getFrame(n)], [n], reference, `frame ${n}`, true);
        assert.equal(stats.seeks, seeks, `seeks after frame ${n}`);
      }
    } finally {
      await reader.close();
    }
  });
});

describe('VideoReader memory, lifecycle and calls in flight', () => {
  let file: string;
  let reference: Map<number, RgbFrame>;
  before(async () => {
    file = await makeFixture(LONG_GOP_MP4);
    reference = await referenceFrames(file);
  });

  for (const cap of [1, 2, 4]) {
    test(`a batch of 120 frames keeps at most maxDecodedFrames (${cap}) decoded pictures alive, and close() frees all`, async () => {
      const counted = countNativeObjects();
      try {
        const reader = await openVideo(file, { maxDecodedFrames: cap });
        const indices = randomIndices(7, 120, reference.size);
        assertSameFrames(await reader.getFrames(indices), indices, reference, 'batch', true);
        await reader.close();
        // The decoded pictures, the converter's RGB target, and the picture the decoder checks a seek with.
        const peak = counted.peak().frames;
        assert.ok(peak <= cap + 2, `at most ${cap} + 2 native frames at once, not the batch's: ${peak}`);
        assert.deepEqual(counted.live(), { frames: 0, packets: 0 }, 'nothing left after close()');
      } finally {
        counted.restore();
      }
    });
  }

  test('calls made at once are served in turn, each with its frames', async () => {
    await using reader = await openVideo(file);
    const asked = [[120], [5, 250], [119], [299, 0, 299], [121]];
    const got = await Promise.all(asked.map((indices) => (indices.length === 1 ? reader.getFrame(indices[0]!).then((f) => [f]) : reader.getFrames(indices))));
    got.forEach((frames, i) => assertSameFrames(frames, asked[i]!, reference, `call ${i}`, true));
  });

  test('await using closes the reader at the end of its block', async () => {
    const counted = countNativeObjects();
    let kept: VideoReader;
    try {
      {
        await using reader = await openVideo(file);
        kept = reader;
        await reader.getFrame(42);
      }
      assert.deepEqual(counted.live(), { frames: 0, packets: 0 });
      await assert.rejects(kept.getFrame(1), { code: ErrorCode.ABORTED, message: /is closed: open the video again with openVideo\(\)/ });
    } finally {
      counted.restore();
    }
  });
});

describe('VideoReader errors', () => {
  let file: string;
  before(async () => {
    file = await makeFixture(H264_MP4_MOOV_END);
  });

  test('a frame number out of range, negative or fractional, or a time past the end: the frame count in the message', async () => {
    await using reader = await openVideo(file);
    const outOfRange = { code: ErrorCode.INVALID_OPTION, message: 'Expected a frame number from 0 to 59 (the video has 60 frames) for index but received 60 of type number' };
    await assert.rejects(reader.getFrame(60), outOfRange);
    await assert.rejects(reader.getFrame(-1), { code: ErrorCode.INVALID_OPTION, message: /from 0 to 59 \(the video has 60 frames\) for index but received -1/ });
    await assert.rejects(reader.getFrame(1.5), { code: ErrorCode.INVALID_OPTION, message: /for index but received 1\.5/ });
    await assert.rejects(reader.getFrames([3, 60]), { code: ErrorCode.INVALID_OPTION, message: /for indices but received 60/ });
    await assert.rejects(reader.getFrameAt(10), { code: ErrorCode.INVALID_OPTION, message: /a time within the video \(2\.4 s, 60 frames\) for seconds but received 10/ });
    await assert.rejects(reader.getFramesAt([-1]), { code: ErrorCode.INVALID_OPTION, message: /a time in seconds >= 0 for times but received -1/ });
    // The reader is still good after a bad call.
    assert.equal((await reader.getFrame(59)).index, 59);
  });

  test('a frame the video cannot give: ERR_FRAMEPIPE_FRAMES_MISSING with the reason, and the reader goes on', async () => {
    // An MP4 whose first four packets (its first keyframe among them) are gone: the frames shown before the next
    // keyframe have numbers, but no decoder can make them. The numbers count the packets left, so frame n no longer
    // shows n: the frames are checked against streamVideoFrames' only.
    const cut = await deriveWithFfmpeg(file, { args: ['-c', 'copy', '-bsf:v', "noise=drop='lt(n\\,4)'"], ext: 'mp4' });
    const reference = await referenceFrames(cut);
    await using reader = await openVideo(cut);
    const missing = [...Array(reader.frameCount).keys()].filter((n) => !reference.has(n));
    assert.ok(missing.length > 0 && missing[0] === 0, `frames before the first keyframe: ${missing}`);
    for (const n of [missing[0]!, missing.at(-1)!]) {
      await assert.rejects(reader.getFrame(n), {
        code: ErrorCode.FRAMES_MISSING,
        message: `Frame ${n} of ${cut} cannot be delivered: 1 frame before the stream's first keyframe, which no decoder can make`,
      });
      const after = missing.at(-1)! + 1;
      assertSameFrames([await reader.getFrame(after)], [after], reference, `frame ${after} after the failure`, false);
    }
    await assert.rejects(reader.getFrames([30, missing[1]!]), { code: ErrorCode.FRAMES_MISSING });
    assertSameFrames(await reader.getFrames([30, 31]), [30, 31], reference, 'a batch after the failure', false);
  });

  test('a call after close(), and close() twice', async () => {
    const reader = await openVideo(file);
    await reader.close();
    await reader.close();
    await assert.rejects(reader.getFrame(0), { code: ErrorCode.ABORTED });
  });

  test('an unknown option fails before any I/O', async () => {
    await assert.rejects(openVideo(file, { maxDecodedFrames: 0 }), { code: ErrorCode.INVALID_OPTION, message: /maxDecodedFrames/ });
    await assert.rejects(openVideo(file, { start: 3 } as never), { code: ErrorCode.INVALID_OPTION, message: /start/ });
    await assert.rejects(openVideo(file, { size: { width: 64 }, maxSide: 32 }), { code: ErrorCode.INVALID_OPTION, message: /maxSide/ });
  });

  test('a crop outside the picture fails when the reader opens, with the picture size', async () => {
    await assert.rejects(openVideo(file, { crop: { x: 300, y: 0, width: 100, height: 100 } }), {
      code: ErrorCode.INVALID_OPTION,
      message: /rectangle inside the 320x240 picture for crop/,
    });
  });

  test('a missing file, an HTTP 404: the usual codes', async () => {
    await assert.rejects(openVideo('/no/such/video.mp4'), { code: ErrorCode.FILE_NOT_FOUND });
    const server = await startRangeServer({ files: {} });
    try {
      await assert.rejects(openVideo(server.url('/gone.mp4'), { retries: 0 }), { code: ErrorCode.HTTP_STATUS });
    } finally {
      await server.close();
    }
  });

  test('the server failing fails the call with its code and closes the reader', async () => {
    const status: Record<string, number> = {};
    const server = await startRangeServer({ files: { '/v.mp4': await makeFixture(H264_1080P_FOOTAGE) }, status });
    try {
      // No cache: the bytes of the frames are fetched again.
      const reader = await openVideo(server.url('/v.mp4'), { retries: 0, cacheMemory: 0, cacheDisk: 0 });
      status['/v.mp4'] = 500;
      await assert.rejects(reader.getFrame(299), { code: ErrorCode.HTTP_STATUS, message: /500/ });
      await assert.rejects(reader.getFrame(0), { code: ErrorCode.ABORTED });
      await reader.close();
    } finally {
      await server.close();
    }
  });

  test('aborting the signal fails the call under way and closes the reader', async () => {
    const controller = new AbortController();
    const reader = await openVideo(await makeFixture(LONG_GOP_MP4), { signal: controller.signal, maxDecodedFrames: 1 });
    const pending = reader.getFrames([50, 150, 250]);
    setImmediate(() => controller.abort());
    await assert.rejects(pending, { code: ErrorCode.ABORTED });
    await assert.rejects(reader.getFrame(0), { code: ErrorCode.ABORTED });
    await reader.close();
  });
});
