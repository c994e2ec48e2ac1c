/**
 * Honest counts: every selected frame that a run does not deliver has a reason in `RunStats.framesMissing` and in
 * the CLI's `--json`, a note on stderr says how many and why, and `strict` fails on any of them. The frames the
 * video can give are checked against ffmpeg's own decode of the same file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, RunStats, probeVideo, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { FramesMissing, SelectionOptions } from '@framepipe/core';
import { H264_MP4_MOOV_END, H264_RAW_BFRAMES, H264_TS, makeFixture } from './support/fixtures.ts';
import { deriveWithFfmpeg, ffmpegReference, runTool } from './support/ffmpeg-reference.ts';
import type { Reference } from './support/ffmpeg-reference.ts';
import { readFrameCode } from './support/frame-code.ts';
import { rewriteMoov, setEdits, videoTrack } from './support/mp4-rewrite.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { rejectsWith } from './support/sources.ts';
import { BIN, runScript } from './support/run-script.ts';

// 60 frames at 25 fps, a keyframe every 12 (the first GOP is frames 0..11).
const PLAIN = { ...H264_MP4_MOOV_END, bFrames: 0 };
const FRAMES = 60;
// Frames the leading edit list of lead-edit.mp4 hides.
const LEAD = 5;
const NONE: FramesMissing = { beforeKeyframe: 0, editList: 0, corrupt: 0, pastEnd: 0, other: 0 };

let dir: string;
const files: Record<string, string> = {};
const references: Record<string, Reference> = {};

/** A copy of an MPEG-TS file from the TS packet that starts the PES of its `nth` video packet (decode order) on. */
async function cutTs(source: string, nth: number, target: string): Promise<void> {
  const out = await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'packet=pos', '-of', 'json', source]);
  const { packets } = JSON.parse(out.toString()) as { packets: Array<{ pos: string }> };
  const at = Math.floor(Number(packets[nth]!.pos) / 188) * 188;
  await writeFile(target, (await readFile(source)).subarray(at));
}

before(async () => {
  dir = await tempDir('framepipe-missing-');
  const plain = await makeFixture(PLAIN);
  files['plain.mp4'] = plain;
  // A stream that starts inside a GOP: its first four packets were dropped before muxing (pictures 4..11 are left
  // without the keyframe they refer to).
  files['mid-gop.mp4'] = await deriveWithFfmpeg(plain, { args: ['-c', 'copy', '-bsf:v', "noise=drop='lt(n\\,4)'"], ext: 'mp4' });
  // An MPEG-TS recording cut inside its first GOP (3 B-frames): from the PES of its fourth packet on.
  files['mid-gop.ts'] = join(dir, 'mid-gop.ts');
  await cutTs(await makeFixture(H264_TS), 3, files['mid-gop.ts']);
  // An edit list that ends one frame early (59 frames of 40 ms, in the movie time scale of 1000): the last frame
  // is in the file, counted by its pts, and hidden.
  files['edit.mp4'] = join(dir, 'edit.mp4');
  await rewriteMoov(plain, files['edit.mp4'], (moov) => setEdits(videoTrack(moov), [[2360, 0]]));
  // An edit list that starts five frames in, as `ffmpeg -ss … -c copy` cuts make: the first five frames stay in the
  // file (the frames after them are decoded from their keyframe) with negative timestamps, and have no number.
  const plainPts = (await ffmpegReference(plain)).packetPts.filter((pts) => pts !== null).sort((a, b) => (a < b ? -1 : 1));
  const frameDuration = Number(plainPts[1]! - plainPts[0]!);
  files['lead-edit.mp4'] = join(dir, 'lead-edit.mp4');
  await rewriteMoov(plain, files['lead-edit.mp4'], (moov) => setEdits(videoTrack(moov), [[(FRAMES - LEAD) * 40, LEAD * frameDuration]]));
  for (const name of ['mid-gop.mp4', 'mid-gop.ts', 'edit.mp4', 'lead-edit.mp4']) references[name] = await ffmpegReference(files[name]!);
});
after(async () => {
  if (dir) await removeDir(dir);
});

/** What the frame-number rule numbers in a file: every packet pts >= 0. */
function numbered(name: string): number {
  return references[name]!.packetPts.filter((pts) => pts !== null && pts >= 0n).length;
}

/** Runs a selection into a fresh directory; checks every file shows the picture ffmpeg shows for its number. */
async function saveAndCheck(name: string, selection: SelectionOptions, label: string): Promise<RunStats> {
  const stats = new RunStats();
  const out = join(dir, `${name}-${label}`);
  const paths = await streamVideoFramesToDir(files[name]!, out, { ...selection, stats });
  const { pictureOf } = references[name]!;
  const start = selection.start ?? 0;
  const end = selection.end ?? Infinity;
  const expected = [...pictureOf.keys()].filter((n) => n >= start && n <= end);
  assert.deepEqual(paths.map(indexInName), expected, `${name} ${label}: the frames ffmpeg decodes`);
  assert.deepEqual(await readCodes(paths), expected.map((n) => pictureOf.get(n)), `${name} ${label}: their pictures`);
  return stats;
}

describe('a stream that starts inside a GOP: frames before its first keyframe', () => {
  for (const name of ['mid-gop.mp4', 'mid-gop.ts']) {
    test(`${name}: every frame (stream strategy), and a range that starts before the keyframe (container or scan)`, async () => {
      const { pictureOf } = references[name]!;
      const undecodable = numbered(name) - pictureOf.size;
      assert.ok(undecodable > 0, 'ffmpeg decodes fewer frames than the packets hold');
      const firstDecoded = Math.min(...pictureOf.keys());
      assert.equal(firstDecoded, undecodable, 'and those it cannot decode are the first ones');

      const all = await saveAndCheck(name, {}, 'all');
      assert.equal(all.strategy, 'stream');
      assert.deepEqual(all.framesMissing, { ...NONE, beforeKeyframe: undecodable });

      const range = await saveAndCheck(name, { start: 2, end: 20 }, 'range');
      assert.equal(range.strategy, name.endsWith('.mp4') ? 'container' : 'scan');
      assert.deepEqual(range.framesMissing, { ...NONE, beforeKeyframe: undecodable - 2 });
    });
  }

  test('strict fails with ERR_FRAMEPIPE_FRAMES_MISSING, naming the count and the reason', async () => {
    const error = await rejectsWith(streamVideoFramesToDir(files['mid-gop.mp4']!, join(dir, 'strict-mid-gop'), { strict: true }), ErrorCode.FRAMES_MISSING);
    assert.equal(
      error.message,
      "8 of the selected frames cannot be delivered: 8 frames before the stream's first keyframe, which no decoder can make; without strict, the run delivers the others",
    );
  });
});

describe('an edit list that hides a frame', () => {
  test('probe counts 60 frames; a run saves 59 and says the edit list hid one', async () => {
    assert.equal((await probeVideo(files['edit.mp4']!, { countFrames: true })).frameCount, FRAMES);
    assert.equal(numbered('edit.mp4'), FRAMES);
    assert.equal(references['edit.mp4']!.pictureOf.size, FRAMES - 1, 'ffmpeg shows 59 frames');
    const all = await saveAndCheck('edit.mp4', {}, 'all');
    assert.deepEqual(all.framesMissing, { ...NONE, editList: 1 });
    const range = await saveAndCheck('edit.mp4', { start: 50, end: 59 }, 'range');
    assert.equal(range.strategy, 'container');
    assert.deepEqual(range.framesMissing, { ...NONE, editList: 1 });
  });

  test('strict fails', async () => {
    const error = await rejectsWith(
      streamVideoFramesToDir(files['edit.mp4']!, join(dir, 'strict-edit'), { start: 50, strict: true }),
      ErrorCode.FRAMES_MISSING,
    );
    assert.match(error.message, /^1 of the selected frames cannot be delivered: 1 frame hidden by the edit list;/);
  });
});

describe('an edit list that starts after the first frames (a cut made without re-encoding)', () => {
  test('ffmpeg shows 55 frames, numbered 0-54: probe counts those, and says the edit list hides 5', async () => {
    const { pictureOf } = references['lead-edit.mp4']!;
    assert.equal(numbered('lead-edit.mp4'), FRAMES - LEAD, 'the hidden frames have negative timestamps');
    assert.deepEqual([...pictureOf.keys()], Array.from({ length: FRAMES - LEAD }, (_, i) => i));
    assert.equal(pictureOf.get(0), LEAD, 'frame 0 is the first picture the edit shows');
    const probe = await probeVideo(files['lead-edit.mp4']!);
    assert.deepEqual([probe.frameCount, probe.frameCountFrom, probe.framesHidden], [FRAMES - LEAD, 'container', LEAD]);
    const counted = await probeVideo(files['lead-edit.mp4']!, { countFrames: true });
    assert.deepEqual([counted.frameCount, counted.framesHidden], [FRAMES - LEAD, LEAD]);
    assert.equal((await probeVideo(files['plain.mp4']!)).framesHidden, 0);
  });

  test('a range from frame 0 past the end: the 55 frames, a total of 55, and the rest past the end', async () => {
    for (const [selection, label] of [[{}, 'all'], [{ end: FRAMES - 1 }, 'to-59'], [{ start: 3, end: FRAMES - 1 }, 'from-3']] as const) {
      const stats = await saveAndCheck('lead-edit.mp4', selection, label);
      assert.equal(stats.framesTotal, FRAMES - LEAD - (selection.start ?? 0), `${label}: the total a progress bar shows`);
      assert.deepEqual(stats.framesMissing, { ...NONE, pastEnd: 'end' in selection ? LEAD : 0 }, label);
    }
  });

  test('strict fails before anything is decoded', async () => {
    const stats = new RunStats();
    const out = join(dir, 'strict-lead-edit');
    const error = await rejectsWith(streamVideoFramesToDir(files['lead-edit.mp4']!, out, { end: FRAMES - 1, strict: true, stats }), ErrorCode.FRAMES_MISSING);
    assert.match(error.message, /^5 of the selected frames cannot be delivered: 5 frames past the end of the video;/);
    assert.equal(stats.framesDecoded, 0);
    assert.deepEqual(await readdir(out).catch(() => []), []);
  });

  test('the CLI: probe names the frames shown and those hidden', async () => {
    const probe = await runScript(BIN, ['probe', files['lead-edit.mp4']!]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.match(probe.stdout, /^Frames +55, as the container tables give them \(frame numbers 0-54; 60 in the file: the edit list hides 5 before frame 0; --count-frames to count\)$/m);
  });
});

describe('frames and times past the end of the video', () => {
  const cases: Array<[string, SelectionOptions, number[], number]> = [
    ['a list', { frames: [3, 58, 70, 80] }, [3, 58], 2],
    ['a range whose end is past the last frame', { start: 55, end: 64 }, [55, 56, 57, 58, 59], 5],
    ['a range with a step', { start: 50, end: 80, step: 4 }, [50, 54, 58], 5],
    ['a range from frame 0 (stream strategy)', { end: 61 }, Array.from({ length: FRAMES }, (_, i) => i), 2],
    ['a range that starts past the end', { start: 70, end: 75 }, [], 6],
    ['times (the video lasts 2.4 s)', { timestamps: [1, 2.39, 9, 12] }, [25, 59], 2],
  ];
  for (const [what, selection, saved, pastEnd] of cases) {
    test(`${what}: the frames it has are saved, the others counted`, async () => {
      const stats = new RunStats();
      const frames: number[] = [];
      for await (const frame of streamVideoFrames(files['plain.mp4']!, { ...selection, stats })) {
        assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
        frames.push(frame.index);
      }
      assert.deepEqual(frames, saved);
      assert.deepEqual(stats.framesMissing, { ...NONE, pastEnd });
    });
  }

  test('strict fails before anything is decoded', async () => {
    const stats = new RunStats();
    const out = join(dir, 'strict-past');
    const error = await rejectsWith(streamVideoFramesToDir(files['plain.mp4']!, out, { frames: [3, 70], strict: true, stats }), ErrorCode.FRAMES_MISSING);
    assert.match(error.message, /^1 of the selected frames cannot be delivered: 1 frame past the end of the video;/);
    assert.equal(stats.framesDecoded, 0);
    assert.deepEqual(await readdir(out).catch(() => []), []);
  });
});

describe('the CLI', () => {
  test('--json has the reasons; stderr names the count and the reason; --strict exits 1 with the code', async () => {
    const out = join(dir, 'cli-json');
    const json = await runScript(BIN, ['frames', files['mid-gop.mp4']!, '-o', out, '--end', '20', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout) as { frames: number; missing?: Partial<FramesMissing> };
    assert.equal(summary.frames, 13);
    assert.deepEqual(summary.missing, { beforeKeyframe: 8 });

    const plain = await runScript(BIN, ['frames', files['plain.mp4']!, '-o', join(dir, 'cli-past'), '--frames', '3,58,70,80']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /^Note: 2 of the selected frames were not saved: 2 frames past the end of the video; --strict makes this an error\.$/m);
    assert.doesNotMatch(plain.stderr, /without pts/);

    const strict = await runScript(BIN, ['frames', files['edit.mp4']!, '-o', join(dir, 'cli-strict'), '--start', '50', '--strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /^ERR_FRAMEPIPE_FRAMES_MISSING 1 of the selected frames cannot be delivered: 1 frame hidden by the edit list;/m);
  });

  test('no file at all: the note blames timestamps only when no decoded frame had a number', async () => {
    // Every frame asked for lies before the first keyframe: frames were decoded (those after it), all numbered.
    const early = await runScript(BIN, ['frames', files['mid-gop.mp4']!, '-o', join(dir, 'cli-early'), '--start', '1', '--end', '5']);
    assert.equal(early.code, 0, early.stderr);
    assert.match(early.stdout, /^Saved 0 frames/);
    assert.match(early.stderr, /Note: 5 of the selected frames were not saved: 5 frames before the stream's first keyframe, which no decoder can make;/);
    assert.doesNotMatch(early.stderr, /without pts/);

    // Raw H.264 with B-frames: no packet has a pts, so no frame has a number.
    const raw = await runScript(BIN, ['frames', await makeFixture(H264_RAW_BFRAMES), '-o', join(dir, 'cli-raw'), '--end', '9']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stderr, /Note: none of the 60 decoded frames has a timestamp the frame-number rule can use \(packets without pts/);
    assert.doesNotMatch(raw.stderr, /were not saved/);
  });
});
