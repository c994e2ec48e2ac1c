/**
 * Frames decoded only to be dropped: when the frame numbers are known before decoding (an MP4's sample tables, or a
 * scan), the decoder skips the packets of non-reference pictures that the selection does not want. Every file must
 * come out byte for byte as in a run that decodes every frame, and fewer frames must be decoded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { AV1_MP4, H264_MKV, H264_MP4_MOOV_END, H264_TS, HEVC_MP4, MJPEG_AVI, VP9_WEBM } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, serveFixtures, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

// 60 frames, GOPs of 12. With 3 B-frames, x264 and x265 leave some B-frames unreferenced. VP9, AV1 and MJPEG have
// no such frames here (their decoders may also ignore the setting): their files must still come out the same.
const CONTAINERS = {
  'h264.mp4': H264_MP4_MOOV_END,
  'hevc.mp4': HEVC_MP4,
  'h264.ts': H264_TS,
  'h264.mkv': H264_MKV,
  'vp9.webm': VP9_WEBM,
  'av1.mp4': AV1_MP4,
  'mjpeg.avi': MJPEG_AVI,
};
const WITH_UNREFERENCED = new Set(['h264.mp4', 'hevc.mp4', 'h264.ts', 'h264.mkv']);

/**
 * Selections, with the first frame that has to be decoded for them (the keyframe at or before the first wanted) and
 * the last wanted. `fewer`: most frames of the span are unwanted, so fewer than the span are decoded even with the
 * few that B-frame reordering decodes past the last wanted one. A range loses only the unreferenced frames between
 * its keyframe and its start, which reordering can make up for; the decoder's own test counts those.
 */
const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
const SELECTIONS: Array<{ name: string; options: Record<string, unknown>; expect: number[]; from: number; last: number; fewer: boolean }> = [
  { name: 'a range that starts mid-GOP', options: { start: 20, end: 35 }, expect: range(20, 35), from: 12, last: 35, fewer: false },
  { name: 'a step from frame 0', options: { step: 5 }, expect: range(0, 55, 5), from: 0, last: 55, fewer: true },
  { name: 'a step inside a range', options: { start: 9, end: 50, step: 4 }, expect: range(9, 49, 4), from: 0, last: 49, fewer: true },
  { name: 'a frame list', options: { frames: [3, 22, 23, 40] }, expect: [3, 22, 23, 40], from: 0, last: 40, fewer: true },
];

let server: RangeServer;
let dir: string;
/** Per container: every frame's file from a run that decodes every frame (a pass from 0, which skips nothing). */
const everyFrame = new Map<string, string[]>();

before(async () => {
  ({ server } = await serveFixtures(CONTAINERS));
  dir = await tempDir();
  for (const name of Object.keys(CONTAINERS)) {
    const stats = new RunStats();
    everyFrame.set(name, await streamVideoFramesToDir(server.url(`/${name}`), join(dir, name, 'all'), { stats }));
    assert.equal(stats.framesDecoded, 60, `${name}: the reference run decodes every frame`);
  }
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

for (const name of Object.keys(CONTAINERS)) {
  describe(`skipping unwanted non-reference frames: ${name}`, () => {
    for (const selection of SELECTIONS) {
      test(selection.name, async (t) => {
        const stats = new RunStats();
        const out = join(dir, name, selection.name.replaceAll(' ', '-'));
        const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { ...selection.options, stats });
        assert.deepEqual(paths.map(indexInName), selection.expect, 'every wanted frame, and only those');
        const all = everyFrame.get(name)!;
        for (const path of paths) {
          const n = indexInName(path);
          assert.ok((await readFile(path)).equals(await readFile(all[n]!)), `frame ${n} is byte for byte the one of the full run`);
        }
        assert.deepEqual(await readCodes(paths), paths.map(indexInName), 'each file shows its own frame');
        const span = selection.last - selection.from + 1;
        t.diagnostic(`${stats.strategy}: ${stats.framesDecoded} frames decoded for ${paths.length} wanted over ${span}`);
        // A pass from 0 without sample tables (MPEG-TS, Matroska) numbers frames as they come, so it cannot skip.
        if (stats.strategy !== 'stream' && selection.fewer && WITH_UNREFERENCED.has(name)) {
          assert.ok(stats.framesDecoded < span, `${stats.framesDecoded} frames decoded, fewer than the ${span} from frame ${selection.from} to ${selection.last}`);
        }
      });
    }
  });
}

// The bytes saved show on a larger file (README: the bench clip); this 11 KB fixture is read in one go.
test('a step from frame 0 over an MP4 jumps over the GOPs it needs nothing from', async () => {
  // GOPs of 12: frames 0, 24 and 48 each start a GOP, and the GOPs 12-23 and 36-47 between them hold no wanted frame.
  const stats = new RunStats();
  const out = join(dir, 'step-24');
  const saved = await streamVideoFramesToDir(server.url('/h264.mp4'), out, { step: 24, stats });
  assert.deepEqual(await readCodes(saved), [0, 24, 48]);
  assert.equal(stats.strategy, 'container', 'numbered from the sample tables, known before decoding');
  assert.equal(stats.seeks, 3, 'the first seek, then two jumps');
  assert.ok(stats.framesDecoded < 40, `${stats.framesDecoded} of 60 frames decoded`);
});
