import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseTime } from '../packages/cli/src/flags.ts';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

// The command line speaks as ffmpeg users do (its pixel format names, its time syntax), and its messages name what the
// user typed: the flag, the value as typed, and other options as flags.

let dir: string;
let clip: string;

before(async () => {
  dir = await tempDir();
  clip = await makeFixture(H264_MP4_MOOV_END);
});
after(() => removeDir(dir));

/** Runs `framepipe frames` on the 60-frame clip into a fresh directory; resolves with the run and its files. */
async function frames(out: string, ...flags: string[]) {
  const run = await runScript(BIN, ['frames', clip, '-o', join(dir, out), '-q', ...flags]);
  const names = run.code === 0 ? (await readdir(join(dir, out))).sort() : [];
  return { ...run, files: names.map((name) => join(dir, out, name)) };
}

/** Asserts that `flags` exit 2 with exactly `message` as the only line on stderr, and write nothing. */
async function refused(flags: string[], message: string): Promise<void> {
  const { code, stdout, stderr } = await runScript(BIN, ['frames', clip, '-o', join(dir, 'refused'), ...flags]);
  assert.equal(code, 2, `${flags.join(' ')}: ${stderr}`);
  assert.equal(stdout, '');
  assert.equal(stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${message}\n`, flags.join(' '));
}

/** Width, height, channels, depth and raw pixels of an image file. */
async function pixels(path: string) {
  const { data, info } = await sharp(path).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const meta = await sharp(path).metadata();
  return { width: info.width, height: info.height, channels: meta.channels, depth: meta.depth, data };
}

test("--pixel-format takes ffmpeg's names gray and rgb48le for gray8 and rgb48: the same files", async () => {
  for (const [ffmpeg, ours, channels, depth] of [['gray', 'gray8', 1, 'uchar'], ['rgb48le', 'rgb48', 3, 'ushort']] as const) {
    const alias = await frames(ffmpeg, '--pixel-format', ffmpeg, '--frames', '7,31');
    assert.equal(alias.code, 0, alias.stderr);
    const canonical = await frames(ours, '--pixel-format', ours, '--frames', '7,31');
    assert.equal(canonical.code, 0, canonical.stderr);
    assert.deepEqual(alias.files.map(indexInName), [7, 31]);
    for (const [i, file] of alias.files.entries()) {
      const got = await pixels(file);
      assert.deepEqual([got.channels, got.depth], [channels, depth], `${ffmpeg}: ${file}`);
      assert.deepEqual(got, await pixels(canonical.files[i]!), `${ffmpeg}: the same pixels as ${ours}`);
    }
  }
});

test('--pixel-format refuses names that are no one format (rgb, bgr: 8 or 16 bits?) and the other byte order, listing the canonical names', async () => {
  for (const name of ['rgb', 'bgr', 'rgb48be', 'grey']) {
    await refused(['--pixel-format', name], `Expected one of "rgb24", "bgr24", "rgba", "gray8", "rgb48" for --pixel-format but received "${name}"`);
  }
  // A message about a format given by its ffmpeg name speaks of the format by its own name.
  await refused(['--pixel-format', 'rgb48le', '--ext', 'jpg'], '--pixel-format cannot be used together with --ext: jpg files hold 8 bits per channel; write rgb48 as png (16-bit)');
});

test("times are read as ffmpeg reads a duration: [-][HH:]MM:SS[.m...] or S[.m...] with s, ms or us", () => {
  const cases: Array<[string, number | undefined]> = [
    ['90', 90],
    [' 1.5 ', 1.5],
    ['1:30', 90],
    ['01:30.25', 90.25],
    ['00:01:30.5', 90.5],
    ['2:00:00', 7200],
    ['100:00:01', 360001],
    ['-1:30', -90],
    ['250ms', 0.25],
    ['1500000us', 1.5],
    ['3s', 3],
    ['2.5s', 2.5],
    ['-3s', -3],
    // Minutes and seconds are one or two digits below 60, as ffmpeg has them.
    ['1:60', undefined],
    ['60:00', undefined],
    ['1:5:7', 3907],
    ['1:123', undefined],
    ['1:30:', undefined],
    ['1.5:30', undefined],
    ['3 s', undefined],
    ['3m', undefined],
    ['ms', undefined],
    ['', undefined],
    ['abc', undefined],
  ];
  for (const [text, seconds] of cases) assert.equal(parseTime(text), seconds, JSON.stringify(text));
});

test('--start-time, --end-time and --timestamps take ffmpeg times: the same frames as in seconds', async () => {
  const cases: Array<[string[], string[]]> = [
    [['--start-time', '0:01.5', '--end-time', '1800ms'], ['--start-time', '1.5', '--end-time', '1.8']],
    [['--timestamps', '00:00:00.5,1s', '--timestamps', '2000000us,0:01.52'], ['--timestamps', '0.5,1,2,1.52']],
  ];
  for (const [ffmpeg, seconds] of cases) {
    const alias = await frames(`t-${ffmpeg.join('').replace(/\W/g, '')}`, ...ffmpeg);
    assert.equal(alias.code, 0, alias.stderr);
    const canonical = await frames(`t-${seconds.join('').replace(/\W/g, '')}`, ...seconds);
    assert.equal(canonical.code, 0, canonical.stderr);
    const numbers = alias.files.map(indexInName);
    assert.ok(numbers.length >= 4, ffmpeg.join(' '));
    assert.deepEqual(numbers, canonical.files.map(indexInName), ffmpeg.join(' '));
    assert.deepEqual(await readCodes(alias.files), numbers);
  }
});

test('a time that is none, or a bad one, exits 2 naming the flag and the text as typed', async () => {
  const syntax = 'seconds (90, 1.5, 250ms) or [HH:]MM:SS[.m] (1:30, 00:01:30.5)';
  await refused(['--start-time', '1:60'], `Expected ${syntax} for --start-time but received "1:60"`);
  await refused(['--end-time', '2 min'], `Expected ${syntax} for --end-time but received "2 min"`);
  await refused(['--timestamps', '1,1:x'], `Expected a comma-separated list of times, each ${syntax} for --timestamps but received "1,1:x"`);
  // Read, then refused by the library: in the user's words.
  await refused(['--start-time=-0:01'], 'Expected a time >= 0 in seconds for --start-time but received "-0:01"');
  await refused(['--start-time', '0:02', '--end-time', '1s'], 'Expected a time >= --start-time (2) for --end-time but received "1s"');
});

test("the other flags' messages name the flag, the value as typed, and options as flags (exit 2)", async () => {
  await refused(['--start', '5', '--end', '3'], 'Expected an integer >= --start (5) for --end but received 3');
  await refused(['--fps', '0'], 'Expected a positive number for --fps but received 0');
  await refused(['--fps', 'ntsc'], 'Expected a positive number for --fps but received "ntsc"');
  await refused(
    ['--name-template', 'frame.{ext}'],
    'Expected a file name template with exactly one {index} or {index:NN} (it has none: every frame would get the same name), e.g. "img_{index:05}.{ext}" for --name-template but received "frame.{ext}"',
  );
  await refused(['--keyframes-only', '--step', '2'], '--keyframes-only cannot be used together with --step: --keyframes-only keeps every keyframe of the range; to thin them, use --fps without --keyframes-only or a --step without it');
  await refused(['--overwrite', '--resume'], '--overwrite cannot be used together with --resume: --resume keeps the files that --overwrite removes; give one or the other');
});

test('the progress line and the summary give one duration for a run: both count from its start', async () => {
  // Each request waits, so the run spends a while opening the video before the first frame (and the bar) appears:
  // at least one request's wait (this small clip may come whole in the first block read).
  const server = await startRangeServer({ files: { '/clip.mp4': clip }, delay: 300 });
  try {
    const url = server.url('/clip.mp4');
    const runs = [
      { args: ['frames', url, '-o', join(dir, 'timed'), '--end', '9'], summary: 'stdout' as const },
      { args: ['frames', url, '--to-stdout', 'raw', '--end', '9'], summary: 'stderr' as const },
      { args: ['batch', url, '-o', join(dir, 'timed-batch'), '--end', '9'], summary: 'stdout' as const },
    ];
    for (const { args, summary } of runs) {
      const run = await runScript(BIN, [...args, '--progress-interval', '10']);
      assert.equal(run.code, 0, run.stderr);
      const bar = /^Saving frames: .*, done in ([\d.]+) s$/m.exec(run.stderr) ?? /^Writing frames: .*, done in ([\d.]+) s$/m.exec(run.stderr);
      const total = / in ([\d.]+) s\b/.exec(summary === 'stdout' ? run.stdout : run.stderr.split('\n').filter((line) => !line.includes('done in')).join('\n'));
      assert.ok(bar && total, `${args[0]}: ${run.stdout}${run.stderr}`);
      const [shown, counted] = [Number(bar[1]), Number(total[1])];
      assert.ok(counted >= 0.3, `${args[0]}: the run waited on the server: ${counted} s`);
      // The bar shows tenths, the summary milliseconds: the same time, rounded.
      assert.ok(Math.abs(shown - counted) <= 0.05 + 1e-9, `${args.join(' ')}: the bar says ${shown} s, the summary ${counted} s`);
    }
  } finally {
    await server.close();
  }
});
