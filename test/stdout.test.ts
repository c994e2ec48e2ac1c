/**
 * Frames to stdout (`framepipe frames --to-stdout raw|y4m`, `-o -`; `pipeVideoFrames`), read back by Debian's ffmpeg:
 * - raw: byte for byte ffmpeg's own `-pix_fmt rgb24` decode of the same frames (8-bit SDR converts identically, see
 *   colour.test.ts), and the ffmpeg command line printed on stderr reads it (piped into `-f image2`, each PNG shows its
 *   frame's number);
 * - y4m: `ffmpeg -f yuv4mpegpipe -i - -pix_fmt rgb24` gives the raw frames back within Y4M_MAX_DIFFERENCE levels on
 *   any channel of any pixel and Y4M_MEAN_DIFFERENCE on average (full-range BT.601 4:4:4: no chroma subsampling, only
 *   8-bit rounding of the matrix both ways), on a fixture of saturated colours with sharp edges;
 * - the stderr line of raw stays with --quiet (y4m's header says the same); the rate is the video's exact one, or an
 *   --fps as the nearest fraction; frames picked one by one are stamped with the video's rate, and the line says so;
 * - a reader that closes early (`| head -c N`) ends the run with exit 0 and nothing but the run's own lines on stderr;
 * - a slow reader holds back decoding: the bytes queued in the output and the frames decoded ahead of it stay bounded;
 * - flags that only mean something for files are refused with exit 2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { RunStats, pipeVideoFrames } from '@framepipe/core';
import { PIXEL_LAYOUT, RawVideoSink } from '@framepipe/rgb';
import type { PixelFormat, RgbFrame } from '@framepipe/rgb';
import { makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { readFrameCode } from './support/frame-code.ts';
import { readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { BIN, ROOT, assertUsageErrors } from './support/run-script.ts';

const run = promisify(execFile);

/** 8-bit H.264 with B-frames and saturated colour bands behind each frame's number. */
const CLIP: FixtureSpec = { codec: 'h264', container: 'mp4', frames: 24, width: 640, height: 360, fps: 25, bFrames: 3, gop: 12, colourBand: true };
const WIDTH = 640;
const HEIGHT = 360;
const FRAME_BYTES = WIDTH * HEIGHT * 3;
const START = 5;
const END = 16;
const RANGE = Array.from({ length: END - START + 1 }, (_, i) => START + i);

/** How far y4m's full-range BT.601 4:4:4 round trip may move a level, and on average. */
const Y4M_MAX_DIFFERENCE = 2;
const Y4M_MEAN_DIFFERENCE = 0.25;

let clip: string;
let work: string;
/** The range as ffmpeg decodes it to rgb24. */
let reference: Buffer;

before(async () => {
  clip = await makeFixture(CLIP);
  work = await tempDir('framepipe-stdout-');
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', clip, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    encoding: 'buffer',
    maxBuffer: 1 << 28,
  });
  reference = stdout.subarray(START * FRAME_BYTES, (END + 1) * FRAME_BYTES);
});
after(async () => {
  await removeDir(work);
});

/** Runs a shell pipeline from the repository root; resolves with each command's exit status, stdout and stderr. */
function shell(script: string): Promise<{ statuses: number[]; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${script}; echo "\${PIPESTATUS[@]}" >&3`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let statuses = '';
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    (child.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8').on('data', (chunk: string) => (statuses += chunk));
    child.on('error', reject);
    child.on('close', () => resolve({ statuses: statuses.trim().split(' ').map(Number), stdout: Buffer.concat(out), stderr }));
  });
}

const framepipe = `'${process.execPath}' '${BIN}'`;

/** Each frame's number, as painted into it. */
function codesOf(raw: Buffer, width = WIDTH, height = HEIGHT): number[] {
  const size = width * height * 3;
  assert.equal(raw.length % size, 0, `${raw.length} bytes are whole frames of ${size}`);
  return Array.from({ length: raw.length / size }, (_, i) => readFrameCode(raw.subarray(i * size, (i + 1) * size), width, height));
}

function differences(a: Buffer, b: Buffer): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

describe('framepipe frames --to-stdout raw', () => {
  let raw: Buffer;
  let stderr: string;

  before(async () => {
    const result = await shell(`${framepipe} frames '${clip}' --to-stdout raw --start ${START} --end ${END}`);
    assert.deepEqual(result.statuses, [0], result.stderr);
    raw = result.stdout;
    stderr = result.stderr;
  });

  test('is ffmpeg\'s rgb24 of the same frames, byte for byte, each showing its own number', () => {
    assert.equal(raw.length, RANGE.length * FRAME_BYTES);
    assert.deepEqual(codesOf(raw), RANGE);
    assert.ok(raw.equals(reference), 'the bytes of ffmpeg -pix_fmt rgb24');
  });

  test('stderr says, before anything else, what the bytes are and how ffmpeg reads them', () => {
    const lines = stderr.split('\n');
    assert.equal(lines[0], 'Writing raw rgb24 frames, 640x360 at 25 fps, to stdout; read it with: ffmpeg -f rawvideo -pix_fmt rgb24 -s 640x360 -r 25 -i - …');
    assert.match(stderr, /^Wrote 12 frames \(8294400 bytes\) to stdout in [\d.]+ s$/m);
  });

  test('the printed command reads it: piped into ffmpeg -f image2, each PNG shows its frame', async () => {
    const command = /read it with: ffmpeg (.+) …$/m.exec(stderr)![1]!;
    const dir = join(work, 'pngs');
    const result = await shell(`mkdir -p '${dir}' && ${framepipe} frames '${clip}' --to-stdout raw --start ${START} --end ${END} --quiet | ffmpeg -v error ${command} -f image2 '${dir}/%03d.png'`);
    assert.deepEqual(result.statuses, [0, 0], result.stderr);
    const names = (await readdir(dir)).sort();
    assert.deepEqual(await readCodes(names.map((name) => join(dir, name))), RANGE);
  });

  test('-o - is --to-stdout raw; --quiet keeps the line that says what the bytes are, and nothing else', async () => {
    const result = await shell(`${framepipe} frames '${clip}' -o - --start ${START} --end ${END} --quiet`);
    assert.deepEqual(result.statuses, [0], result.stderr);
    assert.equal(result.stderr, `${stderr.split('\n')[0]}\n`);
    assert.ok(result.stdout.equals(raw));
  });
});

describe('framepipe frames --to-stdout y4m', () => {
  test('ffmpeg -f yuv4mpegpipe reads it: the frames, their size and rate, and their colours within the bounds', async () => {
    const y4m = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --start ${START} --end ${END} --quiet`);
    assert.deepEqual(y4m.statuses, [0], y4m.stderr);
    assert.equal(y4m.stderr, '', 'with --quiet, y4m has no stderr line: its header says the size, rate and format');
    const header = 'YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C444 XCOLORRANGE=FULL\n';
    assert.equal(y4m.stdout.subarray(0, header.length + 6).toString('latin1'), `${header}FRAME\n`);
    assert.equal(y4m.stdout.length, header.length + RANGE.length * (6 + FRAME_BYTES));

    const result = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --start ${START} --end ${END} --quiet | ffmpeg -v error -f yuv4mpegpipe -i - -pix_fmt rgb24 -f rawvideo -`);
    assert.deepEqual(result.statuses, [0, 0], result.stderr);
    assert.deepEqual(codesOf(result.stdout), RANGE);
    const { max, mean } = differences(result.stdout, reference);
    assert.ok(max <= Y4M_MAX_DIFFERENCE, `largest difference ${max} levels`);
    assert.ok(mean <= Y4M_MEAN_DIFFERENCE, `mean difference ${mean} levels`);
  });

  test('the stderr line names the stream and the ffmpeg input options', async () => {
    const result = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --start 3 --end 3 > /dev/null`);
    assert.deepEqual(result.statuses, [0], result.stderr);
    assert.equal(result.stderr.split('\n')[0], 'Writing YUV4MPEG2 (yuv444p, full range, BT.601), 640x360 at 25 fps, to stdout; read it with: ffmpeg -f yuv4mpegpipe -i - …');
  });
});

describe('--to-stdout with --pixel-format and --size', () => {
  test('raw bgr24 and gray8 are ffmpeg\'s own bytes of those formats; the stderr line names the format', async () => {
    for (const [format, ffmpegName, channels] of [['bgr24', 'bgr24', 3], ['gray8', 'gray', 1]] as const) {
      const result = await shell(`${framepipe} frames '${clip}' --to-stdout raw --pixel-format ${format} --start 7 --end 7`);
      assert.deepEqual(result.statuses, [0], result.stderr);
      const size = WIDTH * HEIGHT * channels;
      assert.equal(result.stderr.split('\n')[0], `Writing raw ${ffmpegName} frames, 640x360 at 25 fps, to stdout; read it with: ffmpeg -f rawvideo -pix_fmt ${ffmpegName} -s 640x360 -r 25 -i - …`);
      const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', clip, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', ffmpegName, '-'], { encoding: 'buffer', maxBuffer: 1 << 28 });
      const { max } = differences(result.stdout, stdout.subarray(7 * size, 8 * size));
      assert.ok(max <= 1, `${format}: largest difference ${max} from ffmpeg -pix_fmt ${ffmpegName}`);
    }
  });

  test('the rate is --fps when the frames are sampled by it, the video\'s divided by --step otherwise', async () => {
    for (const [flags, rate] of [['--fps 5', 'F5:1'], ['--fps 2.5', 'F5:2'], ['--step 2', 'F25:2']] as const) {
      const result = await shell(`${framepipe} frames '${clip}' --to-stdout y4m ${flags} --quiet | head -c 40`);
      assert.deepEqual(result.statuses, [0, 0], result.stderr);
      assert.match(result.stdout.toString('latin1'), new RegExp(`^YUV4MPEG2 W640 H360 ${rate} Ip `), flags);
    }
  });

  test('an --fps is stamped as the nearest fraction, never 0, and the same in the raw line\'s -r', async () => {
    const cases = [
      ['0.0001', '1:10000', '1/10000'],
      ['0.3333333333', '1:3', '1/3'],
      [String(30000 / 1001), '30000:1001', '30000/1001'],
      ['29.97', '2997:100', '2997/100'],
    ] as const;
    for (const [fps, y4mRate, ffmpegRate] of cases) {
      const y4m = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --fps ${fps} --end-time 0.1 --quiet | head -c 40`);
      assert.deepEqual(y4m.statuses, [0, 0], y4m.stderr);
      assert.match(y4m.stdout.toString('latin1'), new RegExp(`^YUV4MPEG2 W640 H360 F${y4mRate} Ip `), `--fps ${fps}`);
      const raw = await shell(`${framepipe} frames '${clip}' --to-stdout raw --fps ${fps} --end-time 0.1 --quiet > /dev/null`);
      assert.deepEqual(raw.statuses, [0], raw.stderr);
      assert.match(raw.stderr, new RegExp(`^Writing raw rgb24 frames, 640x360 at ${ffmpegRate} fps, to stdout; read it with: ffmpeg -f rawvideo -pix_fmt rgb24 -s 640x360 -r ${ffmpegRate} -i - …\n$`), `--fps ${fps}`);
    }
  });

  test('a video at 30000/1001 fps is stamped with that exact rate, divided by --step', async () => {
    const ntsc = join(work, 'ntsc.mp4');
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=30000/1001', '-frames:v', '4', '-c:v', 'mpeg4', ntsc]);
    for (const [flags, rate] of [['', '30000:1001'], ['--step 2', '15000:1001']] as const) {
      const result = await shell(`${framepipe} frames '${ntsc}' --to-stdout y4m ${flags} --quiet | head -c 40`);
      assert.deepEqual(result.statuses, [0, 0], result.stderr);
      assert.match(result.stdout.toString('latin1'), new RegExp(`^YUV4MPEG2 W64 H48 F${rate} Ip `), flags);
    }
  });

  test('frames picked one by one are stamped with the video\'s rate, and the stderr line says it is only a label', async () => {
    const label = "at 25 fps (the video's rate as a label: the frames picked are not evenly spaced in time, and play at that pace whatever their times), to stdout";
    for (const flags of ['--frames 2,9', '--timestamps 0.1,0.5', '--keyframes-only']) {
      for (const format of ['raw', 'y4m']) {
        const result = await shell(`${framepipe} frames '${clip}' --to-stdout ${format} ${flags} > /dev/null`);
        assert.deepEqual(result.statuses, [0], result.stderr);
        assert.ok(result.stderr.split('\n')[0]!.includes(label), `${format} ${flags}: ${result.stderr}`);
      }
    }
    for (const flags of ['--start 2 --end 9', '--step 3', '--fps 5']) {
      const result = await shell(`${framepipe} frames '${clip}' --to-stdout raw ${flags} > /dev/null`);
      assert.deepEqual(result.statuses, [0], result.stderr);
      assert.ok(!result.stderr.includes('a label'), `${flags}: evenly spaced`);
    }
    const picked = await pipeVideoFrames(clip, new Writable({ write: (_chunk: Buffer, _e, cb) => cb() }), { frames: [2, 9] });
    assert.deepEqual([picked.info?.frameRate, picked.info?.evenlySpaced], [{ num: 25, den: 1 }, false]);
    const range = await pipeVideoFrames(clip, new Writable({ write: (_chunk: Buffer, _e, cb) => cb() }), { start: 2, end: 9 });
    assert.equal(range.info?.evenlySpaced, true);
  });

  test('y4m of gray8 frames is a Cmono stream; a smaller --size is the size in its header', async () => {
    const gray = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --pixel-format gray8 --frames 2 --quiet`);
    assert.deepEqual(gray.statuses, [0], gray.stderr);
    assert.equal(gray.stdout.subarray(0, gray.stdout.indexOf(10) + 1).toString('latin1'), 'YUV4MPEG2 W640 H360 F25:1 Ip A1:1 Cmono XCOLORRANGE=FULL\n');
    assert.equal(gray.stdout.length, gray.stdout.indexOf(10) + 1 + 6 + WIDTH * HEIGHT);
    const small = await shell(`${framepipe} frames '${clip}' --to-stdout y4m --size 320x --start 2 --end 3 | ffmpeg -v error -f yuv4mpegpipe -i - -pix_fmt rgb24 -f rawvideo -`);
    assert.deepEqual(small.statuses, [0, 0], small.stderr);
    assert.match(small.stderr, /^Writing YUV4MPEG2 \(yuv444p, full range, BT\.601\), 320x180 at 25 fps, to stdout/);
    assert.deepEqual(codesOf(small.stdout, 320, 180), [2, 3]);
  });
});

describe('a reader that closes early', () => {
  for (const format of ['raw', 'y4m']) {
    test(`${format}: | head -c 1000 ends the run with exit 0, no error, no stack trace`, async () => {
      const result = await shell(`${framepipe} frames '${clip}' --to-stdout ${format} | head -c 1000`);
      assert.deepEqual(result.statuses, [0, 0], result.stderr);
      assert.equal(result.stdout.length, 1000);
      assert.doesNotMatch(result.stderr, /ERR_|Error|EPIPE|\n\s+at /);
      assert.match(result.stderr, /\(the reader closed stdout, so the run stopped there\)\n$/);
    });
  }

  test('pipeVideoFrames resolves with readerClosed, and frees what it holds', async () => {
    let taken = 0;
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        taken += chunk.length;
        // The reader has what it wants after the second frame.
        if (taken >= 2 * FRAME_BYTES) callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        else callback();
      },
    });
    output.on('error', () => {});
    const stats = new RunStats();
    const result = await pipeVideoFrames(clip, output, { stats });
    assert.equal(result.readerClosed, true);
    assert.ok(result.frames >= 2 && result.frames < CLIP.frames, `${result.frames} frames`);
  });
});

describe('a slow reader', () => {
  test('holds back decoding: queued bytes and frames decoded ahead stay bounded', async () => {
    const queueMaxSize = 2;
    const stats = new RunStats();
    let received = 0;
    let maxQueued = 0;
    let maxAhead = 0;
    const output = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        setTimeout(callback, 15);
      },
    });
    const watch = setInterval(() => {
      maxQueued = Math.max(maxQueued, output.writableLength);
      maxAhead = Math.max(maxAhead, stats.framesDecoded - Math.floor(received / FRAME_BYTES));
    }, 2);
    try {
      const result = await pipeVideoFrames(clip, output, { stats, queueMaxSize });
      assert.equal(result.frames, CLIP.frames);
    } finally {
      clearInterval(watch);
    }
    assert.equal(received, CLIP.frames * FRAME_BYTES);
    // One frame in the output's queue at most (the sink waits for a drain before the next), ...
    assert.ok(maxQueued <= FRAME_BYTES, `${maxQueued} bytes queued`);
    // ... and the frames the budget allows (the queue, the one written, the one converted) decoded ahead of the reader.
    assert.ok(maxAhead <= queueMaxSize + 3, `${maxAhead} frames decoded ahead of the reader`);
  });
});

describe('refused with --to-stdout', () => {
  test('flags that only mean something for files, and --out DIR', async () => {
    await assertUsageErrors([
      [['frames', 'clip.mp4', '--to-stdout', 'raw', '--ext', 'jpg'], /^ERR_FRAMEPIPE_USAGE --to-stdout writes no files: --ext means nothing with it$/m],
      [['frames', 'clip.mp4', '-o', '-', '--resume', '--overwrite'], /^ERR_FRAMEPIPE_USAGE --to-stdout writes no files: --resume, --overwrite mean nothing with it$/m],
      [['frames', 'clip.mp4', '--to-stdout', 'y4m', '--manifest', '--name-template', 'f{index}.{ext}', '--json'], /^ERR_FRAMEPIPE_USAGE --to-stdout writes no files: --manifest, --name-template, --json mean nothing with it$/m],
      [['frames', 'clip.mp4', '--to-stdout', 'raw', '-o', 'frames'], /^ERR_FRAMEPIPE_USAGE --to-stdout writes no files: --out frames cannot be used with it$/m],
      [['frames', 'clip.mp4', '--to-stdout', 'rgb'], /Invalid values:\s+Argument: to-stdout, Given: "rgb", Choices: "raw", "y4m"/],
      [['frames', 'clip.mp4'], /^ERR_FRAMEPIPE_USAGE Give where the frames go: --out DIR, or --to-stdout raw\|y4m$/m],
    ]);
  });
});

/** A frame as the converter delivers it, of `format`, with rows of `stride` bytes (by default, no padding). */
function testFrame(index: number, width: number, height: number, format: PixelFormat, data: Buffer, stride = width * PIXEL_LAYOUT[format].bytesPerPixel): RgbFrame {
  return { index, pts: 0n, time: 0, keyframe: true, width, height, format, channels: PIXEL_LAYOUT[format].channels, stride, data };
}

describe('RawVideoSink', () => {
  // Each pixel format the converter delivers: its y4m stream, read back by ffmpeg as the same pixel format, gives the
  // pixels within the bound of its depth (levels of 8 or 16 bits).
  const formats: Array<[PixelFormat, string, number, number]> = [
    ['rgb24', 'rgb24', 3, 1],
    ['bgr24', 'bgr24', 3, 1],
    ['gray8', 'gray', 1, 0],
    // One level of 8 bits: swscale's 16-bit RGB ↔ YUV path is no more exact than that.
    ['rgb48', 'rgb48le', 6, 257],
  ];
  for (const [format, ffmpegName, bytes, bound] of formats) {
    test(`y4m of ${format} frames: ffmpeg -pix_fmt ${ffmpegName} reads them back within ${bound}`, async () => {
      const width = 48;
      const height = 16;
      const data = Buffer.alloc(width * height * bytes);
      // Saturated and mixed colours, a different one on each pixel.
      for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i % bytes) * 91) % 256;
      const chunks: Buffer[] = [];
      const output = new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(Buffer.from(chunk)), cb()) });
      const sink = new RawVideoSink(output, { format: 'y4m' });
      sink.end(testFrame(0, width, height, format, data));
      await new Promise<void>((resolve, reject) => sink.on('close', () => resolve()).on('error', reject));
      const back = await new Promise<Buffer>((resolve, reject) => {
        const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-f', 'yuv4mpegpipe', '-i', '-', '-pix_fmt', ffmpegName, '-f', 'rawvideo', '-']);
        const out: Buffer[] = [];
        ffmpeg.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        ffmpeg.on('error', reject).on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited with ${code}`))));
        ffmpeg.stdin.end(Buffer.concat(chunks));
      });
      assert.equal(back.length, data.length);
      let max = 0;
      const sample = bytes === 6 ? 2 : 1;
      for (let i = 0; i < data.length; i += sample) {
        const a = sample === 2 ? data.readUInt16LE(i) : data[i]!;
        const b = sample === 2 ? back.readUInt16LE(i) : back[i]!;
        max = Math.max(max, Math.abs(a - b));
      }
      assert.ok(max <= bound, `largest difference ${max}`);
    });
  }

  test('a frame of another size than the first fails the stream, saying both', async () => {
    const output = new Writable({ write: (_chunk: Buffer, _e, cb) => cb() });
    const sink = new RawVideoSink(output, { format: 'y4m' });
    const frame = (index: number, width: number) => testFrame(index, width, 2, 'rgb24', Buffer.alloc(width * 2 * 3, 128));
    sink.write(frame(0, 2));
    sink.end(frame(1, 4));
    const error = await new Promise<Error & { code?: string }>((resolve) => sink.on('error', resolve));
    assert.equal(error.code, 'ERR_FRAMEPIPE_WRITE_FAILED');
    assert.equal(error.message, 'Cannot write frame 1: it is 4x2 rgb24, and a y4m stream holds frames of one size and format (2x2 rgb24)');
  });

  test('writes rows without padding, and names the format', async () => {
    const chunks: Buffer[] = [];
    const output = new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) });
    const infos: unknown[] = [];
    const sink = new RawVideoSink(output, { onStart: (info) => infos.push(info) });
    // A 2×2 gray frame with rows padded to 4 bytes.
    const frame = testFrame(0, 2, 2, 'gray8', Buffer.from([1, 2, 0, 0, 3, 4, 0, 0]), 4);
    sink.end(frame);
    await new Promise<void>((resolve, reject) => sink.on('close', () => resolve()).on('error', reject));
    assert.deepEqual(Buffer.concat(chunks), Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(infos, [{ format: 'raw', width: 2, height: 2, pixelFormat: 'gray', streamPixelFormat: 'gray', frameRate: { num: 25, den: 1 }, evenlySpaced: true, ffmpegInput: '-f rawvideo -pix_fmt gray -s 2x2 -r 25 -i -' }]);
  });
});
