import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { H264_MP4_MOOV_END } from './support/fixtures.ts';
import { makeFixture } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'packages/cli/src/bin.ts');

let open: RangeServer;
let guarded: RangeServer;
let dir: string;

before(async () => {
  const video = await readFile(await makeFixture(H264_MP4_MOOV_END));
  open = await startRangeServer({ files: { '/clip.mp4': video } });
  guarded = await startRangeServer({ files: { '/clip.mp4': video }, requireHeaders: { authorization: 'Bearer s3cret' } });
  dir = await tempDir();
});
after(async () => {
  await open.close();
  await guarded.close();
  await removeDir(dir);
});

/** Runs a script with this Node (24) and resolves with its exit code and output, whatever the code. */
function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [script, ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('framepipe frames writes the range and prints one JSON summary with --json', async () => {
  const out = join(dir, 'json');
  const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', out, '--start', '3', '--end', '7', '--ext', 'jpg', '--json']);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(summary).sort(), ['bytesRead', 'frames', 'outputDir', 'seconds']);
  assert.equal(summary.frames, 5);
  assert.equal(summary.outputDir, out);
  assert.ok(typeof summary.seconds === 'number' && summary.seconds > 0);
  assert.ok(typeof summary.bytesRead === 'number' && summary.bytesRead > 0);
  const files = (await readdir(out)).sort().map((name) => join(out, name));
  assert.deepEqual(files.map(indexInName), [3, 4, 5, 6, 7]);
  assert.deepEqual(await readCodes(files), [3, 4, 5, 6, 7]);
});

test('--header is sent with every request', async () => {
  const out = join(dir, 'auth');
  const ok = await runScript(BIN, ['frames', guarded.url('/clip.mp4'), '--out', out, '--end', '2', '--header', 'Authorization: Bearer s3cret']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Saved 3 frames/);
  const denied = await runScript(BIN, ['frames', guarded.url('/clip.mp4'), '--out', join(dir, 'denied'), '--end', '2']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^ERR_FRAMEPIPE_HTTP_STATUS .*401.*\n$/);
});

test('a bad option exits 2 with one line naming the code, the option and the value', async () => {
  const { code, stdout, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'bad'), '--queue-maxsize', '0']);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.equal(stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for queueMaxSize but received 0 of type number\n');
  const header = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'bad'), '--header', 'no colon']);
  assert.equal(header.code, 2);
  assert.match(header.stderr, /^ERR_FRAMEPIPE_INVALID_OPTION .*--header/);
});

test('a failed run exits 1 with the error code and the URL', async () => {
  const { code, stderr } = await runScript(BIN, ['frames', open.url('/nothing-here.mp4'), '--out', join(dir, 'fail')]);
  assert.equal(code, 1);
  assert.match(stderr, /^ERR_FRAMEPIPE_HTTP_STATUS .*nothing-here\.mp4/);
  assert.equal(stderr.trim().split('\n').length, 1, 'one line');
});

test('--show-decoding-progress draws the scan and decode phases on stderr', async () => {
  const { code, stderr } = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'progress'), '--start', '10', '--end', '12', '--show-decoding-progress']);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /Scanning .* packets/);
  const fromStart = await runScript(BIN, ['frames', open.url('/clip.mp4'), '--out', join(dir, 'progress0'), '--end', '12', '--show-decoding-progress']);
  assert.match(fromStart.stderr, /Decoding from start.* packets/);
});

test('the demo of the quick start streams frames 0-9 of the embedded sample', async () => {
  const out = join(dir, 'demo');
  const { code, stdout, stderr } = await runScript(join(ROOT, 'examples/demo.ts'), ['--out', out]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Saved 10 frames:/);
  const listed = stdout.split('\n').filter((line) => line.startsWith(out));
  assert.equal(listed.length, 10);
  assert.deepEqual(await readCodes(listed), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
