import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { test } from 'node:test';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import * as framepipe from '../src/index.ts';

const SAMPLE = resolve(import.meta.dirname, '../../../examples/assets/sample.mp4');

test('one import holds the one-call API, random access, composition, every stage, Supervisely and the errors', () => {
  const names = ['streamVideoFramesToDir', 'streamVideoFrames', 'probeVideo', 'openVideo', 'openFrameStages', 'Selection', 'planDecode'];
  names.push('SuperviselyApi', 'HttpSource', 'FileSource', 'Demuxer', 'PtsIndex', 'PtsIndexer', 'FrameSelector', 'Decoder');
  names.push('runBatch', 'sourceName', 'RgbConverter', 'FrameDirSink', 'FrameBudget', 'BufferPool', 'FramepipeError', 'ErrorCode', 'RunStats', 'ProgressBar');
  for (const name of names) assert.ok(name in framepipe, name);
});

test('streamVideoFramesToDir and streamVideoFrames take a source, or a Supervisely video by id', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-umbrella-'));
  const server = await startStandInServer({ videos: { 42: { path: SAMPLE } } });
  try {
    const api = new framepipe.SuperviselyApi({ serverAddress: server.address, token: server.token });
    const bySource = await framepipe.streamVideoFramesToDir(SAMPLE, join(dir, 'source'), { start: 5, end: 7 });
    const byId = await framepipe.streamVideoFramesToDir({ api, videoId: 42, outputDir: join(dir, 'id'), start: 5, end: 7 });
    assert.deepEqual(bySource.map((path) => basename(path)), ['frame_000005.png', 'frame_000006.png', 'frame_000007.png']);
    assert.deepEqual(byId.map((path) => basename(path)), bySource.map((path) => basename(path)));
    assert.ok(server.requests.some((request) => request.apiKey === server.token), 'the by-id call went through the Supervisely API');

    const indices = async (frames: AsyncIterable<{ index: number }>) => {
      const seen: number[] = [];
      for await (const frame of frames) seen.push(frame.index);
      return seen;
    };
    assert.deepEqual(await indices(framepipe.streamVideoFrames(SAMPLE, { frames: [9, 2] })), [2, 9]);
    assert.deepEqual(await indices(framepipe.streamVideoFrames({ api, videoId: 42, frames: [9, 2] })), [2, 9]);
    // A ByteSource is a source, even a Supervisely one that has `api` and `videoId`: its own settings apply.
    const source = api.videoSource(42, { timeout: 7000 });
    try {
      assert.deepEqual(await indices(framepipe.streamVideoFrames(source)), [...Array(150).keys()]);
      assert.ok(source.info, 'the given source was the one read');
    } finally {
      await source.close();
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
