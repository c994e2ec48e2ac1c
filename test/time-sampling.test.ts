/**
 * Sampling by time: a window (`startTime`, `endTime`) and `fps`, against Debian's ffmpeg on the same files, whose
 * frames show their own number: the window against `-vf trim`, fps against `-vf fps=…:round=up`. Then the places a
 * selection goes: the iterator, resume and the manifest, openFrameStages, planShards, queued job records, the CLI.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, pipelinePromise } from 'streamx';
import { ErrorCode, RunStats, Selection, openFrameStages, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { RgbFrame, SelectionOptions } from '@framepipe/core';
import { planShards } from '@framepipe/batch';
// The record check a worker runs on each job it takes (internal to the queue package).
import { checkJob } from '../packages/queue/src/job-data.ts';
import { readFrameCode } from './support/frame-code.ts';
import { ffmpegPictures } from './support/ffmpeg-reference.ts';
import { H264_MKV, H264_MP4_MOOV_END, H264_TS, H264_VFR_MP4 } from './support/fixtures.ts';
import { indexInName, readCodes, servedFixtures, strayFiles } from './support/pipeline-helpers.ts';
import { BIN, runScript } from './support/run-script.ts';

// 60 frames each. CFR at 25 fps: frame n starts at n / 25 s, the last (59) at 2.36 s, the stream ends at 2.4 s. VFR:
// frames last 1/25 and 3/25 s in turn, so they start at 0, 0.04, 0.16, 0.2, 0.32, ... s.
const CONTAINERS = { 'h264.mp4': H264_MP4_MOOV_END, 'h264.mkv': H264_MKV, 'h264.ts': H264_TS, 'vfr.mp4': H264_VFR_MP4 };
/** Far less than any frame's duration (40 ms), and more than Matroska's millisecond: ffmpeg's trim ends before `end`, a window's end is inclusive. */
const EPSILON = 0.002;

const served = servedFixtures(CONTAINERS);

/** Runs a selection through streamVideoFramesToDir and the iterator; both must give the same frames, each showing its number. */
async function framesOf(name: string, options: SelectionOptions, label: string): Promise<number[]> {
  const out = join(served.dir, name, label.replace(/\W+/g, '-'));
  const written = await streamVideoFramesToDir(served.server.url(`/${name}`), out, options);
  const numbers = written.map(indexInName);
  assert.deepEqual(await readCodes(written), numbers, `${label}: each file shows the frame its name says`);
  assert.deepEqual(await strayFiles(out), []);
  const iterated: number[] = [];
  for await (const frame of streamVideoFrames(served.server.url(`/${name}`), options)) {
    assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
    iterated.push(frame.index);
  }
  assert.deepEqual(iterated, numbers, `${label}: the iterator yields the same frames`);
  return numbers;
}

/** A time as ffmpeg's options read it: they take at most 6 decimals (microseconds). */
const seconds = (t: number) => t.toFixed(6);

/** Each picture once, in order: ffmpeg's fps filter repeats a frame at every tick it is shown at. */
const once = (pictures: number[]) => [...new Set(pictures)];

/**
 * The frames shown in `[startTime, endTime]` by ffmpeg: the frame on screen at `startTime` (the last that `trim`
 * keeps when it ends just after `startTime`), then every frame `trim=start=startTime` keeps up to just after
 * `endTime`. ffmpeg's trim starts at the first frame at or after `start`; a window starts with the frame already
 * shown at `startTime`, which is the same frame when one starts exactly there.
 */
async function ffmpegWindow(path: string, startTime: number, endTime: number | undefined): Promise<number[]> {
  const shownAtStart = (await ffmpegPictures(path, { filter: `trim=end=${seconds(startTime + EPSILON)}` })).at(-1);
  const end = endTime === undefined ? '' : `:end=${seconds(endTime + EPSILON)}`;
  const rest = await ffmpegPictures(path, { filter: `trim=start=${startTime}${end}` });
  return once([...(shownAtStart === undefined ? [] : [shownAtStart]), ...rest]);
}

const WINDOWS: Array<{ name: string; startTime: number; endTime?: number }> = [
  // 0.4 s and 0.8 s start frames 10 and 20 (CFR): both are in.
  { name: 'on frames', startTime: 0.4, endTime: 0.8 },
  // Between frames: from frame 10 (shown at 0.41 s) to frame 19 (the last that starts by 0.79 s).
  { name: 'between frames', startTime: 0.41, endTime: 0.79 },
  { name: 'inside one frame', startTime: 0.41, endTime: 0.42 },
  { name: 'to the end', startTime: 1.5 },
  { name: 'end past the end', startTime: 2, endTime: 99 },
];

for (const name of Object.keys(CONTAINERS)) {
  describe(`time window: ${name}`, () => {
    for (const window of WINDOWS) {
      test(`${window.name} (${window.startTime}-${window.endTime ?? 'end'} s) selects what ffmpeg shows in it`, async () => {
        const expected = await ffmpegWindow(served.paths[name]!, window.startTime, window.endTime);
        assert.ok(expected.length > 0, 'ffmpeg shows frames in the window');
        const { name: _, ...options } = window;
        assert.deepEqual(await framesOf(name, options, window.name), expected);
      });
    }

    test('a window that starts past the end selects nothing', async () => {
      const stats = new RunStats();
      assert.deepEqual(await streamVideoFramesToDir(served.server.url(`/${name}`), join(served.dir, name, 'past'), { startTime: 99, stats }), []);
      assert.equal(stats.framesDelivered, 0);
    });

    test('startTime with step: every step-th frame of the window', async () => {
      const window = await ffmpegWindow(served.paths[name]!, 0.41, 1.5);
      const expected = window.filter((_, i) => i % 4 === 0);
      assert.deepEqual(await framesOf(name, { startTime: 0.41, endTime: 1.5, step: 4 }, 'step'), expected);
    });
  });
}

// The frame shown at each tick is the last whose time is at or before it: ffmpeg's fps filter picks that one with
// round=up (a frame's time rounded up to the next tick); its default, round=near, takes a frame up to half a tick late.
// endTime is on a tick here: ffmpeg's trim, after the fps filter, counts in ticks, so it ends half a tick after it.
const FPS_CASES: Array<{ name: string; options: { fps: number; startTime?: number; endTime?: number }; containers?: string[] }> = [
  { name: 'slower than the video', options: { fps: 3 } },
  // startTime × fps is whole, so that the ticks of ffmpeg's output (counted from startTime) are the window's.
  { name: 'in a window', options: { fps: 7.5, startTime: 0.4, endTime: 2 } },
  { name: 'faster than the video: each frame once', options: { fps: 60 } },
  // Ticks at 0, 0.4, ..., 2.0: the next would be 2.4 s, the end of the stream, where nothing is shown any more.
  { name: 'a tick at the end of the stream', options: { fps: 2.5 }, containers: ['h264.mp4'] },
];

for (const name of Object.keys(CONTAINERS)) {
  describe(`fps: ${name}`, () => {
    for (const c of FPS_CASES.filter((c) => !c.containers || c.containers.includes(name))) {
      test(`${c.name} (${JSON.stringify(c.options)}) gives the frames of ffmpeg's fps filter with round=up`, async () => {
        const { fps, startTime, endTime } = c.options;
        const start = startTime === undefined ? '' : `:start_time=${startTime}`;
        const trim = endTime === undefined ? '' : `,trim=end=${seconds(endTime + 0.5 / fps)}`;
        const expected = once(await ffmpegPictures(served.paths[name]!, { filter: `fps=fps=${fps}:round=up${start}${trim}` }));
        assert.deepEqual(await framesOf(name, c.options, c.name), expected);
      });
    }
  });
}

test('fps: round=near, ffmpeg\'s default, takes a frame that starts after the tick (which is why the tests use round=up)', async () => {
  // The tick at 1/3 s: frame 8 (0.32-0.36 s) is shown then. round=near rounds every frame's time to the nearest tick,
  // so it takes the last frame that starts up to half a tick after it.
  const near = once(await ffmpegPictures(served.paths['h264.mp4']!, { filter: 'fps=fps=3' }));
  const ours = await framesOf('h264.mp4', { fps: 3 }, 'near');
  assert.equal(ours[1], 8);
  assert.ok(near[1]! / 25 > 1 / 3, `round=near takes frame ${near[1]}, which starts at ${near[1]! / 25} s, after the tick`);
});

test('time options are checked before any request, and do not mix with frame numbers', async () => {
  const requests = served.server.requests.length;
  const url = served.server.url('/h264.mp4');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ startTime: -1 }, 'Expected a time >= 0 in seconds for startTime but received -1 of type number'],
    [{ endTime: '2' }, 'Expected a time >= 0 in seconds for endTime but received "2" of type string'],
    [{ startTime: 2, endTime: 1 }, 'Expected a time >= startTime (2) for endTime but received 1 of type number'],
    [{ fps: 0 }, 'Expected a positive number for fps but received 0 of type number'],
    [{ keyframesOnly: 'yes' }, 'Expected a boolean for keyframesOnly but received "yes" of type string'],
    [{ startTime: 1, start: 3 }, 'startTime cannot be used together with start: give the window in frame numbers (start, end) or in seconds (startTime, endTime), not both'],
    [{ endTime: 1, end: 3 }, 'endTime cannot be used together with end: give the window in frame numbers (start, end) or in seconds (startTime, endTime), not both'],
    [{ fps: 1, step: 3 }, 'fps cannot be used together with step: fps samples by time and step by count: give one of them'],
    [{ fps: 1, end: 30 }, 'fps cannot be used together with end: fps ticks are counted in seconds: give the window as startTime and endTime'],
    [{ fps: 1, keyframesOnly: true }, 'keyframesOnly cannot be used together with fps: fps takes the frame shown at each tick, keyframesOnly only keyframes: give one of them'],
    [{ step: 2, keyframesOnly: true }, 'keyframesOnly cannot be used together with step: keyframesOnly keeps every keyframe of the range; to thin them, use fps without keyframesOnly or a step without it'],
    [{ timestamps: [1], startTime: 1 }, 'startTime cannot be used together with timestamps: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
    [{ frames: [1], keyframesOnly: true }, 'keyframesOnly cannot be used together with frames: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(streamVideoFramesToDir(url, join(served.dir, 'bad'), options), { code: ErrorCode.INVALID_OPTION, message });
    assert.throws(() => streamVideoFrames(url, options), { code: ErrorCode.INVALID_OPTION, message });
    await assert.rejects(openFrameStages(url, options), { code: ErrorCode.INVALID_OPTION, message });
    await assert.rejects(planShards(url, options), { code: ErrorCode.INVALID_OPTION, message });
  }
  assert.equal(served.server.requests.length, requests);
  // keyframesOnly: false is the default said out loud, and goes with anything.
  assert.deepEqual([...Selection.from({ frames: [3, 1], keyframesOnly: false })], [1, 3]);
});

test('resume and manifest: a second run of a window decodes only the frames whose files are missing', async () => {
  const out = join(served.dir, 'resume');
  const options = { startTime: 0.5, endTime: 1.5, manifest: true };
  const first = await streamVideoFramesToDir(served.server.url('/h264.mp4'), out, options);
  assert.deepEqual(first.map(indexInName), Array.from({ length: 26 }, (_, i) => 12 + i), 'frames 12 (shown at 0.5 s) to 37 (at 1.48 s)');
  const stats = new RunStats();
  const again = await streamVideoFramesToDir(served.server.url('/h264.mp4'), out, { ...options, resume: true, stats });
  assert.deepEqual(again, first);
  assert.equal(stats.framesReused, 26);
  assert.equal(stats.framesDecoded, 0, 'nothing to decode');
  const lines = (await readFile(join(out, 'frames.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { index: number; time: number });
  assert.deepEqual(lines.map((line) => line.index), first.map(indexInName));
  assert.ok(lines[0]!.time <= 0.5 && lines.at(-1)!.time <= 1.5, 'the manifest gives each frame its time in the window');
});

test('openFrameStages plans a window and fps in frame numbers', async () => {
  const stages = await openFrameStages(served.server.url('/h264.mkv'), { startTime: 1, endTime: 2, fps: 2 });
  const kept: number[] = [];
  try {
    const collector = new Writable({
      write(frame: RgbFrame, cb: (error: Error | null) => void) {
        kept.push(frame.index);
        stages.budget.release();
        cb(null);
      },
    });
    await pipelinePromise(...stages.streams, collector);
  } finally {
    await stages.close();
  }
  assert.deepEqual([...stages.plan.selection], [25, 37, 50], 'ticks at 1, 1.5 and 2 s');
  assert.deepEqual(kept, [25, 37, 50]);
});

describe('planShards', () => {
  for (const [what, options] of [
    ['a window', { startTime: 0.3, endTime: 2.1 }],
    ['a window with step', { startTime: 0.3, endTime: 2.1, step: 3 }],
    ['fps', { fps: 4 }],
    ['keyframes only', { keyframesOnly: true }],
    ['keyframes of a window', { keyframesOnly: true, startTime: 0.5, endTime: 2 }],
  ] as const) {
    test(`${what}: the shards, in frame numbers, select exactly what one run does`, async () => {
      const whole = await framesOf('h264.mp4', options, `whole-${what}`);
      const plan = await planShards(served.server.url('/h264.mp4'), { ...options, shardFrames: 3 });
      assert.ok(plan.shards.length > 1, `${plan.shards.length} shards`);
      assert.equal(plan.selected, whole.length);
      const union: number[] = [];
      for (const shard of plan.shards) {
        assert.ok(!Object.keys(shard.selection).some((key) => ['startTime', 'endTime', 'fps'].includes(key)), 'times resolved at plan time');
        const frames = await framesOf('h264.mp4', shard.selection, `shard-${what}-${shard.index}`);
        assert.equal(frames.length, shard.frames);
        assert.ok(frames.every((n) => n >= shard.first && n <= shard.last));
        union.push(...frames);
      }
      assert.deepEqual(union, whole);
    });
  }
});

test('queued job records take the time options', () => {
  const record = { batch: '0123456789abcdef', video: 0, source: '/videos/a.mp4', name: 'a', out: '/out' };
  const plan = checkJob.plan({ ...record, options: { startTime: 1, endTime: 2, fps: 5 }, shardFrames: 100, retry: { attempts: 1, backoff: 0 } }, '1');
  assert.deepEqual(plan.options, { startTime: 1, endTime: 2, fps: 5 });
  const shard = checkJob.shard({ ...record, options: {}, shard: 0, selection: { start: 12, end: 48, keyframesOnly: true } }, '2');
  assert.deepEqual(shard.selection, { start: 12, end: 48, keyframesOnly: true });
  assert.throws(
    () => checkJob.plan({ ...record, options: { fps: 1, step: 2 }, shardFrames: 100, retry: { attempts: 1, backoff: 0 } }, '3'),
    { code: ErrorCode.INVALID_JOB, message: /fps cannot be used together with step/ },
  );
  assert.throws(() => checkJob.shard({ ...record, options: { fps: 1 }, shard: 0, selection: { start: 0 } }, '4'), { code: ErrorCode.INVALID_JOB });
});

describe('framepipe frames', () => {
  test('--start-time, --end-time and --fps select by time', async () => {
    const out = join(served.dir, 'cli-fps');
    const { code, stderr } = await runScript(BIN, ['frames', served.server.url('/h264.ts'), '--out', out, '--start-time', '0.4', '--end-time', '2', '--fps', '7.5', '-q']);
    assert.equal(code, 0, stderr);
    const expected = once(await ffmpegPictures(served.paths['h264.ts']!, { filter: `fps=fps=7.5:round=up:start_time=0.4,trim=end=${seconds(2 + 0.5 / 7.5)}` }));
    assert.deepEqual(await framesIn(out), expected);
  });

  test('--keyframes-only', async () => {
    const out = join(served.dir, 'cli-keyframes');
    const { code, stderr } = await runScript(BIN, ['frames', served.server.url('/h264.mkv'), '--out', out, '--keyframes-only', '--start-time', '0.5', '-q']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(await framesIn(out), [12, 24, 36, 48], 'the keyframes of a GOP of 12 from the one shown at 0.5 s on');
  });

  test('framepipe batch takes them for every video', async () => {
    const out = join(served.dir, 'cli-batch');
    const { code, stderr } = await runScript(BIN, ['batch', served.server.url('/h264.mp4'), served.server.url('/vfr.mp4'), '-o', out, '--start-time', '1', '--fps', '2', '-q']);
    assert.equal(code, 0, stderr);
    for (const name of ['h264.mp4', 'vfr.mp4']) {
      const expected = once(await ffmpegPictures(served.paths[name]!, { filter: 'fps=fps=2:round=up:start_time=1' }));
      const [video] = (await readdir(out)).filter((entry) => entry.startsWith(name.replace('.mp4', '')));
      assert.deepEqual(await framesIn(join(out, video!)), expected, name);
    }
  });

  test('conflicting time flags exit 2 naming both flags', async () => {
    const { code, stderr } = await runScript(BIN, ['frames', served.server.url('/h264.mp4'), '--out', join(served.dir, 'cli-bad'), '--fps', '2', '--step', '3']);
    assert.equal(code, 2);
    assert.equal(stderr, 'ERR_FRAMEPIPE_INVALID_OPTION --fps cannot be used together with --step: --fps samples by time and --step by count: give one of them\n');
  });
});

/** The frame numbers of the files in `out`, each checked to show its number. */
async function framesIn(out: string): Promise<number[]> {
  assert.deepEqual(await strayFiles(out), []);
  const files = (await readdir(out)).filter((name) => name.startsWith('frame_')).sort().map((name) => join(out, name));
  const numbers = files.map(indexInName);
  assert.deepEqual(await readCodes(files), numbers);
  return numbers;
}
