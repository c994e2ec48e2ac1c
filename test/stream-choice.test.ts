/**
 * Files with more than one video stream: `stream` (`--stream N`) picks which one is read, counted from 0 among the
 * video streams; the first by default, as Supervisely reads it. In the fixtures, the second stream is half the size
 * and its frame n shows n + 1000, so every file tells which stream it came from.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { ErrorCode, InvalidOptionError, RunStats, probeVideo, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { StreamToDirOptions } from '@framepipe/core';
import { H264_MP4_MOOV_END, H264_TWO_VIDEOS_MKV, H264_TWO_VIDEOS_MP4, makeFixture } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { BIN, runScript } from './support/run-script.ts';

const videos: Record<string, string> = {};
let single: string;
let dir: string;
let runs = 0;

before(async () => {
  videos.mp4 = await makeFixture(H264_TWO_VIDEOS_MP4);
  videos.mkv = await makeFixture(H264_TWO_VIDEOS_MKV);
  single = await makeFixture(H264_MP4_MOOV_END);
  dir = await tempDir('framepipe-stream-choice-');
});
after(() => removeDir(dir));

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/** Saves frames of `video` and returns the frame numbers in the file names, what each shows, and the size. */
async function saved(video: string, options: StreamToDirOptions): Promise<{ numbers: number[]; codes: number[]; size: number[]; stats: RunStats }> {
  const stats = new RunStats();
  const paths = await streamVideoFramesToDir(video, join(dir, `out-${runs++}`), { ...options, stats });
  const { width, height } = await sharp(paths[0]!).metadata();
  return { numbers: paths.map(indexInName), codes: await readCodes(paths), size: [width!, height!], stats };
}

for (const container of ['mp4', 'mkv'] as const) {
  describe(`two video streams in ${container}`, () => {
    test('by default the first is read, as Supervisely does', async () => {
      const first = await saved(videos[container]!, { start: 20, end: 24 });
      assert.deepEqual(first.numbers, range(20, 24));
      assert.deepEqual(first.codes, range(20, 24));
      assert.deepEqual(first.size, [320, 240]);
    });

    test('stream: 1 reads the second: the same frame numbers, its own pictures, by every strategy', async () => {
      // From frame 0 (numbered as packets pass), a range further in (from the index, after a seek), and a list.
      for (const selection of [{ start: 0, end: 4 }, { start: 30, end: 35 }, { frames: [50, 7, 13] }]) {
        const second = await saved(videos[container]!, { ...selection, stream: 1 });
        const wanted = 'frames' in selection ? [7, 13, 50] : range(selection.start, selection.end);
        assert.deepEqual(second.numbers, wanted, JSON.stringify(selection));
        assert.deepEqual(second.codes, wanted.map((n) => n + 1000), `${JSON.stringify(selection)}: the second stream's pictures`);
        assert.deepEqual(second.size, [160, 120]);
        if (!('frames' in selection) && selection.start === 0) continue;
        // An MP4's sample tables serve the second track as they serve the first: no scan.
        assert.equal(second.stats.strategy, container === 'mp4' ? 'container' : 'scan');
      }
    });

    test('the iterator takes it too', async () => {
      const codes: number[] = [];
      for await (const frame of streamVideoFrames(videos[container]!, { start: 10, end: 12, stream: 1 })) {
        codes.push(readFrameCode(frame.data, frame.width, frame.height));
      }
      assert.deepEqual(codes, [1010, 1011, 1012]);
    });
  });
}

describe('a stream that is not there', () => {
  test('is a bad option naming how many video streams the file has', async () => {
    for (const [video, stream, has] of [
      [videos.mp4!, 2, 'it has 2 video streams (0-1)'],
      [single, 1, 'it has 1 video stream (0)'],
    ] as const) {
      await assert.rejects(streamVideoFramesToDir(video, join(dir, `out-${runs++}`), { stream }), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.equal(error.code, ErrorCode.INVALID_OPTION);
        assert.equal(error.option, 'stream');
        assert.equal(error.message, `There is no video stream ${stream} in ${video}: ${has}`);
        return true;
      });
    }
    await assert.rejects(probeVideo(single, { stream: 3 }), /^InvalidOptionError: There is no video stream 3 in .*: it has 1 video stream \(0\)$/);
  });

  test('a negative or fractional number is refused before any I/O', async () => {
    for (const stream of [-1, 0.5]) {
      await assert.rejects(
        streamVideoFramesToDir(join(dir, 'not-there.mp4'), join(dir, 'never'), { stream }),
        (error: unknown) => error instanceof InvalidOptionError && error.message === `Expected a non-negative integer for stream but received ${stream} of type number`,
      );
    }
  });
});

describe('the CLI', () => {
  test('frames --stream 1 saves the second stream; probe says how many there are', async () => {
    const out = join(dir, 'cli');
    const run = await runScript(BIN, ['frames', videos.mp4!, '-o', out, '--start', '3', '--end', '5', '--stream', '1', '-q']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await readCodes(['3', '4', '5'].map((n) => join(out, `frame_00000${n}.png`))), [1003, 1004, 1005]);

    const probe = await runScript(BIN, ['probe', videos.mp4!, '--stream', '1', '--json']);
    assert.equal(probe.code, 0, probe.stderr);
    const info = JSON.parse(probe.stdout) as Record<string, unknown>;
    assert.deepEqual([info.width, info.height, info.stream, info.videoStreams], [160, 120, 1, 2]);
    const text = await runScript(BIN, ['probe', videos.mp4!]);
    assert.match(text.stdout, /^Stream {6}video stream 0 of 2 \(--stream N picks another, from 0\)$/m);
  });

  test('a stream that is not there exits 2, naming the count and the flag', async () => {
    const run = await runScript(BIN, ['frames', videos.mkv!, '-o', join(dir, 'cli-bad'), '--stream', '2']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, `ERR_FRAMEPIPE_INVALID_OPTION There is no video stream 2 in ${videos.mkv}: it has 2 video streams (0-1) (--stream)\n`);
  });
});
