/**
 * Odd inputs (issue 4): for each, a fixture whose frames show their display position as a frame code, and framepipe's
 * output checked file by file against the numbering the seed's rule gives, computed apart from framepipe with Debian's
 * ffprobe/ffmpeg (test/support/ffmpeg-reference.ts). Every input runs in full (stream strategy, over HTTP) and on a
 * range in the middle (container strategy for MP4, scan for the others; over HTTP and as RGB frames from the file). Each input also states what a player
 * shows (ffmpeg's decode, in order) and whether the seed's numbers match it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { RunStats, probeVideo, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { RgbFrame } from '@framepipe/core';
import {
  AV1_MKV,
  AV1_MP4,
  H264_444_ODD_MP4,
  H264_AUDIO_MKV,
  H264_AUDIO_MP4,
  H264_AVI_BFRAMES,
  H264_MKV,
  H264_MP4_MOOV_END,
  H264_RAW_BFRAMES,
  H264_ROTATED_MP4,
  H264_TS,
  H264_VFR_MKV,
  H264_VFR_MP4,
  HEVC10_MP4,
  HEVC_MP4,
  MJPEG_AVI,
  VP9_WEBM,
  greyPatches,
  makeFixture,
} from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { deriveWithFfmpeg, ffmpegReference, runTool } from './support/ffmpeg-reference.ts';
import type { Reference } from './support/ffmpeg-reference.ts';
import { readFrameCode } from './support/frame-code.ts';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';

/** Where the edit list of the cut starts: 0.6 s is frame 15, inside the GOP of frames 12..23 of the source. */
const CUT_AT = 0.6;
const CUT_FIRST_PICTURE = 15;

interface OddInput {
  /** The input's number in issue 4's list and what it is. */
  readonly title: string;
  /** The fixture when it is made with node-av; else `derive`. */
  readonly spec?: FixtureSpec;
  readonly derive?: () => Promise<string>;
  /**
   * What the seed's rule gives against what a player shows: `matches` when frame number n is the n-th frame a player
   * shows; `no-numbers` when the rule numbers nothing (no packet has a pts) while a player shows every frame.
   */
  readonly seedVsPlayer: 'matches' | 'no-numbers';
  /** The pictures a player shows, first and last, in order; default all of the fixture's, `0..frames-1`. */
  readonly playerShows?: readonly [first: number, last: number];
  /** Grey levels to check in the output (see {@link checkLevels}); absent: only the frame code is checked. */
  readonly levels?: { readonly blackWhite?: number; readonly patches?: number };
}

const INPUTS: Record<string, OddInput> = {
  'hevc.mp4': { title: '1. HEVC 8-bit (Main) in MP4, 3 B-frames', spec: HEVC_MP4, seedVsPlayer: 'matches' },
  'hevc10.mp4': {
    title: '1. HEVC 10-bit (Main 10, yuv420p10le) in MP4, 3 B-frames',
    spec: HEVC10_MP4,
    seedVsPlayer: 'matches',
    levels: { patches: 4 },
  },
  'vp9.webm': { title: '2. VP9 in WebM', spec: VP9_WEBM, seedVsPlayer: 'matches' },
  'av1.mp4': { title: '3. AV1 (SVT-AV1) in MP4', spec: AV1_MP4, seedVsPlayer: 'matches' },
  'av1.mkv': { title: '3. AV1 (SVT-AV1) in Matroska', spec: AV1_MKV, seedVsPlayer: 'matches' },
  'h264.ts': { title: '4. H.264 in MPEG-TS, 3 B-frames', spec: H264_TS, seedVsPlayer: 'matches' },
  'h264.mkv': { title: '4. H.264 in Matroska, 3 B-frames', spec: H264_MKV, seedVsPlayer: 'matches' },
  'mjpeg.avi': {
    title: '5. MJPEG in AVI, full range (yuvj420p)',
    spec: MJPEG_AVI,
    seedVsPlayer: 'matches',
    levels: { blackWhite: 2, patches: 3 },
  },
  'vfr.mp4': { title: '6. variable frame rate (1/25 s and 3/25 s in turn) in MP4, 3 B-frames', spec: H264_VFR_MP4, seedVsPlayer: 'matches' },
  'vfr.mkv': { title: '6. variable frame rate (1/25 s and 3/25 s in turn) in Matroska, 3 B-frames', spec: H264_VFR_MKV, seedVsPlayer: 'matches' },
  'rotated.mp4': { title: '7. rotation metadata (display matrix, 90°) in MP4', spec: H264_ROTATED_MP4, seedVsPlayer: 'matches' },
  'cut.mp4': {
    title: `8. MP4 cut with stream copy at ${CUT_AT} s (inside a GOP): an edit list hides the leading frames`,
    derive: async () =>
      deriveWithFfmpeg(await makeFixture(H264_MP4_MOOV_END), { inputArgs: ['-ss', String(CUT_AT)], args: ['-c', 'copy'], ext: 'mp4' }),
    seedVsPlayer: 'matches',
    playerShows: [CUT_FIRST_PICTURE, H264_MP4_MOOV_END.frames - 1],
  },
  'audio.mp4': { title: '9. audio + video in MP4 (video stream 0, AAC stream 1)', spec: H264_AUDIO_MP4, seedVsPlayer: 'matches' },
  'audio.mkv': { title: '9. audio + video in Matroska (AAC stream 0, video stream 1)', spec: H264_AUDIO_MKV, seedVsPlayer: 'matches' },
  'odd-444.mp4': {
    title: '10. odd size 321×241, H.264 High 4:4:4 (yuv444p), 3 B-frames',
    spec: H264_444_ODD_MP4,
    seedVsPlayer: 'matches',
    levels: { patches: 3 },
  },
  'raw.h264': { title: '11. packets without pts: raw Annex-B H.264, 3 B-frames', spec: H264_RAW_BFRAMES, seedVsPlayer: 'no-numbers' },
  'bframes.avi': { title: '11. packets without pts: H.264 in AVI, 3 B-frames', spec: H264_AVI_BFRAMES, seedVsPlayer: 'no-numbers' },
};

let server: RangeServer;
let dir: string;
const files: Record<string, string> = {};
const references: Record<string, Reference> = {};

before(async () => {
  for (const [name, input] of Object.entries(INPUTS)) {
    files[name] = input.spec ? await makeFixture(input.spec) : await input.derive!();
    references[name] = await ffmpegReference(files[name]);
  }
  server = await startRangeServer({ files: Object.fromEntries(Object.entries(files).map(([name, path]) => [`/${name}`, path])) });
  dir = await tempDir('framepipe-odd-');
});
after(async () => {
  await server?.close();
  if (dir) await removeDir(dir);
});

for (const [name, input] of Object.entries(INPUTS)) {
  describe(`${input.title} (${name})`, () => {
    /** The frame numbers the seed's rule gives in `start..end`, in order. */
    const expectedIndices = (start = 0, end = Infinity) =>
      [...references[name]!.pictureOf.keys()].filter((index) => index >= start && index <= end);
    /** A range in the middle that starts inside a GOP; with no numbers at all, a range that must yield nothing. */
    const middle = () => {
      const count = references[name]!.pictureOf.size;
      const start = count === 0 ? 20 : Math.floor(count / 3) + 1;
      return { start, end: start + 11 };
    };

    test(`the seed's numbers against what a player shows: ${input.seedVsPlayer}`, () => {
      const { pictureOf, frames } = references[name]!;
      const played = frames.map((frame) => frame.picture);
      const numbered = [...pictureOf.values()];
      // The fixture itself: a player shows its pictures in order, from the first it should show.
      const [first, last] = input.playerShows ?? [0, input.spec!.frames - 1];
      assert.deepEqual(played, range(first, last), `a player shows pictures ${first}..${last}`);
      if (input.seedVsPlayer === 'matches') {
        assert.deepEqual([...pictureOf.keys()], range(0, pictureOf.size - 1), 'numbers 0..N-1 without gaps');
        assert.deepEqual(numbered, played, 'frame n is the n-th frame a player shows');
      } else {
        assert.equal(pictureOf.size, 0, 'the rule gives no numbers');
        assert.deepEqual(played, range(0, played.length - 1), 'while a player shows every frame, in order');
      }
    });

    test('all frames over HTTP (stream strategy): each file is the picture its number stands for', async () => {
      const out = join(dir, name, 'all');
      const stats = new RunStats();
      const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { stats });
      // An MP4 whose edit list hides its first samples is numbered from its sample tables, which know before decoding
      // how many frames it shows (its container's figure counts the hidden ones too).
      const hidden = name.endsWith('.mp4') && references[name]!.packetPts.some((pts) => pts !== null && pts < 0n);
      assert.equal(stats.strategy, hidden ? 'container' : 'stream');
      await checkFiles(name, paths, expectedIndices(), out, input);
    });

    test('a range in the middle over HTTP (container strategy for MP4, scan for the others)', async () => {
      const { start, end } = middle();
      const out = join(dir, name, 'middle');
      const stats = new RunStats();
      const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { start, end, stats });
      // Every MP4 here has an stss box, so its sample tables stand in for a scan.
      assert.equal(stats.strategy, name.endsWith('.mp4') ? 'container' : 'scan');
      await checkFiles(name, paths, expectedIndices(start, end), out, input);
    });

    test('the same range as RGB frames from the file', async () => {
      const { start, end } = middle();
      const { pictureOf, width, height } = references[name]!;
      const frames: RgbFrame[] = [];
      for await (const frame of streamVideoFrames(files[name]!, { start, end })) frames.push(frame);
      assert.deepEqual(frames.map((f) => f.index), expectedIndices(start, end), 'frame numbers, in order');
      for (const f of frames) {
        assert.deepEqual([f.width, f.height], [width, height], `frame ${f.index} is as stored`);
        assert.equal(readFrameCode(f.data, f.width, f.height), pictureOf.get(f.index), `picture of frame ${f.index}`);
        if (input.levels) checkLevels(f.data, f.width, f.height, input.levels, `frame ${f.index}`);
      }
    });

    // Only where the rule gives numbers: without any, the ranges above already show that nothing comes out.
    if (input.seedVsPlayer === 'matches') {
      test('every start frame, and the one after it (every seek the container allows)', async () => {
        const { pictureOf } = references[name]!;
        const last = pictureOf.size - 1;
        for (let start = 1; start <= last; start++) {
          const end = Math.min(start + 1, last);
          const got: Array<[number, number]> = [];
          for await (const f of streamVideoFrames(files[name]!, { start, end })) got.push([f.index, readFrameCode(f.data, f.width, f.height)]);
          assert.deepEqual(got, range(start, end).map((i) => [i, pictureOf.get(i)]), `frames and pictures for start ${start}`);
        }
      });
    }

    test('probeVideo --count-frames counts the frames the rule numbers', async () => {
      const probe = await probeVideo(server.url(`/${name}`), { countFrames: true });
      assert.equal(probe.frameCount, references[name]!.pictureOf.size);
      assert.deepEqual([probe.width, probe.height], [references[name]!.width, references[name]!.height]);
    });
  });
}

describe('what is particular to some inputs', () => {
  test('6. VFR: numbers are pts ranks, not time × fps; time follows the pts', async () => {
    for (const name of ['vfr.mp4', 'vfr.mkv']) {
      const frames: RgbFrame[] = [];
      for await (const frame of streamVideoFrames(server.url(`/${name}`))) frames.push(frame);
      assert.deepEqual(frames.map((f) => f.index), range(0, 59), name);
      for (const f of frames) {
        // Frames last 1/25 s and 3/25 s in turn: frame n starts at (4⌊n/2⌋ + n mod 2) / 25 s.
        const seconds = (4 * Math.floor(f.index / 2) + (f.index % 2)) / 25;
        assert.ok(Math.abs(f.time - seconds) < 1e-3, `${name}: time of frame ${f.index} is ${f.time}, expected ${seconds}`);
        assert.equal(readFrameCode(f.data, f.width, f.height), f.index, `${name}: picture of frame ${f.index}`);
      }
      assert.ok(frames.some((f) => Math.round(f.time * 25) !== f.index), 'time × fps would give other numbers');
    }
  });

  test('7. rotation: the stream says 90°, a player turns the picture upright, framepipe saves it as stored', async () => {
    const probe = await probeVideo(server.url('/rotated.mp4'));
    assert.equal(probe.rotation, 90, 'rotation from the display matrix');
    const side = JSON.parse((await runTool('ffprobe', ['-select_streams', 'v:0', '-show_entries', 'stream_side_data=rotation',
      '-of', 'json', files['rotated.mp4']!])).toString()) as { streams: Array<{ side_data_list?: Array<{ rotation?: number }> }> };
    assert.equal(side.streams[0]?.side_data_list?.[0]?.rotation, 90, 'ffprobe reports the same rotation');

    // A player (ffmpeg with its default autorotation) shows 240×320: the stored picture turned 90° counter-clockwise.
    const shown = join(dir, 'rotated-player.png');
    await runTool('ffmpeg', ['-y', '-i', files['rotated.mp4']!, '-frames:v', '1', shown]);
    const meta = await sharp(shown).metadata();
    assert.deepEqual([meta.width, meta.height], [240, 320], 'the player shows it upright');
    const { data, info } = await sharp(shown).rotate(90).raw().toBuffer({ resolveWithObject: true });
    assert.equal(readFrameCode(data, info.width, info.height, info.channels), 0, 'turned back clockwise, it is picture 0');

    // framepipe: the files are 320×240, as stored, and read as they are.
    const paths = await streamVideoFramesToDir(server.url('/rotated.mp4'), join(dir, 'rotated-files'), { start: 0, end: 2 });
    for (const path of paths) {
      const m = await sharp(path).metadata();
      assert.deepEqual([m.width, m.height, m.orientation], [320, 240, undefined], `${path} is as stored, with no orientation tag`);
    }
    assert.deepEqual(await readCodes(paths), [0, 1, 2]);
  });

  test('8. edit list: the packets before the cut have negative pts, get no number and no file', async () => {
    const { packetPts, pictureOf, frames } = references['cut.mp4']!;
    const negative = packetPts.filter((pts) => pts !== null && pts < 0n).length;
    assert.ok(negative > 0, 'the cut keeps the GOP start, hidden by the edit list, with negative pts');
    assert.equal(pictureOf.size, packetPts.length - negative, 'every other packet is numbered');
    // A player (ffprobe/ffmpeg, default settings) starts at the cut: the hidden frames are decoded but not shown.
    assert.equal(frames[0]?.picture, CUT_FIRST_PICTURE, 'the first frame a player shows');
    assert.equal(pictureOf.get(0), CUT_FIRST_PICTURE, 'frame 0 is that picture');

    const frameZero: RgbFrame[] = [];
    for await (const frame of streamVideoFrames(server.url('/cut.mp4'), { start: 0, end: 0 })) frameZero.push(frame);
    assert.deepEqual(frameZero.map((f) => [f.index, f.pts, readFrameCode(f.data, f.width, f.height)]), [[0, 0n, CUT_FIRST_PICTURE]]);
  });

  test('9. audio + video: the streams are as described and only the video packets count', async () => {
    for (const [name, order] of [['audio.mp4', 'video,audio'], ['audio.mkv', 'audio,video']] as const) {
      const types = (await runTool('ffprobe', ['-show_entries', 'stream=codec_type', '-of', 'csv=p=0', files[name]!])).toString();
      assert.equal(types.trim().split('\n').join(','), order, `${name} streams`);
      const probe = await probeVideo(files[name]!, { countFrames: true });
      assert.equal(probe.codec, 'h264');
      assert.equal(probe.frameCount, 60, `${name}: 60 video packets, audio packets not counted`);
    }
  });

  test('11. no pts: framepipe resolves with no files and no error; the iterator yields nothing', async () => {
    for (const name of ['raw.h264', 'bframes.avi']) {
      assert.ok(references[name]!.packetPts.every((pts) => pts === null), `${name}: no packet has a pts`);
      const out = join(dir, name, 'no-pts');
      const stats = new RunStats();
      assert.deepEqual(await streamVideoFramesToDir(files[name]!, out, { stats }), []);
      assert.deepEqual(await strayFiles(out), [], 'the directory exists and holds nothing');
      assert.equal(stats.framesDecoded, 60, `${name}: every frame is decoded, and skipped for lack of a pts`);
      let yielded = 0;
      for await (const _ of streamVideoFrames(files[name]!, { start: 0, end: 9 })) yielded++;
      assert.equal(yielded, 0);
    }
  });
});

/** Checks the files of a run: numbers, pictures, size, levels, nothing else in the directory. */
async function checkFiles(name: string, paths: string[], expected: number[], out: string, input: OddInput): Promise<void> {
  const { pictureOf, width, height } = references[name]!;
  assert.deepEqual(paths.map(indexInName), expected, 'file names: the numbers the rule gives');
  assert.deepEqual(await readCodes(paths), expected.map((index) => pictureOf.get(index)), 'each file shows the picture of its number');
  assert.deepEqual(await strayFiles(out), [], 'only complete frame files, and the directory exists');
  for (const path of paths) {
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [width, height], `${path}: stored size`);
    if (input.levels) checkLevels(data, info.width, info.height, input.levels, path, info.channels);
  }
}

/**
 * Colour levels of an output picture. `blackWhite`: every block of the code is within that many levels of 0 or 255.
 * `patches`: each grey patch of the fixture reads back its level within that many levels (R, G and B alike). Pure
 * black and white alone would not catch a full-range picture read as limited range: the stretch clips them back.
 */
function checkLevels(
  rgb: Uint8Array,
  width: number,
  height: number,
  levels: NonNullable<OddInput['levels']>,
  what: string,
  channels = 3,
): void {
  const mean = (x0: number, y0: number, x1: number, y1: number, c: number) => {
    let sum = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += rgb[(y * width + x) * channels + c]!;
    return sum / ((x1 - x0) * (y1 - y0));
  };
  if (levels.blackWhite !== undefined) {
    const cellW = width / 4;
    const cellH = (height * 0.75) / 4;
    for (let k = 0; k < 16; k++) {
      const x0 = Math.round(((k & 3) + 0.25) * cellW);
      const y0 = Math.round(((k >> 2) + 0.25) * cellH);
      const x1 = Math.round(((k & 3) + 0.75) * cellW);
      const y1 = Math.round(((k >> 2) + 0.75) * cellH);
      for (let c = 0; c < 3; c++) {
        const v = mean(x0, y0, x1, y1, c);
        assert.ok(v <= levels.blackWhite || v >= 255 - levels.blackWhite, `${what}: block ${k} channel ${c} is ${v.toFixed(1)}, not 0 or 255`);
      }
    }
  }
  if (levels.patches !== undefined) {
    for (const { x, y, size, level } of greyPatches(width, height)) {
      const m = size / 4;
      for (let c = 0; c < 3; c++) {
        const v = mean(x + m, y + m, x + size - m, y + size - m, c);
        assert.ok(Math.abs(v - level) <= levels.patches, `${what}: grey patch ${level} channel ${c} reads ${v.toFixed(1)}`);
      }
    }
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
