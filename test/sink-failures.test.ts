import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { ErrorCode, FramepipeError, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { H264_MP4_MOOV_END } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { indexInName, readCodes, removeDir, serveFixtures, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';

// 240 frames (9.6 s) at 320×240, a keyframe every 12: long enough that a run stopped early is plainly early.
const LONG: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 240 };
const ROOT = process.getuid?.() === 0;
// A small queue, so "decoding stopped promptly" has a tight bound: the frames alive at once.
const QUEUE = 4;
const WORKERS = 2;
const BUDGET = QUEUE + WORKERS + 1;

let server: RangeServer;
let dir: string;

before(async () => {
  ({ server } = await serveFixtures({ 'long.mp4': LONG }));
  dir = await tempDir('framepipe-sink-failures-');
});
after(async () => {
  await server.close();
  await removeDir(dir);
});

/** The run's rejection, which must be a FramepipeError. */
async function failure(run: Promise<unknown>): Promise<FramepipeError> {
  const error = await run.then(
    () => assert.fail('expected the run to fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FramepipeError, `expected a FramepipeError, got ${String(error)}`);
  return error;
}

/**
 * The checks every write failure must pass: WRITE_FAILED, `error.path` a frame file of `out` named in the
 * message, `error.cause` the system error `code`; what is left in `out` is complete frame files only, each
 * showing its own number.
 */
async function assertWriteFailure(error: FramepipeError, out: string, code: string): Promise<string[]> {
  assert.equal(error.code, ErrorCode.WRITE_FAILED, error.message);
  assert.ok(error.path !== undefined && /^frame_\d{6}\.png$/.test(error.path.slice(out.length + 1)) && error.path.startsWith(`${out}/`), `path: ${error.path}`);
  assert.ok(error.message.includes(error.path), error.message);
  assert.equal((error.cause as NodeJS.ErrnoException | undefined)?.code, code, `cause: ${String(error.cause)}`);
  assert.deepEqual(await strayFiles(out), [], 'no temporary file');
  const files = (await readdir(out)).sort().map((name) => join(out, name));
  assert.deepEqual(await readCodes(files), files.map(indexInName), 'every file kept is complete and shows its frame');
  return files;
}

/** Mounts a tmpfs with `options` on a fresh directory for `fn`, and always unmounts it; skips when mount fails. */
async function withTmpfs(t: TestContext, options: string, fn: (mountPoint: string) => Promise<void>): Promise<void> {
  const mountPoint = join(dir, `tmpfs-${options.replace(/\W/g, '')}`);
  await mkdir(mountPoint, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    t.skip(`cannot mount a tmpfs here: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`);
    return;
  }
  try {
    await fn(mountPoint);
  } finally {
    execFileSync('umount', [mountPoint]);
  }
}

describe('sink failures stop the run with ERR_FRAMEPIPE_WRITE_FAILED', () => {
  test('an imageWriter that throws: the file and the thrown error are named; decoding stops at once', async () => {
    const out = join(dir, 'writer-throws');
    const stats = new RunStats();
    const thrown = new Error('no space for frame 10');
    let calls = 0;
    const error = await failure(
      streamVideoFramesToDir(server.url('/long.mp4'), out, {
        stats,
        queueMaxSize: QUEUE,
        maxWriteWorkers: WORKERS,
        imageWriter: async (path, frame) => {
          calls++;
          if (frame.index === 10) throw thrown;
          await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toFile(path);
        },
      }),
    );
    assert.equal(error.code, ErrorCode.WRITE_FAILED);
    assert.equal(error.path, join(out, 'frame_000010.png'));
    assert.equal(error.cause, thrown);
    assert.equal(error.message, `Cannot write frame 10 to ${join(out, 'frame_000010.png')}: no space for frame 10`);
    assert.deepEqual(await strayFiles(out), []);
    const files = (await readdir(out)).sort().map((name) => join(out, name));
    assert.deepEqual(await readCodes(files), files.map(indexInName));
    // Frames decoded past the failing one are at most those the budget lets exist at once.
    assert.ok(stats.framesDecoded <= 10 + BUDGET + WORKERS, `decoded ${stats.framesDecoded} of 240 frames`);
    const callsAtFailure = calls;
    await sleep(100);
    assert.equal(calls, callsAtFailure, 'no write starts after the run has failed');
  });

  test('a read-only directory: EROFS on a read-only tmpfs as root, EACCES with mode 555 otherwise', async (t) => {
    const check = async (out: string, code: string) => {
      const stats = new RunStats();
      const error = await failure(streamVideoFramesToDir(server.url('/long.mp4'), out, { stats, queueMaxSize: QUEUE, maxWriteWorkers: WORKERS }));
      const files = await assertWriteFailure(error, out, code);
      assert.deepEqual(files, [], 'nothing could be written');
      assert.ok(stats.framesDecoded <= BUDGET + WORKERS, `decoded ${stats.framesDecoded} of 240 frames`);
      t.diagnostic(`${code}: ${error.message}; ${stats.framesDecoded} frames decoded`);
    };
    if (ROOT) {
      await withTmpfs(t, 'ro,size=1m', (mountPoint) => check(mountPoint, 'EROFS'));
    } else {
      const out = join(dir, 'mode-555');
      await mkdir(out);
      await chmod(out, 0o555);
      try {
        await check(out, 'EACCES');
      } finally {
        await chmod(out, 0o755);
      }
    }
  });

  test('disk full: ENOSPC on a 200 KiB tmpfs; the files written before it stay complete', async (t) => {
    if (!ROOT) {
      t.skip('needs root to mount a small tmpfs');
      return;
    }
    await withTmpfs(t, 'size=200k', async (mountPoint) => {
      const stats = new RunStats();
      const error = await failure(streamVideoFramesToDir(server.url('/long.mp4'), mountPoint, { stats, queueMaxSize: QUEUE, maxWriteWorkers: WORKERS }));
      const files = await assertWriteFailure(error, mountPoint, 'ENOSPC');
      assert.ok(files.length > 0 && files.length < 240, `${files.length} files fit`);
      const failedAt = indexInName(error.path!);
      // Writes run WORKERS at a time, so frames after the failing one may have been written already (and count as
      // done, not as alive): at most WORKERS of those, plus what the budget lets exist.
      assert.ok(stats.framesDecoded <= failedAt + BUDGET + 2 * WORKERS, `failed at frame ${failedAt}, decoded ${stats.framesDecoded}`);
      t.diagnostic(`ENOSPC at frame ${failedAt}: ${files.length} complete files kept, ${stats.framesDecoded} frames decoded`);
    });
  });

  test('permission denied: EACCES in a directory the process may not write (as root: a child running as nobody)', async (t) => {
    const out = join(dir, 'not-mine');
    await mkdir(out);
    if (!ROOT) {
      await chmod(out, 0o555);
      try {
        const error = await failure(streamVideoFramesToDir(server.url('/long.mp4'), out, { queueMaxSize: QUEUE, maxWriteWorkers: WORKERS }));
        await assertWriteFailure(error, out, 'EACCES');
      } finally {
        await chmod(out, 0o755);
      }
      return;
    }
    // Root writes anywhere: run the call as uid/gid 65534 (nobody) in a root-owned directory of mode 755.
    await chmod(dir, 0o755);
    await chmod(out, 0o755);
    const core = pathToFileURL(resolve(import.meta.dirname, '../packages/core/src/index.ts')).href;
    const script = `
      const { RunStats, streamVideoFramesToDir } = await import(${JSON.stringify(core)});
      const stats = new RunStats();
      try {
        await streamVideoFramesToDir(${JSON.stringify(server.url('/long.mp4'))}, ${JSON.stringify(out)}, { stats, queueMaxSize: ${QUEUE}, maxWriteWorkers: ${WORKERS} });
        console.log(JSON.stringify({ ok: true }));
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, path: error.path, message: error.message, cause: error.cause?.code, decoded: stats.framesDecoded }));
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, cwd: '/', env: { PATH: process.env.PATH ?? '', HOME: '/tmp' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exit = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(exit, 0, stderr);
    const result = JSON.parse(stdout) as { code: string; path: string; message: string; cause: string; decoded: number };
    assert.equal(result.code, ErrorCode.WRITE_FAILED, result.message);
    assert.match(result.path, new RegExp(`^${out}/frame_\\d{6}\\.png$`));
    assert.ok(result.message.includes(result.path), result.message);
    assert.equal(result.cause, 'EACCES');
    assert.ok(result.decoded <= BUDGET + WORKERS, `decoded ${result.decoded} of 240 frames`);
    assert.deepEqual(await readdir(out), [], 'nothing written, no temporary file');
    t.diagnostic(`as uid 65534: ${result.message}`);
  });
});
