import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
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

test('by default each frame keeps a buffer of its own: frames kept past the loop still show their numbers', async () => {
  const video = await makeFixture(H264_MP4_MOOV_END);
  const kept = [];
  for await (const frame of streamVideoFrames(video, { queueMaxSize: 2 })) kept.push(frame);
  assert.equal(new Set(kept.map((frame) => frame.data)).size, 60);
  for (const frame of kept) assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
});

test('reuseBuffers is checked, and is an option of the iterator only', async () => {
  assert.throws(() => streamVideoFrames('a.mp4', { reuseBuffers: 'yes' as never }), { code: ErrorCode.INVALID_OPTION, option: 'reuseBuffers' });
  // The file writer recycles its buffers by itself; the option means nothing there.
  await assert.rejects(streamVideoFramesToDir('a.mp4', '/tmp/never-written', { reuseBuffers: true } as never), { code: ErrorCode.INVALID_OPTION });
});
