/**
 * autorotate: frames turned upright by the stream's display matrix must match what ffmpeg shows (it rotates by
 * default), for 90, 180 and 270 degrees; without it, frames stay as stored. The frame code is not symmetric, so
 * a turn in the wrong direction differs from ffmpeg's picture by far more than conversion noise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ErrorCode, streamVideoFrames } from '@framepipe/core';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';

const run = promisify(execFile);
const FRAMES = [5, 6, 7];

/** Frames 5-7 as ffmpeg shows them: decoded, turned upright (its default), packed RGB24. */
async function ffmpegUpright(path: string, width: number, height: number): Promise<Buffer[]> {
  const args = ['-v', 'error', '-i', path, '-vf', `select='between(n\\,${FRAMES[0]}\\,${FRAMES.at(-1)})'`, '-vsync', '0'];
  const { stdout } = await run('ffmpeg', [...args, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { encoding: 'buffer', maxBuffer: 1 << 26 });
  const size = width * height * 3;
  assert.equal(stdout.length, size * FRAMES.length, 'ffmpeg gave three upright frames of that size');
  return FRAMES.map((_, i) => stdout.subarray(i * size, (i + 1) * size));
}

function meanDifference(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

for (const rotation of [90, 180, 270] as const) {
  test(`rotation ${rotation}: autorotate gives ffmpeg's upright picture; without it the frame stays as stored`, async () => {
    const path = await makeFixture({ ...H264_MP4_MOOV_END, rotation });
    const turned = rotation !== 180;
    const [width, height] = turned ? [240, 320] : [320, 240];
    const expected = await ffmpegUpright(path, width, height);
    const upright = [];
    for await (const frame of streamVideoFrames(path, { start: FRAMES[0], end: FRAMES.at(-1), autorotate: true })) upright.push(frame);
    assert.deepEqual(upright.map((f) => f.index), FRAMES);
    upright.forEach((frame, i) => {
      assert.deepEqual([frame.width, frame.height], [width, height]);
      const difference = meanDifference(frame.data, expected[i]!);
      assert.ok(difference < 2, `frame ${frame.index}: mean difference ${difference.toFixed(2)} from ffmpeg's picture`);
    });
    const stored = [];
    for await (const frame of streamVideoFrames(path, { start: 5, end: 5 })) stored.push(frame);
    assert.equal(stored.length, 1, 'frame 5, as stored');
    assert.deepEqual([stored[0]!.width, stored[0]!.height], [320, 240], 'as stored by default');
    // Stored and upright are the same size at 180: the picture itself must differ.
    if (rotation === 180) assert.ok(meanDifference(stored[0]!.data, expected[0]!) > 10, 'the stored picture is not the upright one');
  });
}

test('autorotate is checked like every option', () => {
  assert.throws(() => streamVideoFrames('x.mp4', { autorotate: 'yes' as never }), {
    code: ErrorCode.INVALID_OPTION,
    message: 'Expected a boolean for autorotate but received "yes" of type string',
  });
});
