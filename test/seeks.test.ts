/**
 * Seeks that cannot miss: MP4s whose keyframe table (`stss`) lies give, for every kind of selection, the frames
 * and pixels a full decode gives. A seek that lands where decoding cannot start goes back to an earlier keyframe
 * (or to the start of the stream), and RunStats counts it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { RgbFrame, SelectionOptions } from '@framepipe/core';
import { deriveWithFfmpeg, ffmpegPictures } from './support/ffmpeg-reference.ts';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { rewriteSyncSamples } from './support/mp4-rewrite.ts';
import { indexInName, removeDir, tempDir } from './support/pipeline-helpers.ts';

// 60 frames, a keyframe every 12: sync samples 1, 13, 25, 37, 49.
const FRAMES = 60;
const GOP = 12;

/** Ways a keyframe table lies, each given the true sync samples (1-based) and the number of samples. */
const LIES: Record<string, { edit: (sync: number[], samples: number) => number[]; misses: boolean }> = {
  // What a broken muxer wrote in the file of the issue: every seek lands one frame after the real keyframe.
  'shifted: the sample after each real keyframe': { edit: (sync, n) => sync.map((s) => s + 1).filter((s) => s <= n), misses: true },
  // Harmless for the frames (a seek goes further back than it needs), and no seek misses.
  'partly missing: every other keyframe left out': { edit: (sync) => sync.filter((_, i) => i % 2 === 0), misses: false },
  // The real keyframes, and a P-frame in the middle of each GOP.
  'non-keyframes listed: a P-frame in each GOP too': {
    edit: (sync, n) => [...sync, ...sync.map((s) => s + GOP / 2)].filter((s) => s <= n).sort((a, b) => a - b),
    misses: true,
  },
  // A seek to it lands among the last packets: the demuxer must not have ended before the run can go back.
  'one non-keyframe listed, two frames before the end': { edit: (sync, n) => [...sync, n - 1], misses: true },
};

/**
 * The fixtures to lie about, and whether their seeks are fooled. With B-frames, FFmpeg's edit-list pass over such a
 * table warns "Missing key frame while searching for timestamp" and its seeks happen to land at or before a real
 * keyframe: those files decode right without the check too, and only their frames are checked.
 */
const SPECS: Record<string, { spec: FixtureSpec; fooled: boolean }> = {
  'H.264 without B-frames': { spec: { ...H264_MP4_MOOV_END, bFrames: 0 }, fooled: true },
  'H.264 with 3 B-frames': { spec: H264_MP4_MOOV_END, fooled: false },
};

/** Ranges that start in each GOP, at its keyframe, just after it and late in it; lists; times; a step. */
const SELECTIONS: SelectionOptions[] = [
  ...[1, 5, 12, 13, 20, 25, 31, 37, 44, 49, 50, 56].map((start) => ({ start, end: Math.min(start + 3, FRAMES - 1) })),
  { start: 58, end: 59 },
  { frames: [5, 30, 50] },
  { frames: [13, 14, 40, 59] },
  { timestamps: [0.5, 1.3, 2.1] },
  { start: 3, end: 57, step: 18 },
];

let dir: string;
after(async () => {
  if (dir) await removeDir(dir);
});

/** Every frame of a full decode (from the first packet: no seek), by number. */
async function fullDecode(file: string): Promise<Map<number, Buffer>> {
  const frames = new Map<number, Buffer>();
  for await (const frame of streamVideoFrames(file)) frames.set(frame.index, Buffer.from(frame.data));
  return frames;
}

async function collect(file: string, selection: SelectionOptions, stats: RunStats): Promise<RgbFrame[]> {
  const frames: RgbFrame[] = [];
  for await (const frame of streamVideoFrames(file, { ...selection, stats })) frames.push({ ...frame, data: Buffer.from(frame.data) });
  return frames;
}

for (const [specName, { spec, fooled }] of Object.entries(SPECS)) {
  for (const [lieName, lie] of Object.entries(LIES)) {
    const misses = fooled && lie.misses;
    describe(`${specName}, stss ${lieName}`, () => {
      let file: string;
      let full: Map<number, Buffer>;

      before(async () => {
        dir ??= await tempDir('framepipe-seeks-');
        file = join(dir, `${specName}-${lieName}.mp4`.replace(/[^\w.-]+/g, '-'));
        await rewriteSyncSamples(await makeFixture(spec), file, lie.edit);
        full = await fullDecode(file);
      });

      test('the full decode is the fixture: every frame, each showing its own number', () => {
        assert.deepEqual([...full.keys()], Array.from({ length: FRAMES }, (_, i) => i));
        for (const [n, data] of full) assert.equal(readFrameCode(data, spec.width, spec.height), n, `frame ${n}`);
      });

      test('ranges, lists, times and steps give the numbers and pixels of the full decode', async () => {
        let missed = 0;
        for (const selection of SELECTIONS) {
          const stats = new RunStats();
          const frames = await collect(file, selection, stats);
          const expected = expectedFrames(selection);
          const label = JSON.stringify(selection);
          assert.deepEqual(frames.map((f) => f.index), expected, `frame numbers of ${label}`);
          for (const frame of frames) assert.ok(frame.data.equals(full.get(frame.index)!), `pixels of frame ${frame.index} of ${label}`);
          assert.equal(stats.strategy, 'container', label);
          const seeks = stats.decodePath === 'seek' ? stats.seeks >= 1 + stats.seeksMissed : stats.seeks === 0;
          assert.ok(seeks, `seeks count the missed ones too, ${label}`);
          assert.equal(Object.values(stats.framesMissing).every((n) => n === 0), true, `nothing missing in ${label}`);
          missed += stats.seeksMissed;
        }
        if (misses) assert.ok(missed > 0, 'the seeks that missed are counted');
        else if (fooled) assert.equal(missed, 0, 'no seek missed');
      });

      test('a resumed run redoes the missing files from the right keyframes', async () => {
        const out = join(dir, `resume-${specName}-${lieName}`.replace(/[^\w.-]+/g, '-'));
        const range = { start: 10, end: 59 };
        await streamVideoFramesToDir(file, out, range);
        for (const n of [14, 20, 33, 38, 58]) await rm(join(out, `frame_${String(n).padStart(6, '0')}.png`));
        const stats = new RunStats();
        const paths = await streamVideoFramesToDir(file, out, { ...range, resume: true, stats });
        assert.equal(stats.framesDelivered, 5);
        assert.equal(stats.framesReused, 45);
        assert.deepEqual(paths.map(indexInName), expectedFrames(range));
        for (const path of paths) {
          const n = indexInName(path);
          assert.ok((await sharp(path).raw().toBuffer()).equals(full.get(n)!), `pixels of ${path}`);
        }
        if (misses) assert.ok(stats.seeksMissed > 0, 'the resumed run missed a seek and went back');
      });
    });
  }
}

/**
 * Two recordings joined with `ffmpeg -f concat -c copy`: 40 frames at 25 fps, then 100 at 50 fps (codes 0-39, then
 * 0-99 again), with grain so that a GOP of 8 frames takes about 110 KB. In the second one FFmpeg's seek to a keyframe
 * lands on the keyframe before it. A part of a sparse decode that starts two GOPs after the end of the one before is
 * read from its own keyframe, over 96 KB on (the demuxer does not read across that gap), but the seek lands on the
 * keyframe just after that end, which FFmpeg reaches by reading on: it did not, since its reading had met the end
 * of the part before, and the part's frames were lost.
 */
describe('a spliced VFR MP4 whose seeks land a keyframe early, just past the end of the part before', () => {
  let file: string;
  /** The code each frame shows in ffmpeg's decode, by frame number. */
  let codes: number[];

  before(async () => {
    dir ??= await tempDir('framepipe-seeks-');
    const spec = { codec: 'h264', container: 'mp4', width: 320, height: 240, bFrames: 2, gop: 8, grain: true } as const;
    const first = await makeFixture({ ...spec, frames: 40, fps: 25, bitRate: 3_000_000 });
    const second = await makeFixture({ ...spec, frames: 100, fps: 50, bitRate: 6_000_000 });
    const list = join(dir, `${basename(first, '.mp4')}+${basename(second, '.mp4')}.txt`);
    await writeFile(list, `file '${first}'\nfile '${second}'\n`);
    file = await deriveWithFfmpeg(list, { inputArgs: ['-f', 'concat', '-safe', '0'], args: ['-c', 'copy'], ext: 'mp4', name: 'spliced-vfr' });
    codes = await ffmpegPictures(file);
    assert.equal(codes.length, 140);
  });

  /** Runs a selection: it must give the frames `expected`, each showing what ffmpeg shows for its number, none missing. */
  async function assertGives(selection: SelectionOptions, expected: number[]): Promise<void> {
    const stats = new RunStats();
    const numbers: number[] = [];
    for await (const frame of streamVideoFrames(file, { ...selection, stats })) {
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), codes[frame.index], `picture of frame ${frame.index}`);
      numbers.push(frame.index);
    }
    const label = JSON.stringify(selection);
    assert.deepEqual(numbers, expected, `frame numbers of ${label}`);
    assert.deepEqual(stats.framesMissing, { beforeKeyframe: 0, editList: 0, corrupt: 0, pastEnd: 0, other: 0 }, `nothing missing in ${label}`);
  }

  test('a frame list gives every frame listed', async () => {
    for (const frames of [[60, 75], [61, 76], [62, 78]]) await assertGives({ frames }, frames);
  });

  test("fps gives the frames of ffmpeg's fps filter with round=up", async () => {
    // Each picture ffmpeg's filter gives, found in its full decode from the one before on (codes repeat after the splice).
    let at = 0;
    const expected = [...new Set((await ffmpegPictures(file, { filter: 'fps=fps=3:round=up' })).map((code) => (at = codes.indexOf(code, at))))];
    assert.equal(expected.includes(-1), false);
    await assertGives({ fps: 3 }, expected);
  });
});

/** The frame numbers a selection gives in a 60-frame video at 25 fps, in order. */
function expectedFrames(selection: SelectionOptions): number[] {
  if (selection.frames) return [...selection.frames].sort((a, b) => a - b);
  if (selection.timestamps) return selection.timestamps.map((t) => Math.floor(t * 25 + 1e-9));
  const out: number[] = [];
  for (let n = selection.start ?? 0; n <= (selection.end ?? FRAMES - 1); n += selection.step ?? 1) out.push(n);
  return out;
}
