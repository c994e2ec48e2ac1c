import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ErrorCode, RunStats, openVideo, pipeVideoFrames, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';

test('reuseBuffers: every frame shows its own number while the loop holds it, from a few recycled buffers', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const buffers = new Set<Buffer>();
  let count = 0;
  for await (const frame of streamVideoFrames(video, { reuseBuffers: true, queueMaxSize: 2 })) {
    // Hold the frame while the stages behind it go on converting: its buffer must not be handed out meanwhile.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
    buffers.add(frame.data);
    count++;
  }
  assert.equal(count, 60);
  // The queue, the frame in hand, and the one being converted: a handful, not one per frame.
  assert.ok(buffers.size <= 5, `${buffers.size} distinct buffers for 60 frames`);
});

// The default pool takes buffers back when the garbage collector finds their frames unreachable: the tests collect
// at every frame, so that what a long run does over many frames happens within a short fixture.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
/** Collects garbage, then lets the finalizers that found buffers unreachable run. */
async function collectGarbage(): Promise<void> {
  collect();
  await new Promise((resolve) => setImmediate(resolve));
}

test('by default each frame keeps a buffer of its own: frames kept past the loop still show their numbers', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const kept = [];
  for await (const frame of streamVideoFrames(video, { queueMaxSize: 2 })) {
    kept.push(frame);
    await collectGarbage();
  }
  assert.equal(new Set(kept.map((frame) => frame.data)).size, 60);
  for (const frame of kept) assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
});

test('by default a loop that drops its frames reuses a few buffers, and the frames it keeps stay intact', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const stats = new RunStats();
  const kept: { index: number; data: Buffer; width: number; height: number }[] = [];
  let count = 0;
  for await (const frame of streamVideoFrames(video, { queueMaxSize: 2, stats })) {
    assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
    // Every 10th frame's data is kept (without the frame), the rest dropped.
    if (frame.index % 10 === 0) kept.push({ index: frame.index, data: frame.data, width: frame.width, height: frame.height });
    count++;
    await collectGarbage();
  }
  assert.equal(count, 60);
  for (const { index, data, width, height } of kept) assert.equal(readFrameCode(data, width, height), index);
  // The queue, the frame in hand, the one being converted and those waiting for a collection: a handful, plus one
  // per frame kept; not one per frame.
  assert.ok(stats.frameBuffersAllocated <= 6 + kept.length, `${stats.frameBuffersAllocated} buffers allocated for 60 frames`);
  assert.ok(stats.frameBuffersAllocated >= kept.length);
});

test('by default a view kept without its frame\'s data never shows another frame: it is emptied when the buffer is reused', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const views: { index: number; view: Buffer; width: number; height: number }[] = [];
  for await (const frame of streamVideoFrames(video, { queueMaxSize: 2 })) {
    views.push({ index: frame.index, view: frame.data.subarray(0), width: frame.width, height: frame.height });
    await collectGarbage();
  }
  let emptied = 0;
  for (const { index, view, width, height } of views) {
    if (view.length === 0) emptied++;
    else assert.equal(readFrameCode(view, width, height), index);
  }
  // The rule the README states: keep `data` (or the frame) for as long as a view of it is read.
  assert.ok(emptied > 0, 'no view was emptied: the buffers were not reused');
});

test('reuseBuffers is checked, and is an option of the iterator only', async () => {
  assert.throws(() => streamVideoFrames('a.mp4', { reuseBuffers: 'yes' as never }), { code: ErrorCode.INVALID_OPTION, option: 'reuseBuffers' });
  // The file writer recycles its buffers by itself; the option means nothing there.
  await assert.rejects(streamVideoFramesToDir('a.mp4', '/tmp/never-written', { reuseBuffers: true } as never), { code: ErrorCode.INVALID_OPTION });
});

test('an imageWriter that drops the frames it writes gets its buffers from a few reused ones; one that keeps them keeps them intact', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const out = await mkdtemp(join(tmpdir(), 'framepipe-writer-'));
  try {
    const stats = new RunStats();
    const kept: { index: number; data: Buffer; width: number; height: number }[] = [];
    await streamVideoFramesToDir(video, out, {
      queueMaxSize: 2,
      maxWriteWorkers: 1,
      stats,
      imageWriter: async (path, frame) => {
        assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
        if (frame.index % 10 === 0) kept.push({ index: frame.index, data: frame.data, width: frame.width, height: frame.height });
        await writeFile(path, String(frame.index));
        await collectGarbage();
      },
    });
    for (const { index, data, width, height } of kept) assert.equal(readFrameCode(data, width, height), index);
    assert.ok(stats.frameBuffersAllocated <= 6 + kept.length, `${stats.frameBuffersAllocated} buffers allocated for 60 frames`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('pipeVideoFrames as y4m: each frame\'s planes reach the output in one of a few reused buffers', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  // 4:4:4, full range: three planes of 320 × 240.
  const planeBytes = 320 * 240 * 3;
  const memories = new Set<ArrayBufferLike>();
  let frames = 0;
  const output = new Writable({
    write: (chunk: Buffer, _encoding, cb) => {
      if (chunk.length === planeBytes) {
        memories.add(chunk.buffer);
        frames++;
      }
      cb();
    },
  });
  await pipeVideoFrames(video, output, { format: 'y4m', queueMaxSize: 2 });
  assert.equal(frames, 60);
  assert.ok(memories.size <= 4, `${memories.size} buffers for 60 frames`);
});

test('VideoReader: frames asked for one by one and dropped reuse a few buffers; the ones kept stay intact', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const stats = new RunStats();
  await using reader = await openVideo(video, { stats });
  const kept = [];
  for (let n = 0; n < 60; n++) {
    const frame = await reader.getFrame(n);
    assert.equal(readFrameCode(frame.data, frame.width, frame.height), n);
    if (n % 10 === 0) kept.push(frame);
    await collectGarbage();
  }
  for (const frame of kept) assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
  assert.ok(stats.frameBuffersAllocated <= 4 + kept.length, `${stats.frameBuffersAllocated} buffers allocated for 60 frames`);
});
