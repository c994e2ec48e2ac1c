import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAbsolute, join } from 'node:path';
import { RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { H264_BFRAMES_NO_CTTS, H264_MP4_FASTSTART, H264_MP4_MOOV_END, H264_TS, VP9_WEBM } from './support/fixtures.ts';
import { ffmpegReference } from './support/ffmpeg-reference.ts';
import { readFrameCode } from './support/frame-code.ts';
import { indexInName, readCodes, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

const FRAMES = 60;
const CONTAINERS = {
  'h264-moov-end.mp4': H264_MP4_MOOV_END,
  'h264-faststart.mp4': H264_MP4_FASTSTART,
  'vp9.webm': VP9_WEBM,
  'h264.ts': H264_TS,
};

let server: RangeServer;
let files: Record<string, string>;
let dir: string;

before(async () => {
  ({ server, paths: files } = await serveFixtures({ ...CONTAINERS, 'no-ctts.mp4': H264_BFRAMES_NO_CTTS }));
  dir = await tempDir();
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

const RANGES: Array<{ name: string; start?: number; end?: number; expect: number[] }> = [
  { name: 'all frames', expect: range(0, FRAMES - 1) },
  { name: 'range at the start', start: 0, end: 9, expect: range(0, 9) },
  { name: 'range in the middle', start: 20, end: 29, expect: range(20, 29) },
  { name: 'range at the end', start: 50, end: 59, expect: range(50, 59) },
  { name: 'end past the last frame', start: 55, end: 500, expect: range(55, 59) },
  { name: 'start past the last frame', start: 70, end: 80, expect: [] },
  { name: 'a single frame', start: 33, end: 33, expect: [33] },
  { name: 'start only', start: 47, expect: range(47, 59) },
];

for (const name of Object.keys(CONTAINERS)) {
  describe(`streamVideoFramesToDir over HTTP: ${name}`, () => {
    for (const r of RANGES) {
      test(r.name, async () => {
        const out = join(dir, name, r.name.replaceAll(' ', '-'), 'nested');
        const stats = new RunStats();
        const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { start: r.start, end: r.end, stats });
        assert.deepEqual(paths.map(indexInName), r.expect, 'file names, in order');
        // What a progress bar is told to expect: exact after a scan, else the container's count (MP4 states one).
        const { framesTotal } = stats;
        if (stats.strategy === 'scan' || name.endsWith('.mp4')) assert.equal(framesTotal ?? 0, r.expect.length, 'framesTotal');
        else assert.equal(framesTotal, r.end === undefined ? null : r.end + 1, 'framesTotal from end, the container has no count');
        assert.ok(paths.every((p) => isAbsolute(p) && p.startsWith(out)), 'absolute paths inside outputDir');
        assert.deepEqual(await readCodes(paths), r.expect, 'each file shows its own frame');
        assert.deepEqual(await strayFiles(out), [], 'only complete frame files, and the directory exists');
      });
    }
  });

  test(`every start frame decodes exactly, with seeks: ${name}`, async () => {
    // A seek that lands after the keyframe a frame needs loses that frame; try every start to catch it.
    for (let start = 1; start < FRAMES; start++) {
      const got: number[] = [];
      for await (const frame of streamVideoFrames(files[name]!, { start, end: Math.min(start + 1, FRAMES - 1) })) {
        assert.equal(readFrameCode(frame.data, frame.width, frame.height), frame.index, `picture of frame ${frame.index}`);
        got.push(frame.index);
      }
      assert.deepEqual(got, range(start, Math.min(start + 1, FRAMES - 1)), `frames for start ${start}`);
    }
  });
}

test('a local path and an http URL give the same files', async () => {
  const local = await streamVideoFramesToDir(files['h264-moov-end.mp4']!, join(dir, 'local'), { start: 10, end: 14, ext: 'jpg' });
  const remote = await streamVideoFramesToDir(server.url('/h264-moov-end.mp4'), join(dir, 'remote'), { start: 10, end: 14, ext: 'jpg' });
  assert.deepEqual(local.map(indexInName), remote.map(indexInName));
  assert.deepEqual(await readCodes(local), range(10, 14));
});

test('RGB frames: packed H×W×3, time from pts, in frame order', async () => {
  const frames = [];
  for await (const frame of streamVideoFrames(server.url('/vp9.webm'), { start: 5, end: 8 })) frames.push(frame);
  assert.deepEqual(frames.map((f) => f.index), [5, 6, 7, 8]);
  for (const f of frames) {
    assert.equal(f.data.length, f.width * f.height * 3);
    assert.equal(f.width, 320);
    assert.equal(f.height, 240);
    assert.ok(Math.abs(f.time - f.index / 25) < 1e-6, `time of frame ${f.index}: ${f.time}`);
  }
});

test('strategies: stream for ranges from 0, the sample tables for an MP4, scan otherwise; seek unless decoding from the start', async () => {
  const fromZero = new RunStats();
  await streamVideoFramesToDir(server.url('/h264-moov-end.mp4'), join(dir, 'strategy-0'), { start: 0, end: 4, stats: fromZero });
  assert.equal(fromZero.strategy, 'stream');
  assert.equal(fromZero.packetsScanned, 0);
  // The run stops once frame 4 is out: it reads far fewer packets than the 60 in the file.
  assert.ok(fromZero.packetsRead < 30, `packets read for frames 0..4: ${fromZero.packetsRead}`);

  const middle = new RunStats();
  await streamVideoFramesToDir(server.url('/h264-moov-end.mp4'), join(dir, 'strategy-30'), { start: 30, end: 34, stats: middle });
  assert.equal(middle.strategy, 'container');
  assert.equal(middle.packetsScanned, 0, 'no packet read to number the frames');
  assert.equal(middle.decodePath, 'seek');
  assert.ok(middle.packetsRead < 30, `a seek skips the first GOPs: ${middle.packetsRead} packets decoded`);

  for (const name of ['vp9.webm', 'h264.ts']) {
    const scanned = new RunStats();
    await streamVideoFramesToDir(server.url(`/${name}`), join(dir, `strategy-${name}`), { start: 30, end: 34, stats: scanned });
    assert.equal(scanned.strategy, 'scan', name);
    assert.ok(scanned.packetsScanned > 34, `${name}: ${scanned.packetsScanned} packets scanned`);
    assert.equal(scanned.decodePath, 'seek');
  }
});

test('a scan that stops before the end of a long file numbers the range it was made for (MKV, MPEG-TS)', async () => {
  // 240 frames: a range at 100..109 stops the scan after 109 + 64 packets, long before the end.
  const long = { ...H264_TS, frames: 240 };
  const { server: longServer } = await serveFixtures({ 'long.mkv': { ...long, container: 'mkv' }, 'long.ts': long });
  try {
    for (const name of ['long.mkv', 'long.ts']) {
      const stats = new RunStats();
      const out = join(dir, `early-scan-${name}`);
      const paths = await streamVideoFramesToDir(longServer.url(`/${name}`), out, { start: 100, end: 109, stats });
      assert.equal(stats.strategy, 'scan', name);
      assert.ok(stats.packetsScanned < 240, `${name}: the scan stopped early (${stats.packetsScanned} packets)`);
      assert.deepEqual(paths.map(indexInName), range(100, 109), name);
      assert.deepEqual(await readCodes(paths), range(100, 109), `${name}: each file shows its own frame`);
    }
  } finally {
    await longServer.close();
  }
});

describe('B-frames without composition offsets (no ctts)', () => {
  test('decodes from the start and numbers frames by the rank of their pts, as Supervisely does', async () => {
    // The numbering computed apart from framepipe with ffprobe and ffmpeg: frame number → the picture it shows.
    const expected = (await ffmpegReference(files['no-ctts.mp4']!)).pictureOf;
    assert.equal(expected.size, FRAMES);
    // The fixture is only meaningful if the rule's numbers differ from display order somewhere.
    assert.ok([...expected].some(([index, picture]) => index !== picture), 'rank order differs from display order');

    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(server.url('/no-ctts.mp4'), join(dir, 'no-ctts'), { start: 10, end: 40, stats });
    // The sample tables give the map (no ctts: every pts = dts) and, as the scan would, say to decode from the start.
    assert.equal(stats.strategy, 'container');
    assert.equal(stats.decodePath, 'from-start');
    assert.deepEqual(paths.map(indexInName), range(10, 40));
    assert.deepEqual(await readCodes(paths), range(10, 40).map((i) => expected.get(i)));

    const all = await streamVideoFramesToDir(server.url('/no-ctts.mp4'), join(dir, 'no-ctts-all'));
    assert.deepEqual(await readCodes(all), range(0, FRAMES - 1).map((i) => expected.get(i)), 'stream strategy agrees');
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
