import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ErrorCode, FramepipeError, MANIFEST_FILE_NAME, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import type { ManifestLine, StreamToDirOptions } from '@framepipe/core';
import { H264_MP4_MOOV_END, H264_TS } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCodeFromFile } from './support/frame-code.ts';
import { indexInName, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { seededRandom } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

// 120 frames (4.8 s) at 320×240 with 3 B-frames and a keyframe every 12 frames: a run takes long enough to be
// stopped at many different points.
const LONG_FRAMES = 120;
const LONG: FixtureSpec = { ...H264_MP4_MOOV_END, frames: LONG_FRAMES };
const GOP = 12;
const RUNS = 20;
const SEED = 20_250_505;

let server: RangeServer;
let dir: string;
/** Each fixture's complete set of frame files from a clean run, with its manifest and figures. */
const clean = new Map<string, { out: string; names: string[]; stats: RunStats; lines: ManifestLine[] }>();

before(async () => {
  ({ server } = await serveFixtures({ 'long.mp4': LONG, 'clip.mp4': H264_MP4_MOOV_END, 'clip.ts': H264_TS }));
  dir = await tempDir('framepipe-resume-');
  for (const name of ['long.mp4', 'clip.mp4', 'clip.ts']) {
    const out = join(dir, `clean-${name}`);
    const stats = new RunStats();
    await streamVideoFramesToDir(server.url(`/${name}`), out, { manifest: true, stats });
    clean.set(name, { out, names: await frameNames(out), stats, lines: await readManifest(out) });
  }
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

async function frameNames(out: string): Promise<string[]> {
  return (await readdir(out).catch(() => [] as string[])).filter((name) => name.startsWith('frame_')).sort();
}

async function readManifest(out: string): Promise<ManifestLine[]> {
  const text = await readFile(join(out, MANIFEST_FILE_NAME), 'utf8');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ManifestLine);
}

/** A manifest line without the fields that say how the run that wrote it worked. */
function frameFields({ strategy: _s, decodePath: _d, ...line }: ManifestLine): Omit<ManifestLine, 'strategy' | 'decodePath'> {
  return line;
}

/** Asserts that `out` holds exactly the clean run's frame files, byte for byte, and its manifest's frames. */
async function assertSameAsClean(out: string, name: string): Promise<void> {
  const reference = clean.get(name)!;
  const names = await frameNames(out);
  assert.deepEqual(names, reference.names, 'the same files');
  for (const file of names) {
    const [mine, theirs] = await Promise.all([readFile(join(out, file)), readFile(join(reference.out, file))]);
    assert.ok(mine.equals(theirs), `${file} is byte-identical to the clean run's`);
  }
  assert.deepEqual((await readManifest(out)).map(frameFields), reference.lines.map(frameFields), 'the same manifest lines');
  assert.deepEqual(await strayFiles(out), [MANIFEST_FILE_NAME], 'no temporary file');
}

/** Removes the frame files of `out` with these numbers. */
async function removeFrames(out: string, numbers: number[]): Promise<void> {
  await Promise.all(numbers.map((n) => rm(join(out, `frame_${String(n).padStart(6, '0')}.png`))));
}

/** A copy of the clean run's directory of `name`, without the frames `missing` (and, if asked, without manifest). */
async function partialCopy(name: string, out: string, missing: number[], manifest = true): Promise<void> {
  const reference = clean.get(name)!;
  await rm(out, { recursive: true, force: true });
  const { cp } = await import('node:fs/promises');
  await cp(reference.out, out, { recursive: true });
  await removeFrames(out, missing);
  if (!manifest) await rm(join(out, MANIFEST_FILE_NAME));
}

async function resume(name: string, out: string, options: StreamToDirOptions = {}): Promise<{ paths: string[]; stats: RunStats }> {
  const stats = new RunStats();
  const paths = await streamVideoFramesToDir(server.url(`/${name}`), out, { resume: true, manifest: true, stats, ...options });
  return { paths, stats };
}

describe('resume', () => {
  test('every file already there: nothing is decoded, every path is returned, the manifest is kept', async () => {
    const out = join(dir, 'complete');
    await partialCopy('clip.mp4', out, []);
    const { paths, stats } = await resume('clip.mp4', out);
    assert.deepEqual(paths.map(indexInName), Array.from({ length: 60 }, (_, i) => i));
    assert.equal(stats.framesDecoded, 0);
    assert.equal(stats.packetsRead, 0);
    assert.equal(stats.framesReused, 60);
    assert.equal(stats.framesDelivered, 0);
    assert.equal(stats.strategy, 'container', 'the container was opened to know the range');
    await assertSameAsClean(out, 'clip.mp4');
  });

  for (const name of ['clip.mp4', 'clip.ts']) {
    test(`${name}: only GOPs with a missing frame are decoded; the rest is kept; the result lists every path`, async () => {
      const out = join(dir, `holes-${name}`);
      // Holes in the second GOP (12-23) and the fifth (48-59): GOPs 0, 2 and 3 hold no missing frame.
      const missing = [14, 15, 50];
      await partialCopy(name, out, missing);
      const { paths, stats } = await resume(name, out);
      assert.deepEqual(paths.map(indexInName), Array.from({ length: 60 }, (_, i) => i), 'every path, in frame order');
      assert.equal(stats.framesDelivered, missing.length);
      assert.equal(stats.framesReused, 60 - missing.length);
      assert.equal(stats.framesTotal, missing.length);
      assert.equal(stats.strategy, name.endsWith('.mp4') ? 'container' : 'scan', 'an index, though the range starts at 0');
      // Two GOPs and what the decoder runs into before it stops or jumps: far from the clean run's 60.
      assert.ok(stats.framesDecoded <= 2 * GOP + 10, `decoded ${stats.framesDecoded} frames`);
      assert.equal(stats.seeks, 2, 'a seek to the second GOP, a jump to the fifth');
      await assertSameAsClean(out, name);
    });
  }

  test('holes in consecutive GOPs are decoded in one pass, never going back over a GOP', async () => {
    const out = join(dir, 'consecutive');
    // 3 lies in GOP 0, 20 and 21 in GOP 12: one part from keyframe 0 to frame 21, no jump.
    await partialCopy('clip.mp4', out, [3, 20, 21]);
    const { stats } = await resume('clip.mp4', out);
    assert.equal(stats.seeks, 1);
    assert.ok(stats.framesDecoded <= 2 * GOP + 10, `decoded ${stats.framesDecoded} frames`);
    await assertSameAsClean(out, 'clip.mp4');
  });

  test('the selection still rules: a step over the range keeps only its frames; the manifest still lists every file', async () => {
    const out = join(dir, 'step');
    await partialCopy('clip.mp4', out, [20, 40]);
    const { paths, stats } = await resume('clip.mp4', out, { start: 10, end: 50, step: 10 });
    assert.deepEqual(paths.map(indexInName), [10, 20, 30, 40, 50]);
    assert.equal(stats.framesDelivered, 2);
    assert.equal(stats.framesReused, 3);
    // The other 55 files of the earlier run are still there: the manifest describes the directory.
    await assertSameAsClean(out, 'clip.mp4');
  });

  test('without an earlier manifest (a killed run), the kept files get lines from the index equal to a decode', async () => {
    const out = join(dir, 'no-manifest');
    await partialCopy('clip.mp4', out, [7, 30, 31], false);
    await resume('clip.mp4', out);
    const lines = await readManifest(out);
    await assertSameAsClean(out, 'clip.mp4');
    assert.ok(lines.every((line) => line.strategy === 'container' && line.decodePath === 'seek'));
  });

  test('a temporary file left by a killed writer is not a frame: it is removed and its frame decoded', async () => {
    const out = join(dir, 'stale');
    await partialCopy('clip.mp4', out, [5]);
    // What a process killed mid-write leaves: a hidden partial file (its pid no longer runs).
    const stale = '.frame_000005.png.4194303-17.partial.png';
    await writeFile(join(out, stale), 'half a PNG');
    const { stats } = await resume('clip.mp4', out);
    assert.equal(stats.framesDelivered, 1);
    await assertSameAsClean(out, 'clip.mp4');
  });

  test('no file yet: the same run as without resume (stream strategy from frame 0)', async () => {
    const out = join(dir, 'fresh');
    const { stats } = await resume('clip.mp4', out);
    assert.equal(stats.strategy, 'stream');
    assert.equal(stats.framesReused, 0);
    await assertSameAsClean(out, 'clip.mp4');
  });

  test('the CLI resumes with --resume and says how many files were there', async () => {
    const out = join(dir, 'cli');
    await partialCopy('clip.mp4', out, [40, 41, 42]);
    const text = await runScript(BIN, ['frames', server.url('/clip.mp4'), '-o', out, '--resume', '--manifest']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^Saved 60 frames to ${out} \\(57 of them already there\\) in [\\d.]+ s\\n$`));
    await removeFrames(out, [0, 59]);
    const json = await runScript(BIN, ['frames', server.url('/clip.mp4'), '-o', out, '--resume', '--manifest', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(summary.frames, 60);
    assert.equal(summary.reused, 58);
    await assertSameAsClean(out, 'clip.mp4');
  });

  test(`aborted at ${RUNS} random points: only complete images remain; resume then completes the set byte for byte`, async (t) => {
    const reference = clean.get('long.mp4')!;
    const cleanDecoded = reference.stats.framesDecoded;
    // A clean run's duration bounds the delays, so that every run is cut somewhere between start and end.
    const started = performance.now();
    await streamVideoFramesToDir(server.url('/long.mp4'), join(dir, 'timing'));
    const cleanMs = performance.now() - started;
    const random = seededRandom(SEED);
    const summary: string[] = [];
    let fewer = 0;
    for (let run = 0; run < RUNS; run++) {
      const out = join(dir, `aborted-${run}`);
      const delay = Math.round(random() * cleanMs * 0.8);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error(`aborted after ${delay} ms`)), delay);
      // A run faster than the timing run is still cut before its end.
      let written = 0;
      const progress = () => ++written === LONG_FRAMES - 4 && controller.abort(new Error('aborted near the end'));
      const error = await streamVideoFramesToDir(server.url('/long.mp4'), out, { signal: controller.signal, manifest: true, progress }).then(
        () => null,
        (e: unknown) => e,
      );
      clearTimeout(timer);
      assert.ok(error instanceof FramepipeError && error.code === ErrorCode.ABORTED, `run ${run} (${delay} ms): ${String(error)}`);

      // Every file is a complete image showing its own frame; nothing else is there but the manifest of them.
      const kept = await frameNames(out);
      for (const file of kept) {
        const path = join(out, file);
        const { width, height } = await sharp(path).metadata();
        assert.deepEqual([width, height], [320, 240], file);
        assert.equal(await readFrameCodeFromFile(path), indexInName(path), `${file} shows its frame`);
      }
      const others = await strayFiles(out);
      assert.deepEqual(others, kept.length > 0 ? [MANIFEST_FILE_NAME] : [], `run ${run}: no temporary file`);
      if (kept.length > 0) assert.deepEqual((await readManifest(out)).map((line) => line.file), kept, 'the manifest lists what was kept');

      const numbers = kept.map((file) => indexInName(file));
      const firstMissing = Array.from({ length: LONG_FRAMES }, (_, i) => i).find((n) => !numbers.includes(n)) ?? LONG_FRAMES;
      const { paths, stats } = await resume('long.mp4', out);
      assert.equal(paths.length, LONG_FRAMES);
      assert.equal(stats.framesReused, kept.length);
      assert.equal(stats.framesDelivered, LONG_FRAMES - kept.length);
      await assertSameAsClean(out, 'long.mp4');
      // Decoding starts at the keyframe before the first missing frame.
      assert.ok(stats.framesDecoded <= cleanDecoded, `run ${run}: resumed decode of ${stats.framesDecoded} frames`);
      if (firstMissing >= GOP) {
        assert.ok(stats.framesDecoded < cleanDecoded, `run ${run}: ${kept.length} files kept, yet ${stats.framesDecoded} decoded`);
        fewer++;
      }
      const nearEnd = controller.signal.reason instanceof Error && controller.signal.reason.message === 'aborted near the end';
      const when = nearEnd ? `at file ${LONG_FRAMES - 4}` : `at ${delay} ms`;
      summary.push(`run ${run}: abort ${when}, ${kept.length} files kept (first missing ${firstMissing}); resume decoded ${stats.framesDecoded}/${cleanDecoded}, wrote ${stats.framesDelivered}`);
    }
    for (const line of summary) t.diagnostic(line);
    t.diagnostic(`clean run ${Math.round(cleanMs)} ms; ${RUNS} runs aborted, ${fewer} resumed runs decoded fewer frames than a clean run`);
    assert.ok(fewer >= RUNS / 4, `enough runs were cut late enough to show the saving (${fewer})`);
  });
});
