import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
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
