import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, RunStats, probeVideo, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { VideoProbe } from '@framepipe/core';
import { Demuxer } from '@framepipe/demuxer';
import { HttpSource } from '@framepipe/http-source';
import { H264_1080P, H264_MP4_FASTSTART, H264_MP4_MOOV_END } from './support/fixtures.ts';
import { makeFixture } from './support/fixtures.ts';
import { frameFileName } from '@framepipe/sink';
import { readCodes, removeDir, silentWav, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { seededBytes, startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

let server: RangeServer;
let dir: string;

before(async () => {
  const faststart = await readFile(await makeFixture(H264_MP4_FASTSTART));
  const moovEnd = await readFile(await makeFixture(H264_MP4_MOOV_END));
  const big = await readFile(await makeFixture(H264_1080P));
  server = await startRangeServer({
    files: {
      '/clip.mp4': moovEnd,
      '/missing.mp4': moovEnd,
      '/garbage.mp4': seededBytes(200_000, 7),
      '/audio.wav': silentWav(),
      '/faststart.mp4': faststart,
      '/truncated.mp4': faststart.subarray(0, Math.floor(faststart.length / 2)),
      '/cut-moov-end.mp4': moovEnd.subarray(0, Math.floor(moovEnd.length / 2)),
      '/login.mp4': Buffer.from('<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n'),
      // Large enough that FFmpeg skips the media data instead of reading it to the end.
      '/no-moov.mp4': big.subarray(0, big.indexOf('moov', 0, 'latin1') - 40),
    },
    status: { '/missing.mp4': 404 },
  });
  dir = await tempDir();
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

describe('bad options fail before any request, naming the option and the value', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['negative start', { start: -1 }, 'Expected a non-negative integer for start but received -1 of type number'],
    ['fractional start', { start: 1.5 }, 'Expected a non-negative integer for start but received 1.5 of type number'],
    ['string end', { end: '9' }, 'Expected a non-negative integer for end but received "9" of type string'],
    ['end before start', { start: 10, end: 9 }, 'Expected an integer >= start (10) for end but received 9 of type number'],
    ['unknown ext', { ext: 'gif' }, 'Expected one of "png", "jpg", "jpeg", "webp" for ext but received "gif" of type string'],
    ['zero workers', { maxWriteWorkers: 0 }, 'Expected a positive integer for maxWriteWorkers but received 0 of type number'],
    ['negative queue', { queueMaxSize: -4 }, 'Expected a positive integer for queueMaxSize but received -4 of type number'],
    ['progress not a function', { progress: 1 }, 'Expected a function for progress but received 1 of type number'],
    ['timeout zero', { timeout: 0 }, 'Expected a positive number for timeout but received 0 of type number'],
  ];
  for (const [name, options, message] of cases) {
    test(name, async () => {
      const requests = server.requests.length;
      await assert.rejects(streamVideoFramesToDir(server.url('/clip.mp4'), join(dir, 'opts'), options as never), {
        code: ErrorCode.INVALID_OPTION,
        message,
      });
      assert.equal(server.requests.length, requests, 'no request was made');
    });
  }

  test('an unknown option is rejected, not ignored', async () => {
    await assert.rejects(streamVideoFramesToDir(server.url('/clip.mp4'), join(dir, 'opts'), { strat: 1 } as never), {
      code: ErrorCode.INVALID_OPTION,
      message: /^Unknown option strat for streamVideoFramesToDir/,
    });
  });

  test('streamVideoFrames checks its options at the call, synchronously', () => {
    assert.throws(() => streamVideoFrames(server.url('/clip.mp4'), { queueMaxSize: 0 }), { code: ErrorCode.INVALID_OPTION });
    assert.throws(() => streamVideoFrames(server.url('/clip.mp4'), { ext: 'png' } as never), { code: ErrorCode.INVALID_OPTION });
  });

  test('ext is case-insensitive: PNG and JPG are png and jpg, and the files are named so', async () => {
    for (const [ext, written] of [['PNG', 'png'], ['JPG', 'jpg']] as const) {
      const out = join(dir, `ext-${ext}`);
      const paths = await streamVideoFramesToDir(server.url('/clip.mp4'), out, { ext, start: 1, end: 2 });
      assert.deepEqual(paths, [1, 2].map((n) => join(out, frameFileName(n, written))));
      assert.deepEqual(await readCodes(paths), [1, 2]);
    }
  });

  test('a source that is neither URL, path nor byte source', async () => {
    await assert.rejects(streamVideoFramesToDir(42 as never, join(dir, 'opts')), { code: ErrorCode.INVALID_OPTION });
  });
});

describe('bad inputs give a coded error that says which, and leave no file behind', () => {
  const closedPort = async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    return `http://127.0.0.1:${port}/clip.mp4`;
  };
  const cases: Array<[string, () => Promise<string> | string, string, RegExp]> = [
    ['an unreachable URL', closedPort, ErrorCode.UNREACHABLE, /127\.0\.0\.1/],
    ['an HTTP error status', () => server.url('/missing.mp4'), ErrorCode.HTTP_STATUS, /404.*missing\.mp4|missing\.mp4.*404/],
    ['a file with no video stream', () => server.url('/audio.wav'), ErrorCode.NO_VIDEO_STREAM, /audio\.wav/],
    ['garbage bytes', () => server.url('/garbage.mp4'), ErrorCode.INVALID_DATA, /garbage\.mp4/],
    ['a truncated file (moov first)', () => server.url('/truncated.mp4'), ErrorCode.TRUNCATED, /truncated\.mp4.*truncated/],
    ['a truncated file (moov at the end, so no index)', () => server.url('/cut-moov-end.mp4'), ErrorCode.TRUNCATED, /cut-moov-end\.mp4/],
    ['a missing local file', () => join(dir, 'nope.mp4'), ErrorCode.FILE_NOT_FOUND, /nope\.mp4/],
    ['an ftp: URL', () => 'ftp://127.0.0.1/clip.mp4', ErrorCode.UNSUPPORTED_SCHEME, /^Cannot read ftp:\/\/127\.0\.0\.1\/clip\.mp4: framepipe reads http:, https: and file: URLs and local paths, not ftp: URLs/],
    ['a web page instead of the video', () => server.url('/login.mp4'), ErrorCode.INVALID_DATA, /login\.mp4 is not a video framepipe can read: .*; it is an HTML page \(a login or error page\?\), not a video\. Check that it is the video file itself/],
    ['an MP4 cut before its moov at the end', () => server.url('/no-moov.mp4'), ErrorCode.TRUNCATED, /no-moov\.mp4 is truncated: its media data \('mdat' box\) ends past the end of the file .*get the whole file again$/],
  ];
  for (const [name, url, code, message] of cases) {
    test(name, async () => {
      const out = join(dir, name.replaceAll(/\W+/g, '-'));
      // One retry: enough to see that a connection failure is retried, and that the error lists both tries.
      await assert.rejects(streamVideoFramesToDir(await url(), out, { start: 0, retries: 1 }), (error: Error & { code?: string; attempts?: string[] }) => {
        assert.equal(error.code, code, error.message);
        if (code === ErrorCode.UNREACHABLE) assert.equal(error.attempts?.length, 2);
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual(await strayFiles(out), []);
      const iterating = async () => {
        for await (const frame of streamVideoFrames(await url(), { start: 5, retries: 0 })) void frame;
      };
      await assert.rejects(iterating(), { code });
    });
  }
});

describe('an MP4 with its index first, cut inside its media data', () => {
  const CUT = /truncated\.mp4 is truncated: its index refers to data past its last byte \(sample \d+ of the video track\) \(the file has \d+ bytes\)\. It looks like an incomplete download or copy: get the whole file again$/;
  /** The Range headers of the requests `fn` makes. */
  const rangesOf = async (fn: () => Promise<unknown>): Promise<Array<string | undefined>> => {
    const from = server.requests.length;
    await fn();
    return server.requests.slice(from).map((request) => request.range);
  };

  test('probe says so, from the bytes it reads anyway: no request more than opening the container takes', async () => {
    // A small read-ahead, so that a read of the index again would be a request of its own.
    const source = () => new HttpSource(server.url('/truncated.mp4'), { readAhead: 4096, retries: 0 });
    const opening = await rangesOf(async () => {
      const demuxer = new Demuxer(source());
      await demuxer.open();
      const closing = new Promise<void>((resolve) => demuxer.once('close', () => resolve()));
      demuxer.destroy();
      await closing;
      await demuxer.source.close();
    });
    let cut: VideoProbe | undefined;
    const probing = await rangesOf(async () => {
      const input = source();
      cut = await probeVideo(input);
      await input.close();
    });
    assert.match(cut!.truncated!, CUT);
    assert.deepEqual(probing, opening);
    const whole = await probeVideo(server.url('/faststart.mp4'), { retries: 0 });
    assert.equal(whole.truncated, null);
    assert.equal(cut!.frameCount, whole.frameCount);

    const cli = await runScript(BIN, ['probe', server.url('/truncated.mp4')]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^Warning +http:\/\/127\.0\.0\.1:\d+\/truncated\.mp4 is truncated: /m);
  });

  test('a run whose frames all lie before the cut saves them and says the file is cut short', async () => {
    const stats = new RunStats();
    const out = join(dir, 'before-the-cut');
    const paths = await streamVideoFramesToDir(server.url('/truncated.mp4'), out, { end: 4, retries: 0, stats });
    assert.deepEqual(await readCodes(paths), [0, 1, 2, 3, 4]);
    assert.match(stats.truncated!, CUT);
    // Numbered from the sample tables, which list the frames past the cut too.
    const sought = new RunStats();
    const soughtPaths = await streamVideoFramesToDir(server.url('/truncated.mp4'), join(dir, 'sought-before-the-cut'), { start: 2, end: 4, retries: 0, stats: sought });
    assert.equal(sought.strategy, 'container');
    assert.deepEqual(await readCodes(soughtPaths), [2, 3, 4]);
    assert.match(sought.truncated!, CUT);
    const whole = new RunStats();
    await streamVideoFramesToDir(server.url('/faststart.mp4'), join(dir, 'whole-file'), { end: 4, retries: 0, stats: whole });
    assert.equal(whole.truncated, null);

    const cli = await runScript(BIN, ['frames', server.url('/truncated.mp4'), '-o', join(dir, 'cli-before-the-cut'), '--end', '4']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /^Note: the frames asked for lie before the cut, but http:\S+\/truncated\.mp4 is truncated: .*get the whole file again\.$/m);
    const json = await runScript(BIN, ['frames', server.url('/truncated.mp4'), '-o', join(dir, 'cli-json-before-the-cut'), '--end', '4', '--json']);
    assert.match((JSON.parse(json.stdout) as { truncated: string }).truncated, CUT);
  });
  test('a run that starts past the cut fails before decoding, naming the first sample missing', async () => {
    const stats = new RunStats();
    const out = join(dir, 'past-the-cut');
    await assert.rejects(streamVideoFramesToDir(server.url('/truncated.mp4'), out, { start: 50, retries: 0, stats }), { code: ErrorCode.TRUNCATED, message: CUT });
    assert.equal(stats.framesDecoded, 0);
    assert.deepEqual(await readdir(out).catch(() => []), []);
  });
});

test('a step over an MP4 cut short keeps, as a one-pass run does, the frames before the cut, then fails TRUNCATED', async () => {
  // Its sample tables list frames past the end of the file: the run cannot number from them, and reads in one pass.
  const everyOut = join(dir, 'cut-every-frame');
  const stepOut = join(dir, 'cut-step-2');
  await assert.rejects(streamVideoFramesToDir(server.url('/truncated.mp4'), everyOut, { retries: 0 }), { code: ErrorCode.TRUNCATED });
  await assert.rejects(streamVideoFramesToDir(server.url('/truncated.mp4'), stepOut, { step: 2, retries: 0 }), { code: ErrorCode.TRUNCATED });
  const saved = async (out: string) => (await readdir(out)).filter((name) => /^frame_\d{6}\.png$/.test(name)).sort();
  const every = (await saved(everyOut)).map((name) => Number(name.slice(6, 12)));
  const stepped = (await saved(stepOut)).map((name) => Number(name.slice(6, 12)));
  // Which frames a failed run still writes depends on how far its writers got when the cut stopped it, so the two
  // runs may end a few frames apart; what matters is that the step run numbers and keeps frames as a one-pass run.
  assert.ok(every.length >= 10 && stepped.length >= 5, `${every.length} and ${stepped.length} frames before the cut`);
  assert.deepEqual(stepped, stepped.map((_, i) => 2 * i), 'every other frame from frame 0, none missing');
  assert.deepEqual(await readCodes(stepped.map((n) => join(stepOut, frameFileName(n, 'png')))), stepped, 'each shows its own frame');
});
