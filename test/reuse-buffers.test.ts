import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ErrorCode, RunStats, openVideo, pipeVideoFrames, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { H264_1080P, H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
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

// The tests collect garbage at every frame, so that whatever a long run's collections would do to a buffer still in
// use happens within a short fixture.
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

test('by default a write started in the loop and not awaited writes its whole frame, even as collections run', async () => {
  // fs.promises.writeFile writes through views of its own: a default that took buffers back once `frame.data` was
  // unreachable let later frames overwrite (or detach) memory such a write still read (issue 17's review).
  const video = await makeFixture(H264_1080P);
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-unawaited-'));
  try {
    const stats = new RunStats();
    const writes: Promise<unknown>[] = [];
    const sizes = new Map<number, { width: number; height: number }>();
    for await (const frame of streamVideoFrames(video, { end: 19, queueMaxSize: 2, stats })) {
      // Nothing but the write holds the frame's data once it has started.
      const { index, width, height } = frame;
      sizes.set(index, { width, height });
      writes.push(writeFile(join(dir, `${index}.rgb`), frame.data));
      await collectGarbage();
    }
    await Promise.all(writes);
    for (const [index, { width, height }] of sizes) {
      const bytes = await readFile(join(dir, `${index}.rgb`));
      assert.equal(bytes.length, width * height * 3, `frame ${index}: whole`);
      assert.equal(readFrameCode(bytes, width, height), index);
    }
    // One buffer of its own per frame.
    assert.equal(stats.frameBuffersAllocated, 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('by default a view kept without its frame still shows its frame after the run', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const views: { index: number; view: Uint8Array; width: number; height: number }[] = [];
  for await (const frame of streamVideoFrames(video, { queueMaxSize: 2 })) {
    const { data } = frame;
    views.push({ index: frame.index, view: new Uint8Array(data.buffer, data.byteOffset, data.length), width: frame.width, height: frame.height });
    await collectGarbage();
  }
  for (const { index, view, width, height } of views) assert.equal(readFrameCode(Buffer.from(view), width, height), index);
});

test('reuseBuffers is checked, and is an option of the iterator only', async () => {
  assert.throws(() => streamVideoFrames('a.mp4', { reuseBuffers: 'yes' as never }), { code: ErrorCode.INVALID_OPTION, option: 'reuseBuffers' });
  // The file writer recycles its buffers by itself; the option means nothing there.
  await assert.rejects(streamVideoFramesToDir('a.mp4', '/tmp/never-written', { reuseBuffers: true } as never), { code: ErrorCode.INVALID_OPTION });
});

test('an imageWriter that starts a write of the frame\'s data and returns gets whole frames written', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const out = await mkdtemp(join(tmpdir(), 'framepipe-writer-'));
  try {
    const writes: Promise<unknown>[] = [];
    await streamVideoFramesToDir(video, out, {
      queueMaxSize: 2,
      maxWriteWorkers: 1,
      imageWriter: async (path, frame) => {
        writes.push(writeFile(join(out, `${frame.index}.rgb`), frame.data));
        await writeFile(path, String(frame.index));
        await collectGarbage();
      },
    });
    await Promise.all(writes);
    for (let index = 0; index < 60; index++) {
      const bytes = await readFile(join(out, `${index}.rgb`));
      assert.equal(readFrameCode(bytes, 320, 240), index);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

// y4m: 4:4:4 full range, three planes of 320 × 240, the first the luma where the frame's code is; raw: RGB24.
for (const [format, channels] of [['y4m', 1], ['raw', 3]] as const) {
  test(`pipeVideoFrames as ${format} into a Writable that keeps its chunks: each chunk still shows its own frame`, async () => {
    const video = await makeFixture(H264_MP4_MOOV_END);
    const chunks: Buffer[] = [];
    const output = new Writable({
      write: (chunk: Buffer, _encoding, cb) => {
        chunks.push(chunk);
        cb();
      },
    });
    await pipeVideoFrames(video, output, { format, queueMaxSize: 2 });
    const frames = chunks.filter((chunk) => chunk.length === 320 * 240 * 3);
    assert.deepEqual(frames.map((chunk) => readFrameCode(chunk.subarray(0, 320 * 240 * channels), 320, 240, channels)), frames.map((_, index) => index));
  });
}

test('VideoReader: frames asked for one by one each have a buffer of their own; the ones kept stay intact', async () => {
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
  assert.ok(stats.frameBuffersAllocated >= 60, `${stats.frameBuffersAllocated} buffers allocated for 60 frames`);
});
