import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';

// The command line's messages name what the user typed: the flag, the value as typed, and other options as flags.

let dir: string;
let clip: string;

before(async () => {
  dir = await tempDir();
  clip = await makeFixture(H264_MP4_MOOV_END);
});
after(() => removeDir(dir));

/** Asserts that `flags` exit 2 with exactly `message` as the only line on stderr, and write nothing. */
async function refused(flags: string[], message: string): Promise<void> {
  const { code, stdout, stderr } = await runScript(BIN, ['frames', clip, '-o', join(dir, 'refused'), ...flags]);
  assert.equal(code, 2, `${flags.join(' ')}: ${stderr}`);
  assert.equal(stdout, '');
  assert.equal(stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${message}\n`, flags.join(' '));
}

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
  // Each request waits, so the run spends a while opening the video before the first frame (and the bar) appears.
  const server = await startRangeServer({ files: { '/clip.mp4': clip }, delay: 150 });
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
      assert.ok(counted > 0.3, `the run waited on the server: ${counted} s`);
      // The bar shows tenths, the summary milliseconds: the same time, rounded.
      assert.ok(Math.abs(shown - counted) <= 0.05 + 1e-9, `${args.join(' ')}: the bar says ${shown} s, the summary ${counted} s`);
    }
  } finally {
    await server.close();
  }
});
