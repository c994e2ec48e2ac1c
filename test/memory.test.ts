import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { H264_1080P, H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';

const run = promisify(execFile);
const CHILD = new URL('./support/memory-child.ts', import.meta.url).pathname;
const MiB = 1024 * 1024;
const FRAME = 1920 * 1080 * 3;

// Memory must stay bounded by the frames the options allow alive, not grow with the length of the video. Each case
// runs in a fresh process so that its resident memory is its own. The bound is generous (allocators keep freed
// pages, threads have arenas); a run that kept every frame would pass it by far: 250 frames of 6 MB.
for (const mode of ['iterate', 'jpg'] as const) {
  test(`1080p, 250 frames (${mode}): resident memory after the first frames grows by less than 40 frames' worth`, async (t) => {
    const video = await makeFixture(H264_1080P);
    const { stdout } = await run(process.execPath, [CHILD, video, mode, '2'], { maxBuffer: 1 << 20 });
    const { frames, baseline, peak } = JSON.parse(stdout) as { frames: number; baseline: number; peak: number };
    assert.equal(frames, 250);
    const growth = peak - baseline;
    t.diagnostic(`${mode}: RSS ${(baseline / MiB).toFixed(0)} MiB after 10 frames, peak ${(peak / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB = ${(growth / FRAME).toFixed(1)} frames)`);
    assert.ok(growth < 40 * FRAME, `grew by ${(growth / MiB).toFixed(0)} MiB over 240 frames`);
  });
}

// The frame memory of a run that writes files is its RGB buffers: one per frame the queue and the writers may hold,
// taken from a pool that gets each back once its file is encoded. More would be a leak, or the queue's bound ignored
// (a 4K frame is 25 MB: with queueMaxSize 4 and 2 writers, the bound is 6 of them, besides the converter's picture).
for (const [queueMaxSize, maxWriteWorkers] of [[2, 1], [4, 2]] as const) {
  test(`files with queueMaxSize ${queueMaxSize}, maxWriteWorkers ${maxWriteWorkers}: no more than ${queueMaxSize + maxWriteWorkers} RGB buffers for 60 frames`, async () => {
    const video = await makeFixture(H264_MP4_MOOV_END);
    const out = await mkdtemp(join(tmpdir(), 'framepipe-memory-'));
    try {
      const stats = new RunStats();
      const paths = await streamVideoFramesToDir(video, out, { ext: 'png', queueMaxSize, maxWriteWorkers, stats });
      assert.equal(paths.length, 60);
      assert.ok(stats.frameBuffersAllocated >= 1);
      assert.ok(stats.frameBuffersAllocated <= queueMaxSize + maxWriteWorkers, `${stats.frameBuffersAllocated} RGB buffers`);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
}
