import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRAME_FLAGS, SOURCE_FLAGS, main } from '@framepipe/cli';
import { OPTION_KEYS } from '@framepipe/core';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { H264_1080P, H264_MP4_MOOV_END, H264_RAW_BFRAMES, VP9_WEBM, makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, ROOT, assertUsageErrors, runScript } from './support/run-script.ts';

let open: RangeServer;
let guarded: RangeServer;
let dir: string;

before(async () => {
  const video = await readFile(await makeFixture(H264_MP4_MOOV_END));
  open = await startRangeServer({ files: { '/clip.mp4': video, '/clip.webm': await makeFixture(VP9_WEBM), '/big.mp4': await makeFixture(H264_1080P) } });
  guarded = await startRangeServer({ files: { '/clip.mp4': video }, requireHeaders: { authorization: 'Bearer s3cret' } });
  dir = await tempDir();
});
after(async () => {
  await open.close();
  await guarded.close();
  await removeDir(dir);
});

async function frameFiles(out: string): Promise<string[]> {
  return (await readdir(out)).filter((name) => name.startsWith('frame_')).sort().map((name) => join(out, name));
}

describe('framepipe frames', () => {
  test('writes the range and prints one JSON summary with --json', async () => {
    const out = join(dir, 'json');
    const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', out, '--start', '3', '--end', '7', '--ext', 'jpg', '--json']);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary).sort(), ['bytesRead', 'frames', 'outputDir', 'seconds']);
    assert.equal(summary.frames, 5);
    assert.equal(summary.outputDir, out);
    assert.ok(typeof summary.seconds === 'number' && summary.seconds > 0);
    assert.ok(typeof summary.bytesRead === 'number' && summary.bytesRead > 0);
    const files = await frameFiles(out);
    assert.deepEqual(files.map(indexInName), [3, 4, 5, 6, 7]);
    assert.deepEqual(await readCodes(files), [3, 4, 5, 6, 7]);
  });

  test('off a terminal the progress is plain lines on stderr, ending with the total; stdout has the summary', async () => {
    const out = join(dir, 'plain');
    const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/big.mp4'), '-o', out, '--end', '59', '--ext', 'jpg', '--progress-interval', '0.05']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`^Saved 60 frames to ${out} in [\\d.]+ s\\n$`));
    const lines = stderr.split('\n').filter(Boolean);
    assert.ok(lines.length >= 2, `periodic lines:\n${stderr}`);
    for (const line of lines) assert.match(line, /^Saving frames: \d+\/60 frames \(\d+%\), ([\d.]+|-) frames\/s, (ETA |done in )?[\d.:]+ s$/);
    assert.match(lines.at(-1)!, /^Saving frames: 60\/60 frames \(100%\), [\d.]+ frames\/s, done in [\d.]+ s$/);
    assert.doesNotMatch(stderr, /\x1b|\r/, 'no terminal control codes in a log');
  });

  test('--step, --frames and --timestamps choose frames beyond a range', async () => {
    const cases: Array<[string[], number[]]> = [
      [['--step', '20'], [0, 20, 40]],
      [['--frames', '44,3', '--frames', '17'], [3, 17, 44]],
      [['--timestamps', '1, 0.5'], [12, 25]],
    ];
    for (const [flags, expected] of cases) {
      const out = join(dir, `sample-${flags.join('').replace(/\W/g, '')}`);
      const { code, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', out, '-q', ...flags]);
      assert.equal(code, 0, stderr);
      const files = await frameFiles(out);
      assert.deepEqual(files.map(indexInName), expected, flags.join(' '));
      assert.deepEqual(await readCodes(files), expected);
    }
    const bad = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', join(dir, 'bad-list'), '--frames', '1,x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ERR_FRAMEPIPE_INVALID_OPTION Expected a comma-separated list of numbers for --frames but received "1,x"/);
    const mixed = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', join(dir, 'bad-mix'), '--frames', '1', '--start', '2']);
    assert.equal(mixed.code, 2);
    assert.equal(mixed.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION --start cannot be used together with --frames: choose a range (--start, --end, --step), a list of --frames, --timestamps, or a time window (--start-time, --end-time, --fps)\n');
  });

  test('a run that saves nothing says why on stderr, and still succeeds', async () => {
    const past = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', join(dir, 'none'), '--start', '500']);
    assert.equal(past.code, 0, past.stderr);
    assert.match(past.stdout, /^Saved 0 frames to /);
    assert.match(past.stderr, /^Note: the requested frames are not in the video \(run framepipe probe to see its frame count\)\.$/m);
    const one = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', join(dir, 'one'), '--frames', '5']);
    assert.match(one.stdout, /^Saved 1 frame to /);
    const raw = await runScript(BIN, ['frames', await makeFixture(H264_RAW_BFRAMES), '-o', join(dir, 'raw')]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stderr, /^Note: none of the 60 decoded frames has a timestamp the frame-number rule can use/m);
  });

  test('--quiet prints nothing; the files are there', async () => {
    const out = join(dir, 'quiet');
    const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', out, '--end', '4', '-q', '--show-decoding-progress']);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr, '');
    assert.deepEqual(await readCodes(await frameFiles(out)), [0, 1, 2, 3, 4]);
  });

  test('--show-decoding-progress adds the scan and decode bars', async () => {
    // An MP4's sample tables number the frames: no scan, so no scan bar.
    const indexed = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'progress'), '--start', '10', '--end', '12', '--show-decoding-progress']);
    assert.equal(indexed.code, 0, indexed.stderr);
    assert.doesNotMatch(indexed.stderr, /Scanning/);
    assert.match(indexed.stderr, /^Saving frames: 3\/3 frames \(100%\)/m);
    const fromStart = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'progress0'), '--end', '12', '--show-decoding-progress']);
    // It ends when frame 12 is out, at 100%: the total becomes the packets the decode needed.
    assert.match(fromStart.stderr, /^Decoding from start: (\d+)\/\1 packets \(100%\), .*done in/m);
    // A WebM states no count: the scan's total is a guess (end + 64) until the scan reaches the end.
    const webm = await runScript(BIN, ['frames', open.url('/clip.webm'), '--out', join(dir, 'progress-webm'), '--start', '10', '--end', '12', '--show-decoding-progress']);
    assert.match(webm.stderr, /^Scanning packets: 60\/60 packets \(100%\), .*done in/m);
  });

  test('--header is sent with every request', async () => {
    const out = join(dir, 'auth');
    const ok = await runScript(BIN, ['frames', guarded.url('/clip.mp4'), '--out', out, '--end', '2', '--header', 'Authorization: Bearer s3cret']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Saved 3 frames/);
    const denied = await runScript(BIN, ['frames', guarded.url('/clip.mp4'), '--out', join(dir, 'denied'), '--end', '2', '-q']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^ERR_FRAMEPIPE_HTTP_STATUS .*401.*\n$/);
  });

  test('a bad option exits 2 with one line naming the code, the option, the value and the flag', async () => {
    const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'bad'), '--queue-maxsize', '0']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for --queue-maxsize but received 0\n');
    const header = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'bad'), '--header', 'no colon', '-q']);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /^ERR_FRAMEPIPE_INVALID_OPTION .*--header/);
  });

  test('usage errors exit 2 and say what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frames', '--out', join(dir, 'u')], /Give a <source> \(URL or path\) or --video-id N/],
      [['frames', open.url('/clip.mp4'), '--video-id', '3', '--out', join(dir, 'u')], /either a <source> or --video-id, not both/],
      [['frames', open.url('/clip.mp4'), '--api-token', 'x', '--out', join(dir, 'u')], /--server-address and --api-token go with --video-id/],
      [['frames', open.url('/clip.mp4')], /^ERR_FRAMEPIPE_USAGE Give where the frames go: --out DIR, or --to-stdout raw\|y4m$/m],
      [['frames', open.url('/clip.mp4'), '--out', join(dir, 'u'), '--colour'], /Unknown argument: colour/],
      [['encode'], /Unknown argument: encode/],
      [[], /Name a command: frames, probe, batch, enqueue, worker or queue/],
    ];
    await assertUsageErrors(cases);
  });

  test('a failed run exits 1 with one line: the error code and the URL; --json also gives it on stdout', async () => {
    const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/nothing-here.mp4'), '--out', join(dir, 'fail'), '--json']);
    assert.equal(code, 1);
    const lines = stderr.split('\n').filter((line) => line.startsWith('ERR_'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^ERR_FRAMEPIPE_HTTP_STATUS .*nothing-here\.mp4/);
    assert.deepEqual(Object.keys((JSON.parse(stdout) as { error: object }).error), ['code', 'message']);
  });

  for (const [signal, what, exit] of [['SIGINT', 'Ctrl-C', 130], ['SIGTERM', 'A termination request', 143]] as const) {
    test(`${what} (${signal}) stops cleanly: exit ${exit}, the files written are complete, no temporary file remains; --json lists them`, async () => {
      const out = join(dir, `interrupted-${signal}`);
      let sent = false;
      const result = await runScript(BIN, ['frames', open.url('/big.mp4'), '-o', out, '--max-write-workers', '1', '--json'], {
        onSpawn: (child) => {
          // Interrupt once a few frames are on disk, in the middle of the run.
          void (async () => {
            while (!sent && child.exitCode === null) {
              const names = await readdir(out).catch(() => []);
              if (names.filter((name) => name.endsWith('.png') && name.startsWith('frame_')).length >= 3) {
                sent = child.kill(signal);
              } else {
                await sleep(20);
              }
            }
          })();
        },
      });
      assert.ok(sent, 'the run was still going when interrupted');
      assert.equal(result.code, exit, result.stderr);
      assert.match(result.stderr, new RegExp(`^ERR_FRAMEPIPE_ABORTED The operation was aborted: Interrupted by ${signal}$`, 'm'));
      const kept = /Interrupted: (\d+) complete frame files kept in /.exec(result.stderr);
      assert.ok(kept, result.stderr);
      const files = await frameFiles(out);
      assert.deepEqual(await strayFiles(out), [], 'no temporary files');
      assert.equal(files.length, Number(kept[1]));
      assert.ok(files.length >= 3 && files.length < 250, `${files.length} files`);
      assert.deepEqual(await readCodes(files), files.map(indexInName), 'every kept file is complete and shows its frame');
      // What a finished run's --json says, for the files kept, and why the run stopped.
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(summary), ['frames', 'outputDir', 'seconds', 'bytesRead', 'interrupted', 'error']);
      assert.equal(summary.frames, files.length);
      assert.equal(summary.outputDir, out);
      assert.ok(typeof summary.bytesRead === 'number' && summary.bytesRead > 0);
      assert.equal(summary.interrupted, true);
      assert.deepEqual(summary.error, { code: 'ERR_FRAMEPIPE_ABORTED', message: `The operation was aborted: Interrupted by ${signal}` });
      // The progress line of a run that did not finish does not say "done".
      const progress = result.stderr.split('\n').filter((line) => line.startsWith('Saving frames: '));
      assert.match(progress.at(-1) ?? '', /, stopped after [\d.]+ s$/, result.stderr);
      assert.ok(!result.stderr.includes('done in'), result.stderr);
    });
  }

  test('interrupted while waiting to retry: the signal is named once, and nothing is said to be kept', async () => {
    const out = join(dir, 'interrupted-retrying');
    let sent = false;
    const result = await runScript(BIN, ['frames', 'http://127.0.0.1:9/clip.mp4', '-o', out, '--json'], {
      onSpawn: (child) => {
        child.stderr?.on('data', (chunk: Buffer) => {
          if (!sent && chunk.toString().includes('Attempt 1 of ')) sent = child.kill('SIGTERM');
        });
      },
    });
    assert.ok(sent, result.stderr);
    assert.equal(result.code, 143, result.stderr);
    assert.match(result.stderr, /^ERR_FRAMEPIPE_ABORTED The operation was aborted: Interrupted by SIGTERM$/m);
    assert.match(result.stderr, /^Interrupted before any frame was saved$/m);
    assert.equal(JSON.parse(result.stdout).frames, 0);
  });

  test('on a terminal the frames bar redraws in place with count/total, rate and ETA', async () => {
    const chunks: string[] = [];
    const stderr = Object.assign(new Writable({ write: (chunk, _e, done) => (chunks.push(String(chunk)), done()) }), { isTTY: true, columns: 100 });
    const stdout = new Writable({ write: (_chunk, _e, done) => done() });
    const code = await main(['frames', open.url('/big.mp4'), '-o', join(dir, 'tty'), '--end', '29', '--max-write-workers', '1'], { stdout, stderr });
    assert.equal(code, 0);
    const text = chunks.join('');
    assert.match(text, /\r\x1b\[2KSaving frames {2}\[[#.]+\] \d+\/30 frames \(\d+%\) {2}[\d.]+ frames\/s {2}ETA /);
    assert.match(text, /\r\x1b\[2KSaving frames {2}\[#+\] 30\/30 frames \(100%\) {2}[\d.]+ frames\/s {2}done in [\d.]+ s\n$/);
  });
});

describe('messages a new user understands (issue 13): the code, the input or flag, what was wrong and what to do', () => {
  test('a number flag given something else names the flag, the text typed and what it takes (not "NaN")', async () => {
    const cases: Array<[string[], string]> = [
      [['--start', 'abc'], 'Expected a non-negative integer for --start but received "abc"'],
      [['--end=1.5x'], 'Expected a non-negative integer for --end but received "1.5x"'],
      [['--end', '2.5'], 'Expected a non-negative integer for --end but received 2.5'],
      [['--step', '0'], 'Expected a positive integer for --step but received 0'],
      [['--start', '1', '--start', '2'], 'Expected a non-negative integer for --start but received 1, 2 (the flag was given 2 times)'],
      [['--frames', '1,x'], 'Expected a comma-separated list of numbers for --frames but received "1,x"'],
      [['--timeout', 'soon'], 'Expected a positive number for --timeout but received "soon"'],
      [['--timeout', '-1'], 'Expected a positive number for --timeout but received -1'],
      [['--retries', 'many'], 'Expected a non-negative integer for --retries but received "many"'],
      [['--max-write-workers', 'four'], 'Expected a positive integer for --max-write-workers but received "four"'],
      [['--queue-maxsize='], 'Expected a positive integer for --queue-maxsize but received ""'],
      [['--progress-interval', 'x'], 'Expected a positive number for --progress-interval but received "x"'],
    ];
    for (const [flags, message] of cases) {
      const { code, stdout, stderr } = await runMain(['frames', open.url('/clip.mp4'), '-o', join(dir, 'numbers'), ...flags]);
      assert.equal(code, 2, `${flags.join(' ')}: ${stderr}`);
      assert.equal(stdout, '');
      assert.equal(stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${message}\n`, flags.join(' '));
    }
    const id = await runMain(['probe', '--video-id', 'x']);
    assert.equal(id.code, 2);
    assert.equal(id.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for --video-id but received "x"\n', 'before looking for credentials');
    // The help still says what the flags take.
    assert.match((await runScript(BIN, ['frames', '--help'])).stdout, /--start +First frame number, inclusive, 0-based \[default: 0\] +\[number\]/);
  });

  test('conflicting flags name both and keep the advice, with its options shown as flags', async () => {
    const cases: Array<[string[], string]> = [
      [['--frames', '1,2', '--start', '3'], '--start cannot be used together with --frames: choose a range (--start, --end, --step), a list of --frames, --timestamps, or a time window (--start-time, --end-time, --fps)'],
      [['--timestamps', '1', '--step', '2'], '--step cannot be used together with --timestamps: choose a range (--start, --end, --step), a list of --frames, --timestamps, or a time window (--start-time, --end-time, --fps)'],
      [['--frames', '1', '--timestamps', '1'], '--timestamps cannot be used together with --frames: choose a range (--start, --end, --step), a list of --frames, --timestamps, or a time window (--start-time, --end-time, --fps)'],
      [['--pixel-format', 'rgb48', '--ext', 'jpg'], '--pixel-format cannot be used together with --ext: jpg files hold 8 bits per channel; write rgb48 as png (16-bit)'],
      [['--step', '2', '--keyframes-only'], '--keyframes-only cannot be used together with --step: --keyframes-only keeps every keyframe of the range; to thin them, use --fps without --keyframes-only or a --step without it'],
    ];
    for (const [flags, message] of cases) {
      const { code, stderr } = await runMain(['frames', open.url('/clip.mp4'), '-o', join(dir, 'conflict'), ...flags]);
      assert.equal(code, 2);
      assert.equal(stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${message}\n`);
    }
  });

  test('--ext is case-insensitive: PNG writes .png files, JPG writes JPEG .jpg files', async () => {
    for (const [ext, written, magic] of [['PNG', 'png', '89504e47'], ['JPG', 'jpg', 'ffd8ff']] as const) {
      const out = join(dir, `ext-${ext}`);
      const { code, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '-o', out, '--start', '2', '--end', '4', '--ext', ext, '-q']);
      assert.equal(code, 0, stderr);
      assert.deepEqual(await readdir(out), [2, 3, 4].map((n) => `frame_00000${n}.${written}`));
      const files = await frameFiles(out);
      for (const file of files) assert.ok((await readFile(file)).toString('hex').startsWith(magic), `${file} is a ${written.toUpperCase()}`);
      assert.deepEqual(await readCodes(files), [2, 3, 4]);
    }
  });

  test('an ftp:// URL says the scheme is not supported (exit 2), not "File not found: …/ftp:/…"', async () => {
    const { code, stderr } = await runScript(BIN, ['frames', 'ftp://127.0.0.1/clip.mp4', '-o', join(dir, 'ftp')]);
    assert.equal(code, 2);
    assert.equal(
      stderr,
      'ERR_FRAMEPIPE_UNSUPPORTED_SCHEME Cannot read ftp://127.0.0.1/clip.mp4: framepipe reads http:, https: and file: URLs and local paths, not ftp: URLs (download the file, or serve it over HTTP, and give that instead)\n',
    );
  });

  test('a text file named .mp4 is "not a video framepipe can read", in words, without FFmpeg\'s number', async () => {
    const file = join(dir, 'notes.mp4');
    await writeFile(file, 'meeting notes\nnot a video\n');
    for (const command of [['frames', file, '-o', join(dir, 'notes')], ['probe', file]]) {
      const { code, stderr } = await runScript(BIN, command);
      assert.equal(code, 1);
      assert.equal(
        stderr,
        `ERR_FRAMEPIPE_INVALID_DATA ${file} is not a video framepipe can read: FFmpeg found no container format it knows in it; it is text, starting "meeting notes". Check that it is the video file itself (MP4, MOV, MKV, WebM, …) and complete (FFmpeg: Invalid data found when processing input)\n`,
      );
    }
  });

  test('an MP4 cut off before its moov (at the end) says it looks truncated and what to do, not INVALID_DATA', async () => {
    // A file large enough that FFmpeg skips its media data instead of reading it to the end.
    const whole = await readFile(await makeFixture(H264_1080P));
    const moov = whole.indexOf('moov', 0, 'latin1') - 4;
    assert.ok(moov > whole.length / 2, 'the fixture has its moov at the end');
    const file = join(dir, 'cut-download.mp4');
    await writeFile(file, whole.subarray(0, moov - 30));
    for (const command of [['frames', file, '-o', join(dir, 'cut')], ['probe', file]]) {
      const { code, stderr } = await runScript(BIN, command);
      assert.equal(code, 1);
      assert.equal(
        stderr,
        `ERR_FRAMEPIPE_TRUNCATED ${file} is truncated: its media data ('mdat' box) ends past the end of the file (the file has ${moov - 30} bytes). It looks like an incomplete download or copy: get the whole file again\n`,
      );
    }
  });

  test('a refused connection: one line per retry (what failed, attempt n of m, the wait), then the error once, signatures hidden', async () => {
    const { closedPort } = await import('./support/range-server.ts');
    const url = `http://127.0.0.1:${await closedPort()}/clip.mp4`;
    const { code, stderr } = await runScript(BIN, ['frames', `${url}?X-Amz-Signature=deadbeef&token=s3cret&v=2`, '-o', join(dir, 'refused'), '--retries', '2']);
    assert.equal(code, 1);
    const shown = `${url}?X-Amz-Signature=(hidden)&token=(hidden)&v=2`;
    const failure = `Could not reach ${shown}: connection refused: no server listens at that address and port`;
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 3, stderr);
    assert.match(lines[0]!, new RegExp(`^Attempt 1 of 3 failed: ${escape(failure)}; trying again in 0\\.[4-6] s$`));
    assert.match(lines[1]!, new RegExp(`^Attempt 2 of 3 failed: ${escape(failure)}; trying again in (0\\.[89]|1\\.[0-2]) s$`));
    assert.equal(lines[2], `ERR_FRAMEPIPE_UNREACHABLE ${failure} (gave up after 3 attempts)`);
    assert.doesNotMatch(stderr, /deadbeef|s3cret/);
    const quiet = await runScript(BIN, ['frames', url, '-o', join(dir, 'refused-quiet'), '--retries', '1', '-q']);
    assert.equal(quiet.stderr, `ERR_FRAMEPIPE_UNREACHABLE Could not reach ${url}: connection refused: no server listens at that address and port (gave up after 2 attempts)\n`, '--quiet: the error only');
  });

  test('a body cut short: one line that says how much came and that the rest is asked for; it does not spend --retries', async () => {
    const { startFaultServer } = await import('./support/fault-server.ts');
    const server = await startFaultServer({ files: { '/clip.mp4': await makeFixture(H264_MP4_MOOV_END) }, plan: { seed: 1, script: [['cut']], cutAfter: 300 } });
    try {
      const out = join(dir, 'cut-once');
      const { code, stderr } = await runScript(BIN, ['frames', server.url('/clip.mp4'), '-o', out, '--end', '2', '--retries', '0']);
      assert.equal(code, 0, stderr);
      const [cut] = server.requests;
      const asked = (cut!.last as number) - (cut!.first as number) + 1;
      const lines = stderr.split('\n').filter(Boolean);
      // Then the progress line and the note on retries.
      assert.equal(lines.filter((line) => / failed: |was cut after/.test(line)).length, 1, stderr);
      assert.match(
        lines[0]!,
        new RegExp(`^${escape(`The body of ${cut!.range} from ${server.url('/clip.mp4')} was cut after 300 of ${asked} bytes; asking for the rest in `)}0\\.[4-6] s$`),
      );
      assert.equal(server.requests[1]?.range, `bytes=300-${cut!.last}`, 'the rest of the answered range');
      assert.deepEqual((await readdir(out)).sort(), ['frame_000000.png', 'frame_000001.png', 'frame_000002.png']);
    } finally {
      await server.close();
    }
  });

  test('probe says a phone video\'s rotation as ffprobe and the rotate tag do; --json keeps rotation counter-clockwise', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const file = await makeFixture({ ...H264_MP4_MOOV_END, rotation: 270 });
    const { stdout: probed } = await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'stream_side_data=rotation', '-of', 'csv=p=0', file]);
    assert.equal(Number(probed.trim()), -90, 'ffprobe shows -90: what a phone tags rotate=90');
    const human = await runScript(BIN, ['probe', file]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Rotation +90° clockwise to show upright \(display matrix -90, rotate tag 90\); frames are saved as stored unless --autorotate$/m);
    const json = await runScript(BIN, ['probe', file, '--json']);
    assert.equal((JSON.parse(json.stdout) as { rotation: number }).rotation, 270);
    const other = await runScript(BIN, ['probe', await makeFixture({ ...H264_MP4_MOOV_END, rotation: 90 })]);
    assert.match(other.stdout, /^Rotation +90° counter-clockwise to show upright \(display matrix 90, rotate tag 270\)/m);
  });
});

/** Runs the CLI in this process, as the bin does, and collects what it prints. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const collect = (into: string[]) => new Writable({ write: (chunk, _encoding, done) => (into.push(String(chunk)), done()) });
  const code = await main(args, { stdout: collect(out), stderr: collect(err) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** `text` for a RegExp that matches it literally. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('framepipe --help', () => {
  test('the top level lists the commands, the exit codes and how to get more', async () => {
    const { code, stdout, stderr } = await runScript(BIN, ['--help']);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.match(stdout, /framepipe frames \[source\] +Save a range of frames/);
    assert.match(stdout, /framepipe probe \[source\] +Describe a video/);
    assert.match(stdout, /Exit codes: 0 done, 1 the run failed, 2 bad usage or option, 130 interrupted \(Ctrl-C\),\n143 terminated \(SIGTERM\)\./);
  });

  test('--version prints the version of the packages, and --help lists it', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string };
    const { code, stdout, stderr } = await runScript(BIN, ['--version']);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `${version}\n`);
    assert.match((await runScript(BIN, ['--help'])).stdout, /--version +Show version number/);
  });

  test("every option flag sets an option the library knows, and its help shows the library's default", async () => {
    const { stdout } = await runScript(BIN, ['frames', '--help']);
    for (const { option, flag } of FRAME_FLAGS) {
      assert.ok((OPTION_KEYS.dir as string[]).includes(option), `--${flag} sets ${option}, an option of streamVideoFramesToDir`);
      assert.ok(stdout.includes(`--${flag}`), `--${flag} is in the help`);
    }
    for (const { option } of SOURCE_FLAGS) assert.ok((OPTION_KEYS.source as string[]).includes(option), option);
    assert.match(stdout, /--max-write-workers +Files encoded and written at the same time\s+\[default:\s+one\s+per\s+CPU\s+core,\s+at\s+least\s+4\]/);
    assert.match(stdout, /--queue-maxsize +Decoded frames .*\n.*\[default: 32\]/);
    assert.match(stdout, /--ext +Image format: png, jpg, jpeg or webp \[default: png\]/);
  });

  test("the CLI's README lists the flags the help lists, no more, no fewer", async () => {
    const readme = await readFile(join(ROOT, 'packages/cli/README.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `(--[a-z-]+)`/gm)].map((match) => match[1]!));
    const listed = new Set<string>();
    for (const command of [['frames'], ['probe'], ['batch'], ['enqueue'], ['worker'], ['queue', 'status'], ['queue', 'dashboard']]) {
      const { stdout } = await runScript(BIN, [...command, '--help']);
      for (const [, flag] of stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)) if (flag !== '--help' && flag !== '--version') listed.add(flag!);
    }
    assert.ok(listed.size >= 20, `flags read from the help: ${[...listed].join(' ')}`);
    assert.deepEqual([...listed].filter((flag) => !documented.has(flag)), [], 'flags of --help missing from packages/cli/README.md');
    assert.deepEqual([...documented].filter((flag) => !listed.has(flag)), [], 'flags of packages/cli/README.md that --help does not know');
  });

  test('frames --help groups every flag and shows examples', async () => {
    const { code, stdout } = await runScript(BIN, ['frames', '--help']);
    assert.equal(code, 0);
    for (const group of ['Video (a <source>, or a Supervisely --video-id):', 'Frames:', 'Tuning:', 'Display:']) assert.ok(stdout.includes(group), group);
    const flags = ['--video-id', '--server-address', '--api-token', '--header', '--timeout', '--out', '--start', '--end', '--step', '--frames', '--timestamps', '--ext', '--manifest', '--autorotate', '--resume', '--strict'];
    flags.push('--max-write-workers', '--queue-maxsize', '--show-decoding-progress', '--progress-interval', '--quiet', '--json', '--verbose');
    for (const flag of flags) assert.ok(stdout.includes(flag), flag);
    assert.match(stdout, /Examples:\n.*framepipe frames https:\/\/example\.com\/clip\.mp4/);
  });
});

describe('framepipe probe', () => {
  test('prints codec, size, frame count, fps, duration, B-frames and rotation', async () => {
    const { code, stdout, stderr } = await runScript(BIN, ['probe', open.url('/clip.mp4')]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Source +http:\/\/127\.0\.0\.1:\d+\/clip\.mp4 \([\d,]+ bytes\)$/m);
    assert.match(stdout, /^Codec +h264 \(yuv420p\)$/m);
    assert.match(stdout, /^Size +320x240$/m);
    assert.match(stdout, /^Frames +60, as the container states \(frame numbers 0-59; --count-frames to count\)$/m);
    assert.match(stdout, /^Frame rate +25 fps$/m);
    assert.match(stdout, /^Duration +2\.400 s$/m);
    assert.match(stdout, /^B-frames +yes$/m);
    assert.match(stdout, /^Rotation +0 \(none\)$/m);
  });

  test('--count-frames counts a WebM, which states no count; --json gives the same as probeVideo', async () => {
    const estimate = await runScript(BIN, ['probe', open.url('/clip.webm')]);
    assert.match(estimate.stdout, /^Frames +about 60, estimated from the duration/m);
    assert.match(estimate.stdout, /^B-frames +no$/m);
    const counted = await runScript(BIN, ['probe', open.url('/clip.webm'), '--count-frames', '--json']);
    assert.equal(counted.code, 0, counted.stderr);
    const info = JSON.parse(counted.stdout) as Record<string, unknown>;
    assert.equal(info.frameCount, 60);
    assert.equal(info.frameCountFrom, 'counted');
    assert.equal(info.codec, 'vp9');
  });

  test('run as `pnpm framepipe` (from the workspace root), relative paths are where the user typed them', async () => {
    const typedIn = join(dir, 'typed-in');
    await mkdir(typedIn, { recursive: true });
    await writeFile(join(typedIn, 'clip.mp4'), await readFile(await makeFixture(H264_MP4_MOOV_END)));
    const env = { npm_lifecycle_event: 'framepipe', INIT_CWD: typedIn };
    const fromRoot = join(ROOT, 'scripts/framepipe.js');
    const probe = await runScript(fromRoot, ['probe', 'clip.mp4'], { env });
    assert.equal(probe.code, 0, probe.stderr);
    assert.ok(probe.stdout.includes(join(typedIn, 'clip.mp4')));
    const frames = await runScript(fromRoot, ['frames', 'clip.mp4', '-o', 'out', '--end', '1', '-q'], { env });
    assert.equal(frames.code, 0, frames.stderr);
    assert.deepEqual(await readCodes(await frameFiles(join(typedIn, 'out'))), [0, 1]);
  });

  test('the framepipe bin itself resolves paths from its own working directory, even inside an npm script', async () => {
    // A user's script such as "cd videos && framepipe frames clip.mp4 …": INIT_CWD is where `npm run` was typed.
    const videos = join(dir, 'npm-script', 'videos');
    await mkdir(videos, { recursive: true });
    await writeFile(join(videos, 'clip.mp4'), await readFile(await makeFixture(H264_MP4_MOOV_END)));
    const env = { npm_lifecycle_event: 'extract', INIT_CWD: join(dir, 'npm-script') };
    const frames = await runScript(BIN, ['frames', 'clip.mp4', '-o', 'out', '--end', '1', '-q'], { env, cwd: videos });
    assert.equal(frames.code, 0, frames.stderr);
    assert.deepEqual(await readCodes(await frameFiles(join(videos, 'out'))), [0, 1]);
  });

  test('a missing file exits 1 with its code', async () => {
    const { code, stderr } = await runScript(BIN, ['probe', join(dir, 'none.mp4')]);
    assert.equal(code, 1);
    assert.match(stderr, /^ERR_FRAMEPIPE_FILE_NOT_FOUND /);
  });
});

describe('--video-id (Supervisely)', () => {
  test('credentials from ~/supervisely.env; flags override them; errors say what to do', async () => {
    const sample = await makeFixture(H264_MP4_MOOV_END);
    const server = await startStandInServer({ videos: { 42: { path: sample }, 43: { path: sample, ready: false } } });
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    try {
      await writeFile(join(home, 'supervisely.env'), `SERVER_ADDRESS=${server.address}\nAPI_TOKEN=${server.token}\n`);
      const out = join(dir, 'sly');
      const ok = await runScript(BIN, ['frames', '--video-id', '42', '-o', out, '--start', '5', '--end', '9'], { home });
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(await readCodes(await frameFiles(out)), [5, 6, 7, 8, 9]);
      assert.ok(server.requests.every((r) => r.apiKey === server.token), 'every request carries the key');

      const probe = await runScript(BIN, ['probe', '--video-id', '42'], { home });
      assert.equal(probe.code, 0, probe.stderr);
      assert.match(probe.stdout, /^Frames +60, as the container states/m);

      const wrong = await runScript(BIN, ['frames', '--video-id', '42', '-o', out, '--api-token', 'not-the-token'], { home });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^ERR_FRAMEPIPE_AUTH_FAILED /m);
      assert.doesNotMatch(wrong.stderr, new RegExp(server.token), 'the token is never printed');

      const unknown = await runScript(BIN, ['frames', '--video-id', '7', '-o', out], { home });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^ERR_FRAMEPIPE_VIDEO_NOT_FOUND /m);

      const notReady = await runScript(BIN, ['probe', '--video-id', '43'], { home });
      assert.equal(notReady.code, 1);
      assert.match(notReady.stderr, /^ERR_FRAMEPIPE_VIDEO_NOT_READY /m);

      const nowhere = join(dir, 'empty-home');
      await mkdir(nowhere, { recursive: true });
      const missing = await runScript(BIN, ['frames', '--video-id', '42', '-o', out], { home: nowhere, cwd: nowhere });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /^ERR_FRAMEPIPE_MISSING_CREDENTIALS .*SERVER_ADDRESS.*--server-address and --api-token\n$/);

      const flags = await runScript(BIN, ['probe', '--video-id', '42', '--server-address', server.address, '--api-token', server.token, '--json'], { home: nowhere, cwd: nowhere });
      assert.equal(flags.code, 0, flags.stderr);
      assert.equal((JSON.parse(flags.stdout) as { frameCount: number }).frameCount, 60);
    } finally {
      await server.close();
    }
  });
});

test('--retries and --timeout reach a Supervisely source too (--video-id), not only a URL', async () => {
  const { chooseVideo } = await import('../packages/cli/src/video-source.ts');
  const { closedPort } = await import('./support/range-server.ts');
  const serverAddress = `http://127.0.0.1:${await closedPort()}`;
  const args = { 'video-id': 7, 'server-address': serverAddress, 'api-token': 'token', timeout: 2 };
  const once = await chooseVideo({ ...args, retries: 0 });
  const twice = await chooseVideo({ ...args, retries: 1 });
  const sourceOf = (video: typeof once) => video.input as import('@framepipe/http-source').ByteSource;
  try {
    assert.deepEqual(once.options, {}, 'the source carries them; the library call does not get them again');
    const failedOnce = (await sourceOf(once).open().catch((error: unknown) => error)) as { code?: string; attempts?: string[] };
    assert.equal(failedOnce.code, 'ERR_FRAMEPIPE_UNREACHABLE');
    assert.equal(failedOnce.attempts, undefined, '--retries 0: one try');
    const failedTwice = (await sourceOf(twice).open().catch((error: unknown) => error)) as { attempts?: string[] };
    assert.equal(failedTwice.attempts?.length, 2, '--retries 1: two tries');
  } finally {
    await once.close();
    await twice.close();
  }
  assert.deepEqual((await chooseVideo({ source: 'https://example.com/a.mp4', timeout: 2, retries: 3 })).options, { timeout: 2000, retries: 3 });
});
