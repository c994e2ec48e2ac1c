/**
 * Runs every script in examples/ as a user would (no arguments but `--out`), in a clean environment, and checks
 * what it produced: the frame files with the right numbers and the right pictures, or the frame numbers it printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import sharp from 'sharp';
import { streamVideoFramesToDir } from '@framepipe/core';
import type { SelectionOptions } from '@framepipe/core';
import { readFrameCode } from './support/frame-code.ts';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { ROOT, runScript } from './support/run-script.ts';

const EXAMPLES = resolve(ROOT, 'examples');

/** Frame files of one format, by frame number. */
interface FrameFiles {
  ext: 'png' | 'jpg';
  frames: number[];
}

/** Checks that `dir` holds exactly these complete frame files, each showing its own frame. */
async function checkFrameFiles(dir: string, { ext, frames }: FrameFiles): Promise<void> {
  const names = (await readdir(dir)).sort();
  assert.deepEqual(await strayFiles(dir), [], 'only complete frame files, no temporary ones');
  assert.ok(names.every((name) => name.endsWith(`.${ext}`)), `all .${ext}: ${names.join(' ')}`);
  const paths = names.map((name) => join(dir, name));
  assert.deepEqual(paths.map(indexInName), frames, 'file names');
  assert.deepEqual(await readCodes(paths), frames, 'the frame each file shows');
}

/**
 * Checks that `dir` holds one PPM file per frame of `selection` of the embedded sample, each showing its own frame
 * and holding exactly the RGB pixels of the PNG that `streamVideoFramesToDir` writes for it (PNG is lossless).
 */
async function checkPpmFiles(dir: string, selection: SelectionOptions, referenceDir: string): Promise<void> {
  const reference = await streamVideoFramesToDir(join(EXAMPLES, 'assets/sample.mp4'), referenceDir, selection);
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names, reference.map((path) => basename(path).replace(/\.png$/, '.ppm')), 'one PPM file per frame of the selection');
  for (const [i, name] of names.entries()) {
    const ppm = await readFile(join(dir, name));
    const header = /^P6\n(\d+) (\d+)\n255\n/.exec(ppm.toString('latin1', 0, 32));
    assert.ok(header, `${name} starts with a binary PPM header`);
    const [width, height] = [Number(header[1]), Number(header[2])];
    const pixels = ppm.subarray(header[0].length);
    const png = await sharp(reference[i]!).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([width, height], [png.info.width, png.info.height], `${name}: size`);
    assert.ok(pixels.equals(png.data), `${name}: the same pixels as ${reference[i]}`);
    assert.equal(readFrameCode(pixels, width, height), indexInName(reference[i]!), `${name} shows its frame`);
  }
}

/** What one example must do when run with no source argument. */
interface Expectation {
  /** The frame files it writes into `--out`. Scripts without this entry get no `--out` and must write nothing. */
  files?: FrameFiles;
  /** Frame files it writes into subdirectories of `--out`, by subdirectory. */
  subdirs?: Record<string, FrameFiles>;
  /**
   * PPM files it writes into subdirectories of `--out`, by subdirectory, with the selection they hold: each must
   * hold exactly the pixels `streamVideoFramesToDir` writes for that selection of the same video.
   */
  ppm?: Record<string, SelectionOptions>;
  /** The frame numbers it prints on stdout as lines starting `frame N`, in order. */
  printed?: number[];
  /** Further patterns stdout must match. */
  stdout?: RegExp[];
  /** Patterns stderr must match (progress lines). */
  stderr?: RegExp[];
}

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

// The embedded sample: 150 frames of 320×240.
const EXPECTED: Record<string, Expectation> = {
  'demo.ts': {
    files: { ext: 'png', frames: range(0, 9) },
    // From frame 0 the sample is decoded from its start; what the decoder did past frame 9 is explained.
    stdout: [/^Saved 10 frames:$/m, /^\d+ frames decoded for 10 saved: decoding runs from the first frame of the video; and the decoder works ahead .* The \d+ frames outside 0-9 were not saved\.$/m],
  },
  'frame-range.ts': { files: { ext: 'png', frames: range(0, 9) }, stdout: [/^Saved 10 frames of the embedded sample/m] },
  'all-frames.ts': { files: { ext: 'png', frames: range(0, 149) }, stdout: [/^Total frames saved: 150$/m] },
  'jpeg.ts': { files: { ext: 'jpg', frames: range(0, 49) }, stdout: [/^Saved 50 JPEG files/m] },
  'progress-bar.ts': {
    files: { ext: 'png', frames: range(0, 49) },
    stderr: [/^Streaming frames: 50\/50 frames \(100%\), [\d.]+ frames\/s, done in /m],
  },
  'decoding-progress.ts': {
    files: { ext: 'png', frames: [...range(0, 9), ...range(40, 49)] },
    stdout: [
      /^Strategy: stream, 0 packets scanned; decoding: from-start$/m,
      // The sample is an MP4: its sample tables number the frames, no scan.
      /^Strategy: container, 0 packets scanned; decoding: seek$/m,
    ],
    stderr: [/^Decoding from start: (\d+)\/\1 packets \(100%\), .*done in /m],
  },
  'tuning.ts': {
    files: { ext: 'png', frames: range(0, 149) },
    stdout: [/^Peak frame memory: \(16 \+ 8 \+ 1\) × 230400 = 5760000 bytes/m, /^Saved 150 frames into /m],
  },
  'async-iteration.ts': {
    printed: [...range(0, 9), 30, 31, 32],
    stdout: [/^frame 0 at 0\.00 s: 320×240, 230400 bytes, mean RGB \(/m],
  },
  'custom-pipeline.ts': {
    ppm: { range: { start: 100, end: 109 }, list: { frames: [140, 3, 77, 3] } },
    printed: [...range(100, 109), 3, 77, 140],
    stdout: [
      /^\{"start":100,"end":109\}: 10 frames, numbered by the container index, 1 part\(s\) decoded from a keyframe$/m,
      /^\{"frames":\[140,3,77,3\]\}: 3 frames, numbered by the container index, 3 part\(s\) decoded from a keyframe$/m,
    ],
  },
  // 150 frames at 25 fps: 0.5 s is in frame 12, 1 s starts frame 25, 2.5 s starts frame 62.
  'sampling.ts': {
    subdirs: { 'every-25th': { ext: 'jpg', frames: [0, 25, 50, 75, 100, 125] }, picked: { ext: 'png', frames: [7, 33, 60] } },
    printed: [12, 25, 62],
    stdout: [/^every 25th frame: 6 files in /m, /^frames \[60, 7, 33, 7\]: 3 files; \d+ frames decoded, decoding by seek$/m],
  },
  'geometry.ts': {
    subdirs: { 'width-160': { ext: 'png', frames: range(0, 9) }, thumbnails: { ext: 'jpg', frames: [0, 25, 50, 75, 100, 125] } },
    printed: [0, 1, 2, 3, 4],
    stdout: [/^frame 0: 224×224, 150528 bytes \(cover\)$/m, /^frame 3: 320×240 from the crop 160x120\+0\+0 \(lanczos\)$/m],
  },
  'pixel-formats.ts': {
    subdirs: { gray8: { ext: 'png', frames: range(0, 4) }, rgb48: { ext: 'png', frames: range(0, 4) } },
    printed: [10, 10, 10, 10, 10],
    stdout: [
      /^frame 10 as rgb24: 3 channel\(s\), 960 bytes a row, /m,
      /^frame 10 as bgr24: 3 channel\(s\), 960 bytes a row, /m,
      /^frame 10 as rgba: 4 channel\(s\), 1280 bytes a row, first pixel bytes \[\d+, \d+, \d+, 255\]$/m,
      /^frame 10 as gray8: 1 channel\(s\), 320 bytes a row, /m,
      /^frame 10 as rgb48: 3 channel\(s\), 1920 bytes a row, /m,
    ],
  },
  // GOP 25; 2.5 s at 25 fps starts frame 62.
  'video-reader.ts': {
    printed: [100, 105, 140, 3, 77, 3, 62],
    stdout: [
      /^the embedded sample.*: 150 frames, h264 320×240 at 25 fps; keyframes 0, 25, 50, 75, 100, 125$/m,
      /^frame 100 at 4\.00 s: 320×240, 230400 bytes of RGB$/m,
      /^frames 100 and 105: 1 seek, \d+ frames decoded$/m,
    ],
  },
  // 150 frames at 25 fps, GOPs of 25: 2.5 s is in frame 62 (2.48-2.52 s); 1 s to 1.2 s are frames 25 to 30.
  'time-sampling.ts': {
    subdirs: { 'two-per-second': { ext: 'png', frames: [50, 62, 75] }, keyframes: { ext: 'jpg', frames: [0, 25, 50, 75, 100, 125] } },
    printed: range(25, 30),
    stdout: [/^2 fps from 2 s to 3 s: 3 files in /m, /^keyframes: 6 files; 6 packets decoded, \d+ bytes read$/m, /^frame 30 at 1\.20 s$/m],
  },
  // ffmpeg reads the y4m stream on its stdin and saves each frame: the colours survive within a few levels, the
  // frame numbers exactly.
  'stdout-to-ffmpeg.ts': {
    files: { ext: 'png', frames: range(0, 9) },
    stdout: [/^320x240 at 25\/1 fps, read with: ffmpeg -f yuv4mpegpipe -i -$/m, /^Piped 10 frames of the embedded sample .* \(2304116 bytes\) into ffmpeg, which saved them in /m],
  },
  'supervisely.ts': {
    files: { ext: 'png', frames: range(0, 9) },
    printed: range(0, 9),
    stdout: [/^No video id given \(--video-id or VIDEO_ID\): a stand-in Supervisely server at http:\/\/127\.0\.0\.1:/m, /^frame 0: shape \(240, 320, 3\)/m],
  },
};

const scripts = (await readdir(EXAMPLES)).filter((name) => name.endsWith('.ts')).sort();

test('every example has an expectation, and every expectation an example', () => {
  assert.deepEqual(scripts, Object.keys(EXPECTED).sort());
});

for (const script of scripts) {
  test(`examples/${script}`, { timeout: 120_000 }, async () => {
    const expected = EXPECTED[script];
    assert.ok(expected, `no expectation for examples/${script}: add one to EXPECTED in test/examples.test.ts`);
    const dir = await tempDir('framepipe-example-');
    try {
      // A fresh HOME and working directory: no ~/supervisely.env or ./local.env, and runScript drops credentials.
      const home = join(dir, 'home');
      const cwd = join(dir, 'cwd');
      await Promise.all([mkdir(home), mkdir(cwd)]);
      const out = join(dir, 'out'); // not created: the script must create it
      const args = expected.files || expected.subdirs || expected.ppm ? ['--out', out] : [];
      const { code, signal, stdout, stderr } = await runScript(join(EXAMPLES, script), args, { home, cwd });
      assert.equal(code, 0, `exit ${code} ${signal ?? ''}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
      assert.doesNotMatch(stderr, /error/i, `stderr:\n${stderr}`);

      if (expected.files) await checkFrameFiles(out, expected.files);
      for (const [subdir, files] of Object.entries(expected.subdirs ?? {})) await checkFrameFiles(join(out, subdir), files);
      for (const [subdir, selection] of Object.entries(expected.ppm ?? {})) await checkPpmFiles(join(out, subdir), selection, join(dir, `one-call-${subdir}`));
      assert.deepEqual(await readdir(cwd), [], 'nothing written into the working directory');

      if (expected.printed) {
        const printed = [...stdout.matchAll(/^frame (\d+)\b/gm)].map((match) => Number(match[1]));
        assert.deepEqual(printed, expected.printed, `frame numbers printed:\n${stdout}`);
      }
      for (const pattern of expected.stdout ?? []) assert.match(stdout, pattern);
      for (const pattern of expected.stderr ?? []) assert.match(stderr, pattern);
    } finally {
      await removeDir(dir);
    }
  });
}

test('an example takes a path instead of the served sample, and says how to call it when misused', async () => {
  const dir = await tempDir('framepipe-example-');
  try {
    const out = join(dir, 'out');
    const sample = join(EXAMPLES, 'assets/sample.mp4');
    const ok = await runScript(join(EXAMPLES, 'frame-range.ts'), [sample, '--out', out], { home: dir, cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^Saved 10 frames of ${sample}:$`, 'm'));
    assert.deepEqual(await readCodes(ok.stdout.split('\n').filter((line) => line.startsWith(out))), range(0, 9));

    const bad = await runScript(join(EXAMPLES, 'frame-range.ts'), ['--video-id', 'x'], { home: dir, cwd: dir });
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      'ERR_FRAMEPIPE_USAGE --video-id takes a positive integer, not "x"\nusage: pnpm exec node examples/frame-range.ts [<url|path> | --video-id N] [-o DIR] [--start …] [--end …]\n',
    );
  } finally {
    await removeDir(dir);
  }
});

test('--video-id reads a Supervisely video with the credentials of ~/supervisely.env', async () => {
  const dir = await tempDir('framepipe-example-');
  const server = await startStandInServer({ videos: { 7: { path: join(EXAMPLES, 'assets/sample.mp4') } } });
  try {
    await writeFile(join(dir, 'supervisely.env'), `SERVER_ADDRESS=${server.address}\nAPI_TOKEN=${server.token}\n`);
    const out = join(dir, 'out');
    const saved = await runScript(join(EXAMPLES, 'frame-range.ts'), ['--video-id', '7', '--out', out], { home: dir, cwd: dir });
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /^Saved 10 frames of Supervisely video 7 on http:\/\/127\.0\.0\.1:\d+:$/m);
    assert.deepEqual(await readCodes(saved.stdout.split('\n').filter((line) => line.startsWith(out))), range(0, 9));

    const sdk = await runScript(join(EXAMPLES, 'supervisely.ts'), ['--video-id', '7', '--out', join(dir, 'sdk')], { home: dir, cwd: dir });
    assert.equal(sdk.code, 0, sdk.stderr);
    assert.match(sdk.stdout, /^Supervisely video 7 on http:\/\/127\.0\.0\.1:\d+$/m);
    assert.doesNotMatch(sdk.stdout, /stand-in/);
    assert.deepEqual([...sdk.stdout.matchAll(/^frame (\d+)\b/gm)].map((match) => Number(match[1])), range(0, 9));
    assert.ok(server.requests.length > 0 && server.requests.every((request) => request.apiKey === server.token));

    // The tutorial's way: SERVER_ADDRESS, API_TOKEN and VIDEO_ID in ./local.env, no arguments.
    const cwd = join(dir, 'project');
    await mkdir(cwd);
    await writeFile(join(cwd, 'local.env'), `SERVER_ADDRESS=${server.address}\nAPI_TOKEN=${server.token}\nVIDEO_ID=7\n`);
    const tutorial = await runScript(join(EXAMPLES, 'supervisely.ts'), ['--out', join(dir, 'tutorial')], { home: join(dir, 'project'), cwd });
    assert.equal(tutorial.code, 0, tutorial.stderr);
    assert.match(tutorial.stdout, /^Supervisely video 7 on http:\/\/127\.0\.0\.1:\d+$/m);
    assert.deepEqual(await readCodes(tutorial.stdout.split('\n').filter((line) => line.startsWith(join(dir, 'tutorial')))), range(0, 9));
  } finally {
    await server.close();
    await removeDir(dir);
  }
});

test('the examples take the CLI\'s flags: -o, and those of the frame options they use', async () => {
  const dir = await tempDir('framepipe-example-');
  try {
    const sample = join(EXAMPLES, 'assets/sample.mp4');
    const range = await runScript(join(EXAMPLES, 'frame-range.ts'), [sample, '-o', join(dir, 'range'), '--start', '40', '--end', '42'], { home: dir, cwd: dir });
    assert.equal(range.code, 0, range.stderr);
    await checkFrameFiles(join(dir, 'range'), { ext: 'png', frames: [40, 41, 42] });
    const jpeg = await runScript(join(EXAMPLES, 'jpeg.ts'), [sample, '--out', join(dir, 'jpeg'), '--end', '2', '--ext', 'jpeg'], { home: dir, cwd: dir });
    assert.equal(jpeg.code, 0, jpeg.stderr);
    assert.deepEqual(await readdir(join(dir, 'jpeg')), ['frame_000000.jpeg', 'frame_000001.jpeg', 'frame_000002.jpeg']);

    // A flag of an option the example does not use is a usage error, as an unknown flag is for the CLI.
    const unknown = await runScript(join(EXAMPLES, 'all-frames.ts'), [sample, '--start', '3'], { home: dir, cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^ERR_FRAMEPIPE_USAGE Unknown option '--start'\. .*\nusage: pnpm exec node examples\/all-frames\.ts \[<url\|path> \| --video-id N\] \[-o DIR\]\n$/);
    // A bad value: the library's message, with the flag, and exit code 2.
    const bad = await runScript(join(EXAMPLES, 'frame-range.ts'), [sample, '--start', 'abc'], { home: dir, cwd: dir });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a non-negative integer for --start but received "abc"\n');
  } finally {
    await removeDir(dir);
  }
});

test('pnpm demo: paths from where the user typed it (INIT_CWD), -o, frame flags; a missing file is one coded line', async () => {
  const dir = await tempDir('framepipe-example-');
  try {
    const typedIn = join(dir, 'typed-in');
    await mkdir(typedIn);
    await writeFile(join(typedIn, 'clip.mov'), await readFile(join(EXAMPLES, 'assets/sample.mp4')));
    // What pnpm passes to the script it runs in the workspace root.
    const env = { npm_lifecycle_event: 'demo', INIT_CWD: typedIn };
    const demo = join(EXAMPLES, 'demo.ts');
    const ok = await runScript(demo, ['clip.mov', '-o', 'out', '--start', '30', '--end', '33'], { home: dir, env });
    assert.equal(ok.code, 0, ok.stderr);
    await checkFrameFiles(join(typedIn, 'out'), { ext: 'png', frames: range(30, 33) });
    // The sample's keyframes are 25 frames apart: frames 25-29 are decoded to reach frame 30.
    assert.match(ok.stdout, /^\d+ frames decoded for 4 saved: decoding starts at the keyframe at or before frame 30 \(a frame can only be decoded from its keyframe on\), so the frames between that keyframe and frame 30 were decoded only to reach the range; .* The \d+ frames outside 30-33 were not saved\.$/m);

    const missing = await runScript(demo, ['missing.mp4', '-o', 'out'], { home: dir, env });
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `ERR_FRAMEPIPE_FILE_NOT_FOUND File not found: ${join(typedIn, 'missing.mp4')}\n`);
    const usage = await runScript(demo, ['--bogus'], { home: dir, env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^ERR_FRAMEPIPE_USAGE Unknown option '--bogus'\. .*\nusage: pnpm demo \[<url\|path> \| --video-id N\] \[-o DIR\] \[--start …\] \[--end …\] \[--ext …\]\n$/);
  } finally {
    await removeDir(dir);
  }
});
