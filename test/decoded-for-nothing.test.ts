/**
 * Frames decoded for nothing: once the frames the selection's last part wants have been sent to the decoder, the
 * packets read ahead after them are not decoded, and the demuxer stops at once. The counts are those of these
 * fixtures: each bound is what the run needs (the wanted frames, the pictures they refer to, and the one frame that
 * already sat in the decoder), where the runs before decoded what the decoder's threads and the read-ahead held too.
 * (Jumping over the rest of a GOP after a part's last frame was tried and dropped: more seeks, and on MKV/TS seeks
 * that land early decode more than they save.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunStats, streamVideoFrames } from '@framepipe/core';
import type { SelectionOptions } from '@framepipe/core';
import { H264_MKV, H264_TS, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';

const CASES: { name: string; spec: FixtureSpec; selection: SelectionOptions; wanted: number[]; decoded: number }[] = [
  // A range from 0 in a Matroska file (numbered as packets pass): 20 frames were decoded before, 33 with 16 threads.
  { name: 'start 0, end 9 of an MKV', spec: H264_MKV, selection: { start: 0, end: 9 }, wanted: [...Array(10).keys()], decoded: 12 },
  // A list in an MKV (a scan): 19 before. Only the last part stops at its last packet: after frame 3 the decoder goes
  // on until the jump to 30 is followed (dropping there lost frames when the demuxer had already read to the end).
  { name: 'frames 3, 30, 31 of an MKV', spec: H264_MKV, selection: { frames: [3, 30, 31] }, wanted: [3, 30, 31], decoded: 15 },
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

// The review of issue 17 found the last part of a list lost: the decoder dropped the packets after one part's last
// frame while the demuxer had already read to the end, so the jump to the next part was never followed.
for (const [name, spec] of [['MKV', H264_MKV], ['MPEG-TS', H264_TS]] as const) {
  test(`${name}: frames 36-45 and 49 of a 50-frame video (the last frame in a GOP of its own) are all delivered`, async () => {
    const video = await makeFixture({ ...spec, frames: 50 });
    const frames = [36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 49];
    const got: number[] = [];
    for await (const frame of streamVideoFrames(video, { frames })) {
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
      got.push(frame.index);
    }
    assert.deepEqual(got, frames);
  });
}
