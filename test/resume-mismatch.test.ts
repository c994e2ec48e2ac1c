/**
 * `resume` keeps only files that this run would write: a file of an earlier run with another size, pixel format,
 * crop or rotation fails the run (ERR_FRAMEPIPE_RESUME_MISMATCH) before any frame is decoded or file written, in the
 * API, the CLI and a batch; the same options still keep every file. What a file holds is read here with sharp, not
 * with the header reader under test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { runBatch } from '@framepipe/batch';
import { ErrorCode, ResumeMismatchError, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import type { PixelFormat, StreamToDirOptions } from '@framepipe/core';
import { parseImageHeader, readImageHeader } from '@framepipe/sink';
import type { ImageExtension } from '@framepipe/sink';
import { H264_MP4_MOOV_END, H264_ROTATED_MP4, H264_TS, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { BIN, runScript } from './support/run-script.ts';
import { rejectsWith } from './support/sources.ts';

/** Frames 0-11: one GOP of the 320×240 clip. */
const END = 11;
const KEPT = END + 1;
const ADVICE = 'resume keeps only the files this run would write; give the options of the run that wrote them, pass overwrite to write every file again, or write into another directory';
const SIZE_DECIDE = 'size, maxSide, crop, fit and autorotate decide the width and height';
const FORMAT_DECIDE = 'pixelFormat decides the channels and bit depth';

let work: string;
let clip: string;
let rotated: string;

before(async () => {
  work = await tempDir('framepipe-resume-mismatch-');
  await mkdir(join(work, 'in'));
  clip = join(work, 'in', 'clip.mp4');
  rotated = join(work, 'in', 'turned.mp4');
  await copyFile(await makeFixture(H264_MP4_MOOV_END), clip);
  await copyFile(await makeFixture(H264_ROTATED_MP4), rotated);
});
after(async () => {
  await removeDir(work);
});

/** Every file of `dir` with its bytes and modification time, to show that a refused run touched nothing. */
async function snapshot(dir: string): Promise<Map<string, { bytes: Buffer; mtimeMs: number }>> {
  const files = new Map<string, { bytes: Buffer; mtimeMs: number }>();
  for (const name of (await readdir(dir)).sort()) {
    files.set(name, { bytes: await readFile(join(dir, name)), mtimeMs: (await stat(join(dir, name))).mtimeMs });
  }
  return files;
}

async function assertUntouched(dir: string, before: Map<string, { bytes: Buffer; mtimeMs: number }>): Promise<void> {
  const after = await snapshot(dir);
  assert.deepEqual([...after.keys()], [...before.keys()], 'the same files, no new one, no temporary one');
  for (const [name, { bytes, mtimeMs }] of before) {
    assert.ok(after.get(name)!.bytes.equals(bytes), `${name} unchanged`);
    assert.equal(after.get(name)!.mtimeMs, mtimeMs, `${name} not written again`);
  }
}

/** What sharp says a file holds: size, channels and bit depth. */
async function held(path: string): Promise<{ width: number; height: number; channels: number; depth: string }> {
  const { width, height, channels, depth } = await sharp(path).metadata();
  return { width: width!, height: height!, channels: channels!, depth: depth! };
}

/** A first run of frames 0-11 into `out`, then the same range resumed with `second`. */
async function runTwice(out: string, first: StreamToDirOptions, second: StreamToDirOptions, source = clip): Promise<RunStats> {
  await streamVideoFramesToDir(source, out, { end: END, manifest: true, ...first });
  const stats = new RunStats();
  await streamVideoFramesToDir(source, out, { end: END, manifest: true, resume: true, stats, ...second });
  return stats;
}

/** A first run into `out`, then a resume with `second` that must be refused; resolves with the error. */
async function refused(out: string, first: StreamToDirOptions, second: StreamToDirOptions, source = clip): Promise<ResumeMismatchError> {
  await streamVideoFramesToDir(source, out, { end: END, manifest: true, ...first });
  const kept = await snapshot(out);
  const stats = new RunStats();
  const error = await rejectsWith(streamVideoFramesToDir(source, out, { end: END, manifest: true, resume: true, stats, ...second }), ErrorCode.RESUME_MISMATCH);
  assert.ok(error instanceof ResumeMismatchError);
  assert.equal(stats.framesDecoded, 0, 'nothing decoded');
  assert.equal(stats.framesDelivered, 0, 'nothing written');
  assert.equal(stats.framesReused, 0, 'nothing kept as this run’s');
  await assertUntouched(out, kept);
  return error;
}

describe('resume with other options', () => {
  test('another size: refused before any decode or write, naming the file, what it holds, what the run makes', async () => {
    const out = join(work, 'size');
    const error = await refused(out, { size: { width: 160 } }, { size: { width: 200 } });
    assert.equal(error.path, join(out, 'frame_000000.png'));
    assert.equal(error.message, `${join(out, 'frame_000000.png')} holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit (${KEPT} of the ${KEPT} files to keep differ; ${SIZE_DECIDE}): ${ADVICE}`);
    // With holes, the files still there are refused as well, and the holes are not filled.
    await rm(join(out, 'frame_000000.png'));
    await rm(join(out, 'frame_000005.png'));
    const holes = await snapshot(out);
    const partial = await rejectsWith(streamVideoFramesToDir(clip, out, { end: END, size: { width: 200 }, resume: true }), ErrorCode.RESUME_MISMATCH);
    assert.equal(partial.path, join(out, 'frame_000001.png'));
    assert.match(partial.message, /\(10 of the 10 files to keep differ;/);
    await assertUntouched(out, holes);
    // The remedy the message gives works: overwrite writes every frame at the new size.
    await streamVideoFramesToDir(clip, out, { end: END, size: { width: 200 }, overwrite: true });
    for (const name of (await readdir(out)).filter((name) => name.endsWith('.png'))) {
      assert.deepEqual(await held(join(out, name)), { width: 200, height: 150, channels: 3, depth: 'uchar' }, name);
    }
  });

  test('another pixel format: gray8 then rgb24, rgb24 then rgb48 (16-bit PNG), gray8 JPEG then rgb24', async () => {
    const cases: Array<[PixelFormat, PixelFormat, ImageExtension, string, string]> = [
      ['gray8', 'rgb24', 'png', '320×240 grey 8-bit', '320×240 RGB 8-bit'],
      ['rgb24', 'rgb48', 'png', '320×240 RGB 8-bit', '320×240 RGB 16-bit'],
      ['rgb48', 'rgb24', 'png', '320×240 RGB 16-bit', '320×240 RGB 8-bit'],
      ['rgba', 'rgb24', 'png', '320×240 RGBA 8-bit', '320×240 RGB 8-bit'],
      ['gray8', 'rgb24', 'jpg', '320×240 grey 8-bit', '320×240 RGB 8-bit'],
    ];
    for (const [from, to, ext, found, expected] of cases) {
      const out = join(work, `format-${from}-${to}-${ext}`);
      const error = await refused(out, { pixelFormat: from, ext }, { pixelFormat: to, ext });
      const file = join(out, `frame_000000.${ext}`);
      assert.equal(error.message, `${file} holds ${found}, but this run makes ${expected} (${KEPT} of the ${KEPT} files to keep differ; ${FORMAT_DECIDE}): ${ADVICE}`);
      assert.deepEqual([error.found, error.expected, error.options], [found, expected, ['pixelFormat']]);
    }
  });

  test('a crop or a maxSide that changes the output size is refused too', async () => {
    const crop = await refused(join(work, 'crop'), {}, { crop: { x: 0, y: 0, width: 160, height: 240 } });
    assert.deepEqual([crop.found, crop.expected], ['320×240 RGB 8-bit', '160×240 RGB 8-bit']);
    const maxSide = await refused(join(work, 'max-side'), { maxSide: 160 }, { maxSide: 100 });
    assert.deepEqual([maxSide.found, maxSide.expected], ['160×120 RGB 8-bit', '100×75 RGB 8-bit']);
  });

  test('same options: every file is kept (framesReused), for each format of each extension', async () => {
    const formats: Record<ImageExtension, PixelFormat[]> = {
      png: ['rgb24', 'bgr24', 'rgba', 'gray8', 'rgb48'],
      jpg: ['rgb24', 'bgr24', 'rgba', 'gray8'],
      jpeg: ['rgb24'],
      webp: ['rgb24', 'bgr24', 'rgba', 'gray8'],
    };
    for (const [ext, list] of Object.entries(formats) as Array<[ImageExtension, PixelFormat[]]>) {
      for (const pixelFormat of list) {
        const out = join(work, `same-${ext}-${pixelFormat}`);
        const options: StreamToDirOptions = { ext, pixelFormat, size: { width: 64 }, end: 2 };
        await streamVideoFramesToDir(clip, out, options);
        await rm(join(out, `frame_000001.${ext}`));
        const stats = new RunStats();
        await streamVideoFramesToDir(clip, out, { ...options, resume: true, stats });
        assert.deepEqual([stats.framesReused, stats.framesDelivered], [2, 1], `${ext} ${pixelFormat}`);
      }
    }
    // Rotated, turned upright, cropped and scaled: the size the converter makes is the size the check expects.
    const turned: StreamToDirOptions = { autorotate: true, crop: { x: 10, y: 20, width: 200, height: 280 }, size: { height: 140 } };
    const stats = await runTwice(join(work, 'same-turned'), turned, turned, rotated);
    assert.equal(stats.framesReused, KEPT);
  });

  test('autorotate turned off after a run that turned the picture upright: refused', async () => {
    const error = await refused(join(work, 'turned'), { autorotate: true }, { autorotate: false }, rotated);
    assert.deepEqual([error.found, error.expected], ['240×320 RGB 8-bit', '320×240 RGB 8-bit']);
  });

  test('a kept file that holds no image (cut short, empty): refused, saying to remove it and run again', async () => {
    const out = join(work, 'garbage');
    await streamVideoFramesToDir(clip, out, { end: END });
    const file = join(out, 'frame_000003.png');
    // What a power loss leaves: a name whose bytes never reached the disk.
    await writeFile(file, '');
    const kept = await snapshot(out);
    const error = await rejectsWith(streamVideoFramesToDir(clip, out, { end: END, resume: true }), ErrorCode.RESUME_MISMATCH);
    assert.equal(error.message, `${file} holds no PNG image the sink can read, but this run makes 320×240 RGB 8-bit (1 of the ${KEPT} files to keep differs): remove ${file} (it holds no image) and run again with resume`);
    assert.deepEqual((error as ResumeMismatchError).options, []);
    await assertUntouched(out, kept);
    const cli = await runScript(BIN, ['frames', clip, '-o', out, '--end', String(END), '--resume']);
    assert.equal(cli.code, 2, cli.stderr);
    assert.equal(cli.stderr, `ERR_FRAMEPIPE_RESUME_MISMATCH ${file} holds no PNG image the sink can read, but this run makes 320×240 RGB 8-bit (1 of the ${KEPT} files to keep differs): remove ${file} (it holds no image) and run again with --resume\n`);
    const batch = await runBatch([clip], { out: join(work, 'garbage-batch'), end: END });
    assert.equal(batch.done, 1);
    const batchFile = join(work, 'garbage-batch', 'clip', 'frame_000003.png');
    await writeFile(batchFile, '');
    const again = await runBatch([clip], { out: join(work, 'garbage-batch'), end: END });
    assert.equal((again.videos[0]!.error as Error).message, `${batchFile} holds no PNG image the sink can read, but this run makes 320×240 RGB 8-bit (1 of the ${KEPT} files to keep differs): remove ${batchFile} (it holds no image) and run the batch again`);
    // The advice works: without the file, the run writes it again.
    await rm(file);
    const stats = new RunStats();
    await streamVideoFramesToDir(clip, out, { end: END, resume: true, stats });
    assert.deepEqual([stats.framesReused, stats.framesDelivered], [KEPT - 1, 1]);
    assert.deepEqual(await held(file), { width: 320, height: 240, channels: 3, depth: 'uchar' });
  });

  test('a video whose picture changes size mid-stream (TS files joined end to end) resumes: files of each size are kept', async () => {
    const small = await readFile(await makeFixture({ ...H264_TS, frames: 24 }));
    const large = await readFile(await makeFixture({ ...H264_TS, frames: 24, width: 640, height: 360 }));
    const joined = join(work, 'in', 'res-change.ts');
    await writeFile(joined, Buffer.concat([small, large]));
    const out = join(work, 'res-change');
    await streamVideoFramesToDir(joined, out);
    const names = (await readdir(out)).filter((name) => name.endsWith('.png')).sort();
    const sizes = new Set(await Promise.all(names.map(async (name) => { const { width, height } = await held(join(out, name)); return `${width}×${height}`; })));
    assert.deepEqual([...sizes].sort(), ['320×240', '640×360'], 'the first run wrote both sizes');
    await rm(join(out, names[5]!));
    const stats = new RunStats();
    await streamVideoFramesToDir(joined, out, { resume: true, stats });
    assert.deepEqual([stats.framesReused, stats.framesDelivered], [names.length - 1, 1]);
    assert.deepEqual(await held(join(out, names[5]!)), { width: 320, height: 240, channels: 3, depth: 'uchar' });
    // Another size option still makes every file differ, and is refused.
    const error = await rejectsWith(streamVideoFramesToDir(joined, out, { resume: true, size: { width: 160 } }), ErrorCode.RESUME_MISMATCH);
    assert.match(error.message, new RegExp(`\\(${names.length} of the ${names.length} files to keep differ; ${SIZE_DECIDE}\\)`));
    // And another pixel format is refused whatever the sizes.
    const format = await rejectsWith(streamVideoFramesToDir(joined, out, { resume: true, pixelFormat: 'gray8' }), ErrorCode.RESUME_MISMATCH);
    assert.deepEqual((format as ResumeMismatchError).options, ['pixelFormat']);
  });
});

describe('the header reader', () => {
  test('PNG, JPEG behind 10 KiB of metadata, lossless WebP and WebP with alpha: what sharp reads of them', async () => {
    const pixels = Buffer.alloc(40 * 30 * 4, 200);
    for (let i = 3; i < pixels.length; i += 8) pixels[i] = 10;
    const image = () => sharp(pixels, { raw: { width: 40, height: 30, channels: 4 } });
    const jpeg = await image().removeAlpha().jpeg().toBuffer();
    // An APP1 segment of 10 KiB right after SOI: the frame header lies past the first read.
    const app1 = Buffer.alloc(4 + 10_240);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(app1.length - 2, 2);
    const files: Record<string, Buffer> = {
      'rgba.png': await image().png().toBuffer(),
      'grey16.png': await image().removeAlpha().toColourspace('grey16').png().toBuffer(),
      'late.jpg': Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]),
      'lossless.webp': await image().webp({ lossless: true }).toBuffer(),
      'alpha.webp': await image().webp({ quality: 80 }).toBuffer(),
      'opaque.webp': await image().removeAlpha().webp({ quality: 80 }).toBuffer(),
    };
    const colours: Record<string, string> = { 1: 'grey', 3: 'RGB', 4: 'RGBA' };
    for (const [name, bytes] of Object.entries(files)) {
      const path = join(work, name);
      await writeFile(path, bytes);
      const header = await readImageHeader(path);
      const reference = await held(path);
      assert.deepEqual(
        header && { width: header.width, height: header.height, colour: header.colour, bitDepth: header.bitDepth },
        { width: reference.width, height: reference.height, colour: colours[reference.channels], bitDepth: reference.depth === 'ushort' ? 16 : 8 },
        name,
      );
    }
    assert.equal(typeof parseImageHeader(files['late.jpg']!.subarray(0, 4096)), 'number', 'a JPEG cut before its frame header asks for more');
    assert.equal(parseImageHeader(Buffer.from('GIF89a')), null);
  });
});

describe('the CLI and batches', () => {
  test('framepipe frames --resume with another --size or --pixel-format: one line with the flags, exit 2, nothing written', async () => {
    const out = join(work, 'cli');
    await streamVideoFramesToDir(clip, out, { end: END, size: { width: 160 } });
    const kept = await snapshot(out);
    const cli = (...flags: string[]) => runScript(BIN, ['frames', clip, '-o', out, '--end', String(END), '--resume', ...flags]);
    const file = join(out, 'frame_000000.png');
    const advice = '--resume keeps only the files this run would write; give the options of the run that wrote them, pass --overwrite to write every file again, or write into another directory';
    const size = await cli('--size', '200x');
    assert.equal(size.code, 2, size.stderr);
    assert.equal(size.stdout, '');
    assert.equal(
      size.stderr,
      `ERR_FRAMEPIPE_RESUME_MISMATCH ${file} holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit (${KEPT} of the ${KEPT} files to keep differ; --size, --max-side, --crop, --fit and --autorotate decide the width and height): ${advice}\n`,
    );
    const format = await cli('--size', '160x', '--pixel-format', 'gray8', '--json');
    assert.equal(format.code, 2, format.stderr);
    const message = `${file} holds 160×120 RGB 8-bit, but this run makes 160×120 grey 8-bit (${KEPT} of the ${KEPT} files to keep differ; --pixel-format decides the channels and bit depth): ${advice}`;
    assert.deepEqual(JSON.parse(format.stdout), { error: { code: ErrorCode.RESUME_MISMATCH, message } });
    assert.match(format.stderr, new RegExp(`^ERR_FRAMEPIPE_RESUME_MISMATCH ${message.replace(/[()|.*+?[\]\\]/g, '\\$&')}$`, 'm'));
    await assertUntouched(out, kept);
    // The same flags keep every file.
    const same = await cli('--size', '160x');
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, new RegExp(`\\(${KEPT} of them already there\\)`));
  });

  test('a batch run again with another size fails that video, keeps its files, and says what a batch can do', async () => {
    const out = join(work, 'batch');
    const first = await runBatch([clip], { out, end: END, size: { width: 160 } });
    assert.equal(first.done, 1);
    const kept = await snapshot(join(out, 'clip'));
    const again = await runBatch([clip], { out, end: END, size: { width: 200 } });
    assert.deepEqual([again.done, again.failed, again.framesWritten, again.videos[0]!.code], [0, 1, 0, ErrorCode.RESUME_MISMATCH]);
    const file = join(out, 'clip', 'frame_000000.png');
    assert.equal(
      (again.videos[0]!.error as Error).message,
      `${file} holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit (${KEPT} of the ${KEPT} files to keep differ; ${SIZE_DECIDE}): ` +
        "a batch keeps the files a video already has and writes only the missing ones; give the options of the run that wrote them, or remove that video's files (or write the batch elsewhere) to write every file again",
    );
    await assertUntouched(join(out, 'clip'), kept);
    // framepipe batch: exit 1, the video named with the code and the flags.
    const cli = await runScript(BIN, ['batch', clip, '--out', out, '--end', String(END), '--size', '200x', '-q']);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, new RegExp(`^ERR_FRAMEPIPE_RESUME_MISMATCH clip: ${file} holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit \\(${KEPT} of the ${KEPT} files to keep differ; --size, --max-side, --crop, --fit and --autorotate decide the width and height\\): a batch keeps`, 'm'));
    await assertUntouched(join(out, 'clip'), kept);
  });
});
