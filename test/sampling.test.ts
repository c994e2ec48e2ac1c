/**
 * Sampling beyond ranges: `step`, `frames` and `timestamps`, through streamVideoFramesToDir and streamVideoFrames,
 * on three containers. Each file's picture is read back, so a wrong frame under the right name is caught.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ErrorCode, RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { readFrameCode } from './support/frame-code.ts';
import { H264_MP4_MOOV_END, H264_TS, VP9_WEBM } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

// 60 frames at 25 fps: frame n is shown from n / 25 s.
const CONTAINERS = { 'h264.mp4': H264_MP4_MOOV_END, 'vp9.webm': VP9_WEBM, 'h264.ts': H264_TS };

let server: RangeServer;
let dir: string;

before(async () => {
  ({ server } = await serveFixtures(CONTAINERS));
  dir = await tempDir();
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

const CASES: Array<{ name: string; options: Record<string, unknown>; expect: number[] }> = [
  { name: 'step from 0', options: { step: 10 }, expect: [0, 10, 20, 30, 40, 50] },
  { name: 'step inside a range', options: { start: 5, end: 40, step: 7 }, expect: [5, 12, 19, 26, 33, 40] },
  { name: 'step past the end', options: { start: 50, end: 500, step: 4 }, expect: [50, 54, 58] },
  { name: 'frames in any order, duplicates and past-the-end ignored', options: { frames: [44, 3, 17, 3, 100] }, expect: [3, 17, 44] },
  { name: 'frames from 0', options: { frames: [59, 0, 30] }, expect: [0, 30, 59] },
  // 0.5 s falls in frame 12 (0.48-0.52 s); 1.0 s starts frame 25; 2.39 s is in the last frame; 99 s is past the end.
  { name: 'timestamps', options: { timestamps: [2.39, 0.5, 0, 0.51, 1.0, 99] }, expect: [0, 12, 25, 59] },
  { name: 'nothing asked for', options: { frames: [] }, expect: [] },
];

for (const name of Object.keys(CONTAINERS)) {
  describe(`sampling: ${name}`, () => {
    for (const c of CASES) {
      test(c.name, async () => {
        const out = join(dir, name, c.name.replaceAll(' ', '-'));
        const stats = new RunStats();
        const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { ...c.options, stats });
        assert.deepEqual(paths.map(indexInName), c.expect, 'file names, in frame order');
        assert.deepEqual(await readCodes(paths), c.expect, 'each file shows its own frame');
        assert.deepEqual(await strayFiles(out), []);
        // Known after a scan, or from an MP4's stated count; WebM and MPEG-TS state none, so a pass from 0 cannot say.
        if (c.expect.length > 0 && (stats.strategy === 'scan' || name.endsWith('.mp4'))) {
          assert.equal(stats.framesTotal, c.expect.length, 'framesTotal counts the selection');
        }

        const iterated: number[] = [];
        for await (const frame of streamVideoFrames(server.url(`/${name}`), c.options)) {
          assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
          iterated.push(frame.index);
        }
        assert.deepEqual(iterated, c.expect, 'the iterator yields the same frames');
      });
    }
  });
}

for (const name of Object.keys(CONTAINERS)) {
  test(`${name}: a sparse selection jumps over the GOPs between its parts instead of decoding them`, async () => {
    // GOPs of 12 frames: 2 (GOP 0-11), 14 (GOP 12-23, the next one: decoded through), 50 and 51 (GOP 48-59, after
    // a gap of two GOPs: one jump).
    const stats = new RunStats();
    const out = join(dir, `sparse-${name}`);
    const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { frames: [51, 2, 50, 14], stats });
    assert.deepEqual(await readCodes(paths), [2, 14, 50, 51]);
    assert.equal(stats.decodePath, 'seek');
    assert.equal(stats.seeks, 2, 'the first seek, then one jump over GOPs 24-47');
    assert.ok(stats.framesDecoded < 45, `${stats.framesDecoded} frames decoded for 4 frames over a span of 50`);
    const through = new RunStats();
    await streamVideoFramesToDir(server.url(`/${name}`), join(dir, `dense-${name}`), { start: 2, end: 51, stats: through });
    assert.ok(stats.framesDecoded <= through.framesDecoded - 20, `${stats.framesDecoded} vs ${through.framesDecoded} decoding through`);
  });
}

test('sampling options are checked before any request, and do not mix', async () => {
  const requests = server.requests.length;
  const url = server.url('/h264.mp4');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ step: 0 }, 'Expected a positive integer for step but received 0 of type number'],
    [{ frames: [1, -2] }, 'Expected a non-negative integer for frames but received -2 of type number'],
    [{ frames: 5 }, 'Expected an array of frame numbers for frames but received 5 of type number'],
    [{ timestamps: [0.5, Number.NaN] }, 'Expected an array of times >= 0 in seconds for timestamps but received NaN of type number'],
    [{ frames: [1], start: 3 }, 'start cannot be used together with frames: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
    [{ frames: [1], timestamps: [1] }, 'timestamps cannot be used together with frames: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
    [{ timestamps: [1], step: 2 }, 'step cannot be used together with timestamps: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(streamVideoFramesToDir(url, join(dir, 'bad'), options), { code: ErrorCode.INVALID_OPTION, message });
    assert.throws(() => streamVideoFrames(url, options), { code: ErrorCode.INVALID_OPTION, message });
  }
  assert.equal(server.requests.length, requests);
});
