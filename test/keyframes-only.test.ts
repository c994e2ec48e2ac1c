/**
 * keyframesOnly: the frames are those `ffmpeg -skip_frame nokey` gives on the same files, no other packet reaches the
 * decoder (RunStats.packetsDecoded), and over HTTP an MP4 costs its index and its keyframes' samples, as its sample
 * table gives them; MKV and MPEG-TS have no sample table: their packets are all read (a scan numbers the frames) and
 * the non-key ones left out before the decoder.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { SelectionOptions } from '@framepipe/core';
import { Demuxer } from '@framepipe/demuxer';
import { FileSource } from '@framepipe/http-source';
import { PtsIndex, SAMPLE_KEYFRAME } from '@framepipe/pts-indexer';
import { readFrameCode } from './support/frame-code.ts';
import { ffmpegPictures } from './support/ffmpeg-reference.ts';
import { H264_1080P_FOOTAGE, H264_MKV, H264_MP4_MOOV_END, H264_TS } from './support/fixtures.ts';
import { indexInName, readCodes, serveFixtures, servedFixtures, strayFiles } from './support/pipeline-helpers.ts';

// GOPs of 12 with 3 B-frames (60 frames), and a long GOP of 100 (240 frames).
const CONTAINERS = {
  'h264.mp4': H264_MP4_MOOV_END,
  'long-gop.mp4': { ...H264_MP4_MOOV_END, frames: 240, gop: 100 },
  'h264.mkv': H264_MKV,
  'h264.ts': H264_TS,
};

const served = servedFixtures(CONTAINERS);

for (const name of Object.keys(CONTAINERS)) {
  describe(`keyframesOnly: ${name}`, () => {
    test('the frames are those ffmpeg -skip_frame nokey decodes, and no other packet reaches the decoder', async () => {
      const expected = await ffmpegPictures(served.paths[name]!, { inputArgs: ['-skip_frame', 'nokey'] });
      assert.ok(expected.length >= 3, `${expected.length} keyframes`);
      const stats = new RunStats();
      const out = join(served.dir, name, 'all');
      const written = await streamVideoFramesToDir(served.server.url(`/${name}`), out, { keyframesOnly: true, stats });
      assert.deepEqual(written.map(indexInName), expected, 'files named by their frame numbers');
      assert.deepEqual(await readCodes(written), expected, 'each file shows its frame');
      assert.deepEqual(await strayFiles(out), []);
      assert.equal(stats.packetsDecoded, expected.length, 'the decoder was given the keyframes and nothing else');
      assert.ok(stats.packetsDecoded + stats.packetsLeftOut <= stats.packetsRead);
      if (name.endsWith('.mp4')) {
        assert.equal(stats.strategy, 'container');
        assert.equal(stats.packetsRead, expected.length, 'the sample table leads the demuxer from keyframe to keyframe');
      } else {
        assert.ok(stats.packetsLeftOut > 0, `${stats.packetsLeftOut} packets left out before the decoder`);
      }
    });

    const ranges: Array<[string, SelectionOptions, (n: number) => boolean]> = [
      ['of a range', { start: 13, end: 47 }, (n) => n >= 13 && n <= 47],
      // The frame shown at 0.5 s is 12 (0.48-0.52 s), a keyframe with a GOP of 12: it is in.
      ['of a time window', { startTime: 0.5, endTime: 1.92 }, (n) => n >= 12 && n <= 48],
    ];
    for (const [what, options, within] of ranges) {
      test(`the keyframes ${what}`, async () => {
        const all = await ffmpegPictures(served.paths[name]!, { inputArgs: ['-skip_frame', 'nokey'] });
        const expected = all.filter(within);
        const stats = new RunStats();
        const frames: number[] = [];
        for await (const frame of streamVideoFrames(served.server.url(`/${name}`), { ...options, keyframesOnly: true, stats })) {
          assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index);
          frames.push(frame.index);
        }
        assert.deepEqual(frames, expected);
        // The demuxer may read on while the decoder gives out the last frame (it holds B-frame streams back a few
        // packets): a keyframe after the range may reach it too, but nothing else does.
        assert.ok(stats.packetsDecoded >= expected.length && stats.packetsDecoded <= all.length, `${stats.packetsDecoded} packets decoded`);
        assert.equal(stats.framesDecoded, stats.packetsDecoded, 'each packet the decoder got made a picture by itself: a keyframe');
      });
    }
  });
}

test('over HTTP, an MP4 with long GOPs costs its index and its keyframes\' samples, not the file', async () => {
  const { server: footage, paths: files } = await serveFixtures({ 'footage.mp4': H264_1080P_FOOTAGE });
  try {
    const path = files['footage.mp4']!;
    // The bound, from the sample table: every keyframe sample, every byte that is not a sample (ftyp, moov, box
    // headers), and the first read of the demuxer opening the file (64 KiB from byte 0, which holds frame 0 anyway).
    const source = new FileSource(path);
    const demuxer = new Demuxer(source);
    const table = (await PtsIndex.fromContainer(source, await demuxer.open()))!.sampleTable!;
    demuxer.destroy();
    await source.close();
    let keyframeBytes = 0;
    let sampleBytes = 0;
    let keyframes = 0;
    for (let i = 0; i < table.count; i++) {
      sampleBytes += table.sizes[i]!;
      if (table.flags[i]! & SAMPLE_KEYFRAME) {
        keyframeBytes += table.sizes[i]!;
        keyframes++;
      }
    }
    const size = (await stat(path)).size;
    const bound = keyframeBytes + (size - sampleBytes) + 64 * 1024;
    assert.ok(bound < size / 4, `the bound (${bound}) is well under the file (${size}): GOPs of 50 at 5 Mbit/s`);

    const stats = new RunStats();
    const frames: number[] = [];
    for await (const frame of streamVideoFrames(footage.url('/footage.mp4'), { keyframesOnly: true, stats })) frames.push(frame.index);
    assert.equal(frames.length, keyframes);
    assert.ok(footage.bytesSent <= bound, `${footage.bytesSent} bytes fetched for ${keyframes} keyframes; bound ${bound}, file ${size}`);
    assert.ok(footage.bytesSent >= keyframeBytes, 'every keyframe sample was fetched');
  } finally {
    await footage.close();
  }
});
