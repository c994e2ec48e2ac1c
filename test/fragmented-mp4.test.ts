/**
 * Fragmented MP4 over HTTP: the fragment headers stand in for the sample tables, so a range deep in the file gets
 * the container strategy and is decoded from the keyframe before it, without a scan of the whole file. MJPEG, whose
 * every frame is a JPEG, makes a file of a few MB (the frame code of H.264 fixtures compresses to almost nothing,
 * less than one read-ahead block).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { RunStats, probeVideo, streamVideoFrames } from '@framepipe/core';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { serveFixtures } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

const MJPEG = { codec: 'mjpeg', container: 'mov', frames: 200, width: 1920, height: 1080, fps: 25 } as const;
const SPECS: Record<string, FixtureSpec> = {
  'mjpeg-a-fragment-per-frame': { ...MJPEG, fragmented: 'keyframe' },
  'mjpeg-default-base-moof-fragments-of-25': { ...MJPEG, fragmented: 'default-base-moof', fragmentFrames: 25 },
};
/** Ten frames in the last quarter. */
const RANGE = { start: 160, end: 169 };

let server: RangeServer;
let paths: Record<string, string>;

before(async () => {
  ({ server, paths } = await serveFixtures(SPECS));
});
after(async () => {
  await server.close();
});

for (const name of Object.keys(SPECS)) {
  describe(`fragmented MP4 (${name}) over HTTP`, () => {
    test('10 frames in the last quarter: the container strategy, the frames of a full decode, under 1.4× the file', async (t) => {
      const spec = SPECS[name]!;
      const full = new Map<number, Buffer>();
      for await (const frame of streamVideoFrames(paths[name]!)) full.set(frame.index, Buffer.from(frame.data));
      assert.equal(full.size, spec.frames);

      const size = (await stat(paths[name]!)).size;
      const sentBefore = server.bytesSent;
      const requestsBefore = server.requests.length;
      const stats = new RunStats();
      const frames: Array<{ index: number; data: Buffer }> = [];
      for await (const frame of streamVideoFrames(server.url(`/${name}`), { ...RANGE, stats })) {
        frames.push({ index: frame.index, data: Buffer.from(frame.data) });
      }
      const sent = server.bytesSent - sentBefore;
      const requests = server.requests.length - requestsBefore;
      t.diagnostic(`${name}: ${sent} of ${size} bytes (${((100 * sent) / size).toFixed(1)}%) in ${requests} requests`);

      assert.equal(stats.strategy, 'container');
      assert.deepEqual(frames.map((f) => f.index), Array.from({ length: 10 }, (_, i) => RANGE.start + i));
      for (const frame of frames) {
        assert.equal(readFrameCode(frame.data, spec.width, spec.height), frame.index, `frame ${frame.index} shows its number`);
        assert.ok(frame.data.equals(full.get(frame.index)!), `frame ${frame.index} is the full decode's`);
      }
      // FFmpeg walks every moof while opening the file (it fetches them once); the index reads them from what the
      // demuxer holds, and decoding fetches the GOP of the range.
      assert.ok(sent < size * 1.4, `${sent} of ${size} bytes`);
    });

    test('probe counts the frames from the fragments it read while opening, without being asked to', async () => {
      const probe = await probeVideo(server.url(`/${name}`));
      assert.equal(probe.frameCount, SPECS[name]!.frames);
      assert.equal(probe.frameCountFrom, 'counted');
    });
  });
}
