import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { RunStats } from '@framepipe/core';
import { H264_MP4_MOOV_END, VP9_WEBM, makeFixture } from '../../../test/support/fixtures.ts';
import { readFrameCode } from '../../../test/support/frame-code.ts';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from '../../../test/support/pipeline-helpers.ts';
import { rejectsWith } from '../../../test/support/sources.ts';
import { SuperviselyApi, SuperviselyVideoSource, streamVideoFrames, streamVideoFramesToDir } from '../src/index.ts';
import { startStandInServer, type StandInServer } from '../src/stand-in-server.ts';
import { closedPort } from '../../../test/support/range-server.ts';

const FRAMES = 60;
let server: StandInServer;
let api: SuperviselyApi;
let dir: string;
let closes = 0;
const realClose = SuperviselyVideoSource.prototype.close;

before(async () => {
  const mp4 = await makeFixture(H264_MP4_MOOV_END);
  server = await startStandInServer({ videos: { 42: { path: mp4 }, 43: { path: mp4, ready: false }, 44: { path: await makeFixture(VP9_WEBM) } } });
  api = new SuperviselyApi({ serverAddress: server.address, token: server.token });
  dir = await tempDir('framepipe-sly-');
  // Counts closed sources, to check that every way out of a run closes the one it made.
  SuperviselyVideoSource.prototype.close = function (this: SuperviselyVideoSource) {
    closes++;
    return realClose.call(this);
  };
});
after(async () => {
  SuperviselyVideoSource.prototype.close = realClose;
  await server.close();
  await removeDir(dir);
});
beforeEach(() => {
  closes = 0;
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}


describe('streamVideoFramesToDir', () => {
  test('frames 3..7 of video 42: the right picture in each file, every request with the key, the file read from the stand-in', async () => {
    const outputDir = join(dir, 'range');
    const first = server.requests.length;
    const stats = new RunStats();
    let progress = 0;
    const paths = await streamVideoFramesToDir({ api, videoId: 42, outputDir, start: 3, end: 7, stats, progress: (n) => (progress += n) });
    assert.deepEqual(paths.map(indexInName), range(3, 7));
    assert.deepEqual(paths, range(3, 7).map((i) => join(outputDir, `frame_${String(i).padStart(6, '0')}.png`)));
    assert.deepEqual(await readCodes(paths), range(3, 7));
    assert.deepEqual(await strayFiles(outputDir), []);
    assert.equal(progress, 5);
    assert.ok(stats.bytesRead > 0);

    const made = server.requests.slice(first);
    assert.deepEqual(made[0] && { method: made[0].method, path: made[0].path }, { method: 'POST', path: '/public/api/v3/videos.info' });
    assert.ok(made.every((r) => r.apiKey === server.token), 'every request carries the key');
    const reads = made.filter((r) => r.method === 'GET');
    assert.ok(reads.length > 0, 'the file was read from the stand-in, so the storage host was replaced');
    assert.ok(reads.every((r) => r.path.startsWith('/stand-in-storage/videos/42/') && r.status === 206));
    assert.equal(closes, 1, 'the source is closed');
  });

  test('all frames as JPEG, from WebM', async () => {
    const paths = await streamVideoFramesToDir({ api, videoId: 44, outputDir: join(dir, 'webm'), ext: 'jpg', maxWriteWorkers: 2, queueMaxSize: 4 });
    assert.equal(paths.length, FRAMES);
    assert.ok(paths.every((p) => p.endsWith('.jpg')));
    assert.deepEqual(await readCodes(paths), range(0, FRAMES - 1));
  });

  test('errors say what to do, and the source is closed each time', async () => {
    const out = join(dir, 'errors');
    const wrong = new SuperviselyApi({ serverAddress: server.address, token: 'x'.repeat(128) });
    assert.equal((await rejectsWith(streamVideoFramesToDir({ api: wrong, videoId: 42, outputDir: out }), ErrorCode.AUTH_FAILED)).status, 401);
    assert.equal((await rejectsWith(streamVideoFramesToDir({ api, videoId: 7, outputDir: out }), ErrorCode.VIDEO_NOT_FOUND)).status, 404);
    await rejectsWith(streamVideoFramesToDir({ api, videoId: 43, outputDir: out }), ErrorCode.VIDEO_NOT_READY);
    const down = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await rejectsWith(
      streamVideoFramesToDir({ api: new SuperviselyApi({ serverAddress: down, token: 't' }), videoId: 42, outputDir: out, retries: 0 }),
      ErrorCode.UNREACHABLE,
    );
    assert.ok(unreachable.message.includes(down) && unreachable.message.includes('SERVER_ADDRESS'), unreachable.message);
    assert.equal(closes, 4);
    assert.deepEqual(await strayFiles(out), []);
  });

  test('no answer within timeout: TIMEOUT', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const address = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const quiet = new SuperviselyApi({ serverAddress: address, token: 't' });
      await rejectsWith(streamVideoFramesToDir({ api: quiet, videoId: 42, outputDir: join(dir, 'timeout'), timeout: 150 }), ErrorCode.TIMEOUT);
      assert.equal(closes, 1);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a bad option fails before any request', async () => {
    const first = server.requests.length;
    const out = join(dir, 'never');
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ api, videoId: 0, outputDir: out }, 'videoId', 'Expected a positive integer for videoId but received 0 of type number'],
      [{ api, videoId: '42', outputDir: out }, 'videoId', 'Expected a positive integer for videoId but received "42" of type string'],
      [{ api: { serverAddress: server.address }, videoId: 42, outputDir: out }, 'api', 'Expected a SuperviselyApi (e.g. SuperviselyApi.fromEnv()) for api but received [object] of type object'],
      [{ api, videoId: 42, outputDir: out, queueMaxSize: 0 }, 'queueMaxSize', 'Expected a positive integer for queueMaxSize but received 0 of type number'],
      [{ api, videoId: 42, outputDir: out, ext: 'gif' }, 'ext', 'Expected one of "png", "jpg", "jpeg", "webp" for ext but received "gif" of type string'],
      [{ api, videoId: 42, outputDir: '' }, 'outputDir', 'Expected a non-empty path for outputDir but received "" of type string'],
      [{ api, videoId: 42, outputDir: out, timeout: -5 }, 'timeout', 'Expected a positive number for timeout but received -5 of type number'],
      [{ api, videoId: 42, outputDir: out, start: 5, end: 2 }, 'end', 'Expected an integer >= start (5) for end but received 2 of type number'],
    ];
    for (const [options, option, message] of cases) {
      const error = await rejectsWith(streamVideoFramesToDir(options as never), ErrorCode.INVALID_OPTION);
      assert.equal(error.option, option);
      assert.equal(error.message, message);
    }
    await rejectsWith(streamVideoFramesToDir(undefined as never), ErrorCode.INVALID_OPTION);
    await rejectsWith(streamVideoFramesToDir({ api, videoId: 42, outputDir: out, maxWorkers: 2 } as never), ErrorCode.INVALID_OPTION);
    assert.equal(server.requests.length, first, 'no request reached the server');
    assert.deepEqual(await strayFiles(out), []);
  });

  test('an abort stops the run with ABORTED and closes the source', async () => {
    const controller = new AbortController();
    const pending = streamVideoFramesToDir({
      api,
      videoId: 42,
      outputDir: join(dir, 'aborted'),
      signal: controller.signal,
      progress: () => controller.abort(),
    });
    await rejectsWith(pending, ErrorCode.ABORTED);
    assert.equal(closes, 1);
    assert.deepEqual(await strayFiles(join(dir, 'aborted')), []);
  });
});

describe('streamVideoFrames', () => {
  test('yields frames 0..N with their index and picture', async () => {
    const frames: Array<{ index: number; code: number }> = [];
    for await (const frame of streamVideoFrames({ api, videoId: 42, end: 11 })) {
      assert.equal(frame.data.length, frame.width * frame.height * 3);
      frames.push({ index: frame.index, code: readFrameCode(frame.data, frame.width, frame.height) });
    }
    assert.deepEqual(frames.map((f) => f.index), range(0, 11));
    assert.deepEqual(frames.map((f) => f.code), range(0, 11));
    assert.equal(closes, 1);
  });

  test('a range in the middle, from a seek', async () => {
    const indexes: number[] = [];
    for await (const frame of streamVideoFrames({ api, videoId: 42, start: 40, end: 44 })) {
      assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
      indexes.push(frame.index);
    }
    assert.deepEqual(indexes, range(40, 44));
  });

  test('break closes the source', async () => {
    let seen = 0;
    for await (const frame of streamVideoFrames({ api, videoId: 42 })) {
      assert.equal(frame.index, seen);
      if (++seen === 3) break;
    }
    assert.equal(seen, 3);
    assert.equal(closes, 1);
  });

  test('options are checked at the call, the video resolved on the first iteration', async () => {
    const first = server.requests.length;
    assert.throws(() => streamVideoFrames({ api, videoId: -1 }), { message: 'Expected a positive integer for videoId but received -1 of type number' });
    assert.throws(() => streamVideoFrames({ api, videoId: 42, queueMaxSize: 0 }), { message: 'Expected a positive integer for queueMaxSize but received 0 of type number' });
    assert.throws(() => streamVideoFrames({ api: null as never, videoId: 42 }), (error: unknown) => error instanceof FramepipeError && error.option === 'api');
    const frames = streamVideoFrames({ api, videoId: 42, end: 1 });
    assert.equal(server.requests.length, first, 'no request before iterating');
    const twice: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const indexes: number[] = [];
      for await (const frame of frames) indexes.push(frame.index);
      twice.push(indexes);
    }
    assert.deepEqual(twice, [[0, 1], [0, 1]], 'each iteration is a run of its own');
    assert.equal(closes, 2);
  });

  test('an error during iteration closes the source', async () => {
    const iterate = async () => {
      for await (const frame of streamVideoFrames({ api, videoId: 7 })) void frame;
    };
    await rejectsWith(iterate(), ErrorCode.VIDEO_NOT_FOUND);
    assert.equal(closes, 1);
  });
});
