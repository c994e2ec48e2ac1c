/**
 * runBatch over real fixture videos, some over loopback HTTP, some from disk: every frame file holds the frame its
 * name says, batch.jsonl is exact and holds no credential, a second run writes nothing, a failing video fails alone,
 * and no source name leads outside `out`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BATCH_FILE_NAME, runBatch } from '@framepipe/batch';
import type { BatchProgress, BatchSource } from '@framepipe/batch';
import { ErrorCode } from '@framepipe/common';
import { SuperviselyApi } from '@framepipe/supervisely';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { inspect } from 'node:util';
import { H264_MKV, H264_MP4_FASTSTART, H264_MP4_MOOV_END, H264_TS, VP9_WEBM, makeFixture } from './support/fixtures.ts';
import { assertFrames, batchReportLines, indexInName, readCodes, removeDir, serveFixtures, silentWav, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { rejectsWith } from './support/sources.ts';

const START = 5;
const END = 54;
const SELECTED = Array.from({ length: END - START + 1 }, (_, i) => START + i);

let server: RangeServer;
let work: string;
/** Fixture copies on disk under names of our choosing. */
let files: { faststart: string; mkv: string };

before(async () => {
  ({ server } = await serveFixtures({ 'videos/walk.mp4': H264_MP4_MOOV_END, 'videos/cam.ts': H264_TS, 'videos/run.webm': VP9_WEBM }));
  work = await tempDir('framepipe-batch-');
  await mkdir(join(work, 'in'));
  files = { faststart: join(work, 'in', 'jump.mp4'), mkv: join(work, 'in', 'turn.mkv') };
  await copyFile(await makeFixture(H264_MP4_FASTSTART), files.faststart);
  await copyFile(await makeFixture(H264_MKV), files.mkv);
});
after(async () => {
  await server.close();
  await removeDir(work);
});


describe('runBatch', () => {
  test('5 videos (MP4 both ways, TS, WebM, MKV; HTTP and paths): every frame right, batch.jsonl exact, a second run writes nothing', async () => {
    const out = join(work, 'five');
    const webm = new URL(server.url('/videos/run.webm'));
    webm.username = 'user';
    webm.password = 'pass-word';
    webm.search = '?token=s3cret&v=2';
    const sources: BatchSource[] = [
      server.url('/videos/walk.mp4'),
      files.faststart,
      { url: server.url('/videos/cam.ts'), headers: { authorization: 'Bearer header-secret' } },
      webm.href,
      files.mkv,
    ];
    const seen: BatchProgress[] = [];
    const summary = await runBatch(sources, { out, start: START, end: END, concurrency: 2, onProgress: (p) => seen.push(p) });

    const names = ['walk', 'jump', 'cam', 'run', 'turn'];
    for (const name of names) await assertFrames(join(out, name), SELECTED);
    assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, ...names].sort(), 'nothing else in out');
    const port = new URL(server.url('/')).port;
    const expected = [
      { source: `http://127.0.0.1:${port}/videos/walk.mp4`, name: 'walk', frames: 50, status: 'done' },
      { source: files.faststart, name: 'jump', frames: 50, status: 'done' },
      { source: `http://127.0.0.1:${port}/videos/cam.ts`, name: 'cam', frames: 50, status: 'done' },
      { source: `http://127.0.0.1:${port}/videos/run.webm?token=(hidden)&v=2`, name: 'run', frames: 50, status: 'done' },
      { source: files.mkv, name: 'turn', frames: 50, status: 'done' },
    ];
    assert.deepEqual(await batchReportLines(out), expected);
    const report = await readFile(join(out, BATCH_FILE_NAME), 'utf8');
    for (const secret of ['s3cret', 'pass-word', 'header-secret', 'Bearer']) assert.ok(!report.includes(secret), `batch.jsonl shows ${secret}`);
    // The credentials still reached the server: hidden from the report, not dropped from the requests.
    assert.ok(server.requests.some((r) => r.path === '/videos/cam.ts' && r.headers.authorization === 'Bearer header-secret'));

    assert.equal(summary.done, 5);
    assert.equal(summary.failed, 0);
    assert.equal(summary.framesWritten, 250);
    assert.equal(summary.report, join(out, BATCH_FILE_NAME));
    assert.deepEqual(summary.videos.map((v) => [v.name, v.framesWritten, v.framesReused, v.dir]), names.map((n) => [n, 50, 0, join(out, n)]));
    // Progress: one call per file and one per video, the batch's total counting up to 250.
    assert.equal(seen.length, 250 + 5);
    assert.deepEqual(seen.map((p) => p.framesWritten), [...seen.map((p) => p.framesWritten)].sort((a, b) => a - b));
    assert.deepEqual(seen.at(-1), { ...seen.at(-1)!, videos: 5, videosDone: 5, videosFailed: 0, framesWritten: 250 });
    assert.deepEqual(seen.filter((p) => p.video.status === 'done').map((p) => p.video.framesWritten), [50, 50, 50, 50, 50]);

    const before = new Map<string, number>();
    for (const name of names) for (const file of await readdir(join(out, name))) before.set(join(name, file), (await stat(join(out, name, file))).mtimeMs);
    const again = await runBatch(sources, { out, start: START, end: END, concurrency: 2 });
    assert.equal(again.framesWritten, 0);
    assert.deepEqual(again.videos.map((v) => [v.name, v.status, v.framesWritten, v.framesReused]), names.map((n) => [n, 'done', 0, 50]));
    for (const [file, mtime] of before) assert.equal((await stat(join(out, file))).mtimeMs, mtime, `${file} was not written again`);
    for (const name of names) await assertFrames(join(out, name), SELECTED);
    assert.deepEqual(await batchReportLines(out), expected);
  });

  test('a 404 and a file with no video fail alone, with their codes; the others complete', async () => {
    const out = join(work, 'failures');
    const audio = join(work, 'in', 'sound.wav');
    await writeFile(audio, silentWav());
    const sources = [server.url('/videos/walk.mp4'), server.url('/videos/gone.mp4'), audio, files.mkv];
    const summary = await runBatch(sources, { out, start: START, end: END, concurrency: 2 });
    assert.deepEqual(await batchReportLines(out), [
      { source: sources[0], name: 'walk', frames: 50, status: 'done' },
      { source: sources[1], name: 'gone', frames: 0, status: 'failed', code: ErrorCode.HTTP_STATUS },
      { source: audio, name: 'sound', frames: 0, status: 'failed', code: ErrorCode.NO_VIDEO_STREAM },
      { source: files.mkv, name: 'turn', frames: 50, status: 'done' },
    ]);
    assert.equal(summary.done, 2);
    assert.equal(summary.failed, 2);
    assert.equal((summary.videos[1]!.error as { status?: number }).status, 404);
    await assertFrames(join(out, 'walk'), SELECTED);
    await assertFrames(join(out, 'turn'), SELECTED);
    for (const name of ['gone', 'sound']) assert.deepEqual((await readdir(join(out, name)).catch(() => [])).filter((f) => !f.startsWith('frame_')), [], `${name} holds no stray file`);
  });

  test('a report that cannot be written fails with ERR_FRAMEPIPE_WRITE_FAILED and leaves no temporary file', async () => {
    const out = join(work, 'unwritable');
    await mkdir(join(out, BATCH_FILE_NAME), { recursive: true });
    const error = await rejectsWith(runBatch([files.mkv], { out, start: 0, end: 2 }), ErrorCode.WRITE_FAILED);
    assert.equal(error.path, join(out, BATCH_FILE_NAME));
    assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, 'turn']);
    await assertFrames(join(out, 'turn'), [0, 1, 2]);
  });

  test('two sources with one name are refused before any request, the message naming both', async () => {
    const out = join(work, 'duplicates');
    const requests = server.requests.length;
    const error = await rejectsWith(runBatch([server.url('/videos/walk.mp4'), files.faststart, `${work}/other/walk.mkv`], { out }), ErrorCode.DUPLICATE_NAME);
    assert.equal(
      error.message,
      `${server.url('/videos/walk.mp4')} and ${work}/other/walk.mkv would both write into the same directory (the name "walk"): rename one, or run them as two batches`,
    );
    const cased = await rejectsWith(runBatch([files.faststart, server.url('/videos/Jump.webm')], { out }), ErrorCode.DUPLICATE_NAME);
    assert.match(cased.message, /the names "jump" and "Jump", which differ only in case/);
    assert.equal(server.requests.length, requests, 'no request was made');
    await assert.rejects(stat(out), { code: 'ENOENT' }, 'out was not even created');
    // A source with no name, and a bad option, are refused as early.
    await rejectsWith(runBatch([files.mkv, server.url('/videos/')], { out }), ErrorCode.INVALID_NAME);
    // A directory named as the report would stop batch.jsonl from being written, at the very end.
    const report = await rejectsWith(runBatch([files.mkv, server.url('/videos/Batch.JSONL.mp4')], { out }), ErrorCode.INVALID_NAME);
    assert.equal(report.message, `${server.url('/videos/Batch.JSONL.mp4')} would write into "Batch.JSONL", the name of the batch's report: rename the file, or run it on its own`);
    const bad = await rejectsWith(runBatch([files.mkv], { out, concurrency: 0 }), ErrorCode.INVALID_OPTION);
    assert.equal(bad.message, 'Expected a positive integer for concurrency but received 0 of type number');
    const overwrite = await rejectsWith(runBatch([files.mkv], { out, overwrite: true } as never), ErrorCode.INVALID_OPTION);
    assert.match(overwrite.message, /overwrite/);
    await rejectsWith(runBatch([files.mkv], { out, start: -1 }), ErrorCode.INVALID_OPTION);
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });

  test('hostile names stay inside out', async () => {
    const long = 'x'.repeat(300);
    const hostile = await startRangeServer({
      files: { '/%2e%2e%2f%2e%2e%2fescape.mp4': await makeFixture(H264_MP4_MOOV_END), [`/v/${long}.mp4`]: await makeFixture(H264_MP4_MOOV_END) },
    });
    try {
      const base = join(work, 'hostile');
      const out = join(base, 'deep', 'out');
      const sources = [hostile.url('/%2e%2e%2f%2e%2e%2fescape.mp4'), hostile.url(`/v/${long}.mp4`), `${work}/in/../in/.././in/turn.mkv`];
      const summary = await runBatch(sources, { out, start: 0, end: 9 });
      assert.equal(summary.done, 3, JSON.stringify(summary.videos.map((v) => v.code)));
      const names = summary.videos.map((v) => v.name);
      assert.equal(names[0], '_._escape');
      assert.match(names[1]!, /^x{111}-[0-9a-f]{8}$/);
      assert.equal(names[2], 'turn');
      assert.deepEqual(await readdir(base), ['deep']);
      assert.deepEqual(await readdir(join(base, 'deep')), ['out']);
      assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, ...names].sort());
      for (const name of names) await assertFrames(join(out, name), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await hostile.close();
    }
  });

  test('an abort stops every video, leaves only complete files and no batch.jsonl; a run again completes', async () => {
    const out = join(work, 'abort');
    const sources = [server.url('/videos/walk.mp4'), files.faststart, server.url('/videos/cam.ts')];
    const controller = new AbortController();
    let last: BatchProgress | undefined;
    const onProgress = (p: BatchProgress) => {
      last = p;
      if (p.framesWritten === 12) controller.abort();
    };
    await rejectsWith(runBatch(sources, { out, signal: controller.signal, concurrency: 2, onProgress }), ErrorCode.ABORTED);
    assert.deepEqual((await readdir(out)).sort(), ['jump', 'walk'], 'no batch.jsonl, no temporary file, the third video never started');
    let kept = 0;
    for (const name of ['jump', 'walk']) {
      const dir = join(out, name);
      assert.deepEqual(await strayFiles(dir), []);
      const names = (await readdir(dir)).sort();
      kept += names.length;
      assert.deepEqual(await readCodes(names.map((file) => join(dir, file))), names.map(indexInName));
    }
    assert.ok(kept >= 12 && kept < 120, `files kept: ${kept}`);
    // Files that complete while the videos wind down count too: the last call says how many this run wrote.
    assert.equal(last?.framesWritten, kept);
    assert.equal(last?.video.status, 'stopped');

    const again = await runBatch(sources, { out, concurrency: 2 });
    assert.equal(again.done, 3);
    assert.equal(again.framesReused, kept);
    assert.equal(again.framesWritten, 180 - kept);
    for (const name of ['walk', 'jump', 'cam']) await assertFrames(join(out, name), [...Array(60).keys()]);
  });

  test('Supervisely videos by id: read through the api option, named by id, failures with their codes; the token in no result', async () => {
    const sample = await makeFixture(H264_MP4_MOOV_END);
    const standIn = await startStandInServer({ videos: { 42: { path: sample }, 43: { path: sample, ready: false }, 44: { path: files.mkv } } });
    try {
      const out = join(work, 'supervisely');
      const api = new SuperviselyApi({ serverAddress: standIn.address, token: standIn.token });
      const sources: BatchSource[] = [{ videoId: 42 }, { videoId: 7 }, { videoId: 43 }, { videoId: 44 }, files.faststart];
      const summary = await runBatch(sources, { out, api, start: START, end: END, retries: 0, concurrency: 2 });
      assert.deepEqual(await batchReportLines(out), [
        { source: 'supervisely:video/42', name: '42', frames: 50, status: 'done' },
        { source: 'supervisely:video/7', name: '7', frames: 0, status: 'failed', code: ErrorCode.VIDEO_NOT_FOUND },
        { source: 'supervisely:video/43', name: '43', frames: 0, status: 'failed', code: ErrorCode.VIDEO_NOT_READY },
        { source: 'supervisely:video/44', name: '44', frames: 50, status: 'done' },
        { source: files.faststart, name: 'jump', frames: 50, status: 'done' },
      ]);
      for (const name of ['42', '44', 'jump']) await assertFrames(join(out, name), SELECTED);
      assert.ok(standIn.requests.every((request) => request.apiKey === standIn.token), 'every request to the instance carries the key');
      const shown = [await readFile(join(out, BATCH_FILE_NAME), 'utf8'), inspect(summary, { depth: 8, showHidden: true }), JSON.stringify(summary.videos)];
      for (const text of shown) assert.ok(!text.includes(standIn.token), 'the token shows nowhere');
      const again = await runBatch(sources.slice(0, 1), { out, api, start: START, end: END });
      assert.deepEqual([again.framesWritten, again.framesReused], [0, 50], 'a second run writes nothing');
    } finally {
      await standIn.close();
    }
  });

  test('more local videos at once than libuv has threads (6 at once, 4 threads) all complete', async () => {
    // Each demuxer waits for its bytes on a thread of libuv's pool (4 unless UV_THREADPOOL_SIZE says otherwise); a
    // file read that needed a pool thread too stopped every video for ever once four were open.
    assert.equal(process.env.UV_THREADPOOL_SIZE, undefined, 'this test is about the default pool');
    const dir = join(work, 'many-in');
    await mkdir(dir, { recursive: true });
    const sources: string[] = [];
    for (let i = 0; i < 6; i++) {
      const path = join(dir, `cam${i}.mp4`);
      await copyFile(files.faststart, path);
      sources.push(path);
    }
    const out = join(work, 'many');
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('runBatch made no end in 60 s: the videos wait for each other')), 60_000);
    });
    try {
      const summary = await Promise.race([runBatch(sources, { out, start: START, end: END, concurrency: 6 }), stuck]);
      assert.equal(summary.done, 6);
    } finally {
      clearTimeout(timer);
    }
    for (let i = 0; i < 6; i++) await assertFrames(join(out, `cam${i}`), SELECTED);
  });
});
