/**
 * Runs into a directory that is already in use: what a run replaces and keeps, what it says about it, what
 * `frames.jsonl` lists, what `resume` reuses, and what `overwrite` clears (only framepipe's own files).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FramepipeError, InvalidOptionError, MANIFEST_FILE_NAME, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import type { ManifestLine, StreamToDirOptions } from '@framepipe/core';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { BIN, runScript } from './support/run-script.ts';

let video: string;
let dir: string;
let runs = 0;

before(async () => {
  video = await makeFixture(H264_MP4_MOOV_END);
  dir = await tempDir('framepipe-output-dir-');
});
after(() => removeDir(dir));

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/** A fresh output directory's path (not created). */
function outDir(): string {
  return join(dir, `out-${runs++}`);
}

async function run(out: string, options: StreamToDirOptions): Promise<{ paths: string[]; stats: RunStats }> {
  const stats = new RunStats();
  const paths = await streamVideoFramesToDir(video, out, { ...options, stats });
  return { paths, stats };
}

async function names(out: string): Promise<string[]> {
  return (await readdir(out)).sort();
}

async function manifest(out: string): Promise<ManifestLine[]> {
  const text = await readFile(join(out, MANIFEST_FILE_NAME), 'utf8');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ManifestLine);
}

/** The frame files of `out`, as `frame_<n>.<ext>` names, for frames `numbers`. */
function files(numbers: number[], ext = 'png'): string[] {
  return numbers.map((n) => `frame_${String(n).padStart(6, '0')}.${ext}`);
}

describe('a run into a directory that holds frame files', () => {
  test('same names are replaced, the others stay; the run counts both, and frames.jsonl lists every file', async () => {
    const out = outDir();
    await run(out, { start: 0, end: 9, manifest: true });
    const earlier = await manifest(out);
    const { paths, stats } = await run(out, { start: 5, end: 14, manifest: true });
    assert.deepEqual(paths.map(indexInName), range(5, 14), 'the result is this run\'s files');
    assert.deepEqual([stats.filesFound, stats.filesReplaced, stats.filesInOtherFormats, stats.filesCleared], [10, 5, 0, 0]);
    assert.deepEqual(await names(out), [...files(range(0, 14)), MANIFEST_FILE_NAME]);
    assert.deepEqual(await readCodes(files(range(0, 14)).map((name) => join(out, name))), range(0, 14));
    const lines = await manifest(out);
    assert.deepEqual(lines.map((line) => line.file), files(range(0, 14)), 'every frame file, in frame order');
    assert.deepEqual(lines.slice(0, 5), earlier.slice(0, 5), 'the lines of the files left are the earlier ones');
    assert.ok(lines.slice(5).every((line) => line.strategy === 'container' && line.decodePath === 'seek'), 'the replaced and new files have this run\'s lines');
  });

  test('without --manifest, a frames.jsonl already there is kept true to the directory', async () => {
    const out = outDir();
    await run(out, { start: 0, end: 4, manifest: true });
    await run(out, { start: 3, end: 6 });
    const lines = await manifest(out);
    assert.deepEqual(lines.map((line) => line.file), files(range(0, 6)));
    assert.deepEqual(lines.map((line) => line.decodePath), ['from-start', 'from-start', 'from-start', 'seek', 'seek', 'seek', 'seek']);
    const none = outDir();
    await run(none, { end: 2 });
    assert.deepEqual(await names(none), files(range(0, 2)), 'and none is made where there was none');
  });

  test('a frame file no manifest describes gets a line from its header: its size, no timing', async () => {
    const out = outDir();
    await run(out, { start: 0, end: 1, ext: 'jpg' });
    await run(out, { start: 1, end: 2, manifest: true });
    const lines = await manifest(out);
    assert.deepEqual(lines.map((line) => line.file), ['frame_000000.jpg', 'frame_000001.jpg', 'frame_000001.png', 'frame_000002.png']);
    assert.deepEqual(lines[0], { index: 0, pts: null, time: null, keyframe: null, file: 'frame_000000.jpg', width: 320, height: 240 });
  });

  test('the CLI says how many files were there and how many it replaced', async () => {
    const out = outDir();
    const first = await runScript(BIN, ['frames', video, '-o', out, '--end', '9', '-q']);
    assert.equal(first.code, 0, first.stderr);
    const second = await runScript(BIN, ['frames', video, '-o', out, '--start', '8', '--end', '11', '--progress-interval', '60']);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(
      second.stderr.includes(
        `Note: ${out} already held 10 frame files: this run replaced 2 (same names) and left 8 as they were (--overwrite clears them first, --resume keeps them and writes only the missing frames).\n`,
      ),
      second.stderr,
    );
    const json = await runScript(BIN, ['frames', video, '-o', out, '--start', '10', '--end', '13', '--json']);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual([summary.frames, summary.filesFound, summary.filesReplaced, summary.filesInOtherFormats], [4, 12, 2, 0]);
    const fresh = await runScript(BIN, ['frames', video, '-o', outDir(), '--end', '1']);
    assert.doesNotMatch(fresh.stderr, /Note/, 'an empty directory: nothing to say');
  });
});

describe('resume into a directory of another format', () => {
  test('only files of the requested format are reused; the rest is decoded again, and the run says so', async () => {
    const out = outDir();
    await run(out, { start: 0, end: 9, manifest: true });
    await run(out, { start: 0, end: 3, ext: 'jpg' });
    const { paths, stats } = await run(out, { start: 0, end: 9, ext: 'jpg', resume: true, manifest: true });
    assert.deepEqual(paths, files(range(0, 9), 'jpg').map((name) => join(out, name)), 'every path is a .jpg');
    assert.deepEqual([stats.framesReused, stats.framesDelivered, stats.filesFound, stats.filesInOtherFormats], [4, 6, 14, 10]);
    assert.deepEqual(await readCodes(paths), range(0, 9));
    assert.deepEqual((await manifest(out)).map((line) => line.file), files(range(0, 9), 'jpg').flatMap((jpg, i) => [jpg, files([i])[0]!]));
  });

  test('the CLI says which files it did not reuse and what it decoded again', async () => {
    const out = outDir();
    assert.equal((await runScript(BIN, ['frames', video, '-o', out, '--end', '9', '-q'])).code, 0);
    const { code, stdout, stderr } = await runScript(BIN, ['frames', video, '-o', out, '--end', '9', '--resume', '--ext', 'jpg', '--progress-interval', '60']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`^Saved 10 frames to ${out} in [\\d.]+ s\\n$`));
    assert.ok(
      stderr.includes(
        `Note: --resume reuses only .jpg files: 10 frame files of other formats in ${out} were not reused and stay beside them; the 10 frames without one were decoded and written as .jpg (--overwrite clears the directory first).\n`,
      ),
      stderr,
    );
  });
});

describe('overwrite', () => {
  test('removes the frame files of every format, frames.jsonl and stale temporaries first; nothing else', async () => {
    const out = outDir();
    await run(out, { start: 0, end: 9, manifest: true });
    await run(out, { start: 20, end: 22, ext: 'jpg' });
    const theirs = ['notes.txt', 'frame_000001.gif', 'frame_0000003.png', 'frames.csv'];
    await mkdir(join(out, 'frame_000007.webp')); // a directory, not a frame file
    for (const name of theirs) await writeFile(join(out, name), 'not framepipe\'s');
    await writeFile(join(out, '.frame_000030.png.4194303-1.partial.png'), 'half a PNG of a killed writer');
    const { paths, stats } = await run(out, { start: 2, end: 4, ext: 'webp', overwrite: true, manifest: true });
    assert.deepEqual([stats.filesCleared, stats.filesFound, stats.filesReplaced], [13, 0, 0]);
    assert.deepEqual(paths.map(indexInName), [2, 3, 4]);
    assert.deepEqual(await names(out), [...files([2, 3, 4, 7], 'webp'), ...theirs, MANIFEST_FILE_NAME].sort());
    assert.deepEqual((await manifest(out)).map((line) => line.file), files([2, 3, 4], 'webp'), 'the manifest describes what is there');
  });

  test('a run that cannot open its video leaves the directory as it was', async () => {
    const out = outDir();
    await run(out, { end: 2 });
    await assert.rejects(
      streamVideoFramesToDir(join(dir, 'no-such-video.mp4'), out, { overwrite: true }),
      (error: FramepipeError) => error.code === ErrorCode.FILE_NOT_FOUND,
    );
    assert.deepEqual(await names(out), files(range(0, 2)));
  });

  test('not with resume: a bad-option error before any I/O', async () => {
    await assert.rejects(
      streamVideoFramesToDir(join(dir, 'no-such-video.mp4'), outDir(), { overwrite: true, resume: true }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === 'overwrite' &&
        error.conflictsWith === 'resume' &&
        error.message === 'overwrite cannot be used together with resume: resume keeps the files that overwrite removes; give one or the other',
    );
  });

  test('the CLI clears with --overwrite and says how many files it removed', async () => {
    const out = outDir();
    assert.equal((await runScript(BIN, ['frames', video, '-o', out, '--end', '9', '-q'])).code, 0);
    const { code, stderr } = await runScript(BIN, ['frames', video, '-o', out, '--start', '3', '--end', '4', '--ext', 'jpg', '--overwrite', '--progress-interval', '60']);
    assert.equal(code, 0, stderr);
    assert.ok(stderr.includes(`Note: --overwrite first removed 10 frame files from ${out}.\n`), stderr);
    assert.deepEqual(await names(out), files([3, 4], 'jpg'));
    const both = await runScript(BIN, ['frames', video, '-o', out, '--overwrite', '--resume']);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION --overwrite cannot be used together with --resume: --resume keeps the files that --overwrite removes; give one or the other\n');
  });
});
