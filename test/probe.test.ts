/**
 * probeVideo: what it reports agrees with ffprobe, run apart from framepipe on the same files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ErrorCode, probeVideo } from '@framepipe/core';
import { H264_MP4_FASTSTART, H264_MP4_MOOV_END, H264_TS, VP9_WEBM } from './support/fixtures.ts';
import { serveFixtures } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';
import { rejectsWith } from './support/sources.ts';

const run = promisify(execFile);
const FILES = {
  'moov-end.mp4': H264_MP4_MOOV_END,
  'faststart.mp4': H264_MP4_FASTSTART,
  'vp9.webm': VP9_WEBM,
  'h264.ts': H264_TS,
};

let server: RangeServer;
let paths: Record<string, string>;

before(async () => {
  ({ server, paths } = await serveFixtures(FILES));
});
after(() => server.close());

interface FfprobeStream {
  codec_name: string;
  width: number;
  height: number;
  avg_frame_rate: string;
  has_b_frames: number;
  nb_frames?: string;
}

/** ffprobe's view: the stream, and the number of packets with a pts >= 0 (what the frame-number rule counts). */
async function ffprobe(path: string): Promise<{ stream: FfprobeStream; numbered: number }> {
  const args = ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream:packet=pts', '-of', 'json', path];
  const { stdout } = await run('ffprobe', args, { maxBuffer: 1 << 26 });
  const parsed = JSON.parse(stdout) as { streams: FfprobeStream[]; packets: Array<{ pts?: number }> };
  const numbered = new Set(parsed.packets.filter((p) => p.pts !== undefined && p.pts >= 0).map((p) => p.pts)).size;
  return { stream: parsed.streams[0]!, numbered };
}

for (const name of Object.keys(FILES)) {
  test(`${name}: codec, size, fps, B-frames and the counted frames agree with ffprobe`, async () => {
    const { stream, numbered } = await ffprobe(paths[name]!);
    const url = server.url(`/${name}`);
    const quick = await probeVideo(url);
    const counted = await probeVideo(url, { countFrames: true });
    const [num, den] = stream.avg_frame_rate.split('/').map(Number) as [number, number];
    for (const info of [quick, counted]) {
      assert.equal(info.codec, stream.codec_name);
      assert.equal(info.width, stream.width);
      assert.equal(info.height, stream.height);
      assert.equal(info.fps, num / den);
      assert.equal(info.hasBFrames, stream.has_b_frames > 0);
      assert.equal(info.rotation, 0);
      assert.equal(info.source, url);
      assert.ok(info.duration !== null && Math.abs(info.duration - 60 / 25) < 0.1, `duration ${info.duration}`);
    }
    assert.equal(counted.frameCountFrom, 'counted');
    assert.equal(counted.frameCount, numbered);
    if (stream.nb_frames !== undefined) {
      assert.equal(quick.frameCountFrom, 'container');
      assert.equal(quick.frameCount, Number(stream.nb_frames));
    } else {
      // WebM and MPEG-TS do not state a count: estimated from duration × rate, and said so.
      assert.equal(quick.frameCountFrom, 'estimate');
      assert.ok(Math.abs(quick.frameCount! - numbered) <= 2, `estimate ${quick.frameCount} vs ${numbered}`);
    }
  });
}

test('errors keep their codes; a bad option fails before any request', async () => {
  const requests = server.requests.length;
  await assert.rejects(probeVideo(server.url('/faststart.mp4'), { countFrames: 'yes' } as never), {
    code: ErrorCode.INVALID_OPTION,
    message: 'Expected a boolean for countFrames but received "yes" of type string',
  });
  await assert.rejects(probeVideo(server.url('/faststart.mp4'), { frames: true } as never), { code: ErrorCode.INVALID_OPTION });
  assert.equal(server.requests.length, requests);
  await rejectsWith(probeVideo(server.url('/missing.mp4')), ErrorCode.HTTP_STATUS);
  await rejectsWith(probeVideo('/no/such/video.mp4'), ErrorCode.FILE_NOT_FOUND);
  const controller = new AbortController();
  controller.abort();
  await rejectsWith(probeVideo(server.url('/faststart.mp4'), { signal: controller.signal }), ErrorCode.ABORTED);
});

test('countFrames on an MP4 counts from the sample tables: the media data is not read', async () => {
  const { H264_1080P } = await import('./support/fixtures.ts');
  const { stat } = await import('node:fs/promises');
  const { server: big, paths: bigPaths } = await serveFixtures({ '1080p.mp4': H264_1080P });
  try {
    const size = (await stat(bigPaths['1080p.mp4']!)).size;
    const sentBy = async (countFrames: boolean) => {
      const before = big.bytesSent;
      // Small blocks, so that the bytes sent show what was read (the default first block holds this whole file).
      const info = await probeVideo({ url: big.url('/1080p.mp4'), readAhead: 4096, maxReadAhead: 4096 }, { countFrames });
      return { info, sent: big.bytesSent - before };
    };
    const quick = await sentBy(false);
    const counted = await sentBy(true);
    assert.equal(counted.info.frameCountFrom, 'counted');
    assert.equal(counted.info.frameCount, 250);
    // Counting re-reads the sample tables (moov), not the frames: far less than the file on top of the quick probe.
    assert.ok(counted.sent - quick.sent < size / 4, `counting added ${counted.sent - quick.sent} bytes to ${quick.sent}, file ${size}`);
  } finally {
    await big.close();
  }
});
