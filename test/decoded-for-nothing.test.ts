/**
 * Frames decoded for nothing: once the frames a part of the selection wants have been sent to the decoder, the
 * packets read ahead after them are not decoded, and the demuxer stops (or jumps to the next part) at once; the rest
 * of a GOP after the last frame wanted in it is jumped over. The counts are those of these fixtures: each bound is
 * what the run needs (the wanted frames, the pictures they refer to, and the one frame that already sat in the
 * decoder), where the runs before decoded what the decoder's threads and the read-ahead held too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunStats, streamVideoFrames } from '@framepipe/core';
import type { SelectionOptions } from '@framepipe/core';
import { H264_MKV, SAMPLE_MP4, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';

const CASES: { name: string; spec: FixtureSpec; selection: SelectionOptions; wanted: number[]; decoded: number }[] = [
  // A range from 0 in a Matroska file (numbered as packets pass): 20 frames were decoded before, 33 with 16 threads.
  { name: 'start 0, end 9 of an MKV', spec: H264_MKV, selection: { start: 0, end: 9 }, wanted: [...Array(10).keys()], decoded: 12 },
  // A list in an MKV (a scan): 19 before.
  { name: 'frames 3, 30, 31 of an MKV', spec: H264_MKV, selection: { frames: [3, 30, 31] }, wanted: [3, 30, 31], decoded: 12 },
  // A list in an MP4 with GOPs of 25: the rest of the GOP after frame 31 was decoded (26 frames before).
  { name: 'frames 3, 30, 31, 80 of an MP4', spec: SAMPLE_MP4, selection: { frames: [3, 30, 31, 80] }, wanted: [3, 30, 31, 80], decoded: 16 },
];

for (const { name, spec, selection, wanted, decoded } of CASES) {
  test(`${name}: the frames wanted, and no more than ${decoded} decoded`, async (t) => {
    const video = await makeFixture(spec);
    const stats = new RunStats();
    const got: number[] = [];
    for await (const frame of streamVideoFrames(video, { ...selection, stats })) {
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
      got.push(frame.index);
    }
    assert.deepEqual(got, wanted);
    t.diagnostic(`decoded ${stats.framesDecoded}, packets read ${stats.packetsRead}, left out ${stats.packetsLeftOut}`);
    assert.ok(stats.framesDecoded <= decoded, `${stats.framesDecoded} frames decoded`);
  });
}
