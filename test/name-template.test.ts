/**
 * `nameTemplate` / `--name-template`: frame files named by a template, and everything that finds them by name (resume,
 * overwrite, the manifest, the result paths, a batch's S3 keys) following it. A bad template fails before any I/O,
 * naming the option and what is wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runBatch, S3Destination } from '@framepipe/batch';
import { enqueue, queueStatus, runWorker } from '@framepipe/queue';
import { SuperviselyApi, streamVideoFramesToDir as streamSuperviselyFramesToDir } from '@framepipe/supervisely';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { ErrorCode, MANIFEST_FILE_NAME, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { NameTemplate, clearFrameFiles, frameFileName, listFrameFiles } from '@framepipe/sink';
import { H264_MP4_MOOV_END } from './support/fixtures.ts';
import { readCodes, removeDir, serveFixtures, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';
import { BIN, runScript } from './support/run-script.ts';
import { startRedis } from './support/redis-server.ts';
import { startS3Server } from './support/s3-server.ts';
import type { S3TestServer } from './support/s3-server.ts';
import { rejectsWith } from './support/sources.ts';

let server: RangeServer;
let clip: string;
let url: string;
let work: string;

before(async () => {
  let paths: Record<string, string>;
  ({ server, paths } = await serveFixtures({ 'clip.mp4': H264_MP4_MOOV_END }));
  clip = paths['clip.mp4']!;
  url = server.url('/clip.mp4');
  work = await tempDir('framepipe-names-');
});
after(async () => {
  await server.close();
  await removeDir(work);
});

const sorted = async (dir: string) => (await readdir(dir)).sort();
const CLIP_FRAMES = H264_MP4_MOOV_END.frames;

describe('NameTemplate', () => {
  test('writes and reads back names; a number wider than the padding is written whole', () => {
    const names = NameTemplate.from('img_{index:05}.{ext}');
    assert.equal(names.format(12, 'jpg'), 'img_00012.jpg');
    assert.equal(names.format(1_234_567, 'png'), 'img_1234567.png');
    assert.deepEqual(names.parse('img_1234567.png'), { name: 'img_1234567.png', index: 1_234_567, ext: 'png' });
    assert.deepEqual(names.parse('img_00012.jpg'), { name: 'img_00012.jpg', index: 12, ext: 'jpg' });
    // Only the names it writes: another padding, another format, a temporary file.
    for (const name of ['img_012.jpg', 'img_000012.jpg', 'img_00012.gif', '.img_00012.jpg.41-1@abcdef01.partial.jpg', 'img_00012.jpg.bak']) {
      assert.equal(names.parse(name), null, name);
    }
    const bare = NameTemplate.from('{ext}-{index}');
    assert.equal(bare.format(7, 'webp'), 'webp-7');
    assert.deepEqual(bare.parse('webp-7'), { name: 'webp-7', index: 7, ext: 'webp' });
    assert.equal(bare.parse('webp-07'), null);
    // Literal text that reads like a placeholder's name stays literal.
    assert.equal(NameTemplate.from('index{index}ext.{ext}').format(3, 'png'), 'index3ext.png');
    assert.equal(frameFileName(3, 'png'), 'frame_000003.png');
  });

  test('a bad template is refused, naming the option and what is wrong', () => {
    const cases: Array<[unknown, string]> = [
      ['img.{ext}', 'exactly one {index} or {index:NN} (it has none: every frame would get the same name)'],
      ['img_{index}_{index:03}.{ext}', 'exactly one {index} (it has two)'],
      ['img_{index}', 'exactly one {ext} (it has none)'],
      ['img_{index}.{ext}.{ext}', 'exactly one {ext} (it has two)'],
      ['sub/img_{index}.{ext}', 'no path separator (/ or \\): frames go into the output directory itself'],
      ['sub\\img_{index}.{ext}', 'no path separator (/ or \\): frames go into the output directory itself'],
      ['img..{index}.{ext}', 'no ".."'],
      ['.img_{index}.{ext}', 'no leading dot (hidden and temporary files start with one)'],
      ['img_{frame}_{index}.{ext}', 'only {index}, {index:NN} and {ext} (it has {frame})'],
      ['img_{index:123}.{ext}', 'only {index}, {index:NN} and {ext} (it has {index:123})'],
      ['img_{index}}.{ext}', 'only {index}, {index:NN} and {ext} (a brace stands alone)'],
      ['', 'one {index} and one {ext}'],
      [5, 'one {index} and one {ext}'],
    ];
    for (const [template, what] of cases) {
      assert.throws(
        () => NameTemplate.from(template),
        (error: Error & { code?: string; option?: string }) => {
          assert.equal(error.code, ErrorCode.INVALID_OPTION);
          assert.equal(error.option, 'nameTemplate');
          const shown = typeof template === 'string' ? `${JSON.stringify(template)} of type string` : `${String(template)} of type number`;
          assert.equal(error.message, `Expected a file name template with ${what}, e.g. "img_{index:05}.{ext}" for nameTemplate but received ${shown}`);
          return true;
        },
        String(template),
      );
    }
  });
});

describe('streamVideoFramesToDir with nameTemplate', () => {
  test('the files, the result paths and the manifest follow the template', async () => {
    const out = join(work, 'named');
    const paths = await streamVideoFramesToDir(url, out, { start: 10, end: 13, ext: 'jpg', nameTemplate: 'img_{index:03}.{ext}', manifest: true });
    const names = ['img_010.jpg', 'img_011.jpg', 'img_012.jpg', 'img_013.jpg'];
    assert.deepEqual(paths, names.map((name) => join(out, name)));
    assert.deepEqual(await sorted(out), [MANIFEST_FILE_NAME, ...names]);
    assert.deepEqual(await readCodes(paths), [10, 11, 12, 13], 'each file shows its own frame');
    const lines = (await readFile(join(out, MANIFEST_FILE_NAME), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { index: number; file: string });
    assert.deepEqual(lines.map(({ index, file }) => [index, file]), names.map((name, i) => [10 + i, name]));
  });

  test('a bad template fails before any I/O: no directory, no request', async () => {
    const out = join(work, 'never');
    const before = server.requests.length;
    await rejectsWith(streamVideoFramesToDir(url, out, { nameTemplate: 'frames/{index}.{ext}' }), ErrorCode.INVALID_OPTION);
    await assert.rejects(access(out), { code: 'ENOENT' });
    assert.equal(server.requests.length, before, 'no request');
  });

  test('a run stopped part way, resumed: only the missing files are written', async () => {
    const out = join(work, 'interrupted');
    const nameTemplate = 'cut_{index:04}.{ext}';
    const controller = new AbortController();
    let saved = 0;
    const progress = () => ++saved === 7 && controller.abort();
    await rejectsWith(streamVideoFramesToDir(url, out, { nameTemplate, signal: controller.signal, progress, maxWriteWorkers: 1 }), ErrorCode.ABORTED);
    const kept = (await sorted(out)).filter((name) => name.startsWith('cut_'));
    assert.ok(kept.length >= 7 && kept.length < CLIP_FRAMES, `${kept.length} files kept`);
    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(url, out, { nameTemplate, resume: true, stats });
    assert.equal(stats.framesReused, kept.length);
    assert.equal(stats.framesDelivered, CLIP_FRAMES - kept.length);
    assert.deepEqual(paths.map((path) => basename(path)), Array.from({ length: CLIP_FRAMES }, (_, n) => `cut_${String(n).padStart(4, '0')}.png`));
    assert.deepEqual(await readCodes(paths), [...Array(CLIP_FRAMES).keys()]);
  });

  test('resume keeps the files the template names and writes only the missing ones', async () => {
    const out = join(work, 'resumed');
    const nameTemplate = 'shot-{index}.{ext}';
    await streamVideoFramesToDir(url, out, { end: 23, nameTemplate, manifest: true });
    // As if killed: some files never written. A file of the default name is not one of this template's.
    const missing = [3, 4, 17];
    for (const n of missing) await rm(join(out, `shot-${n}.png`));
    await writeFile(join(out, 'frame_000005.png'), 'not this template');
    const kept = join(out, 'shot-0.png');
    const keptTime = (await stat(kept)).mtimeMs;
    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(url, out, { end: 23, nameTemplate, resume: true, manifest: true, stats });
    assert.equal(stats.framesReused, 24 - missing.length);
    assert.equal(stats.framesDelivered, missing.length);
    assert.deepEqual(paths.map((path) => basename(path)), Array.from({ length: 24 }, (_, n) => `shot-${n}.png`));
    assert.deepEqual(await readCodes(paths), [...Array(24).keys()]);
    assert.equal((await stat(kept)).mtimeMs, keptTime, 'a kept file is not written again');
    const lines = (await readFile(join(out, MANIFEST_FILE_NAME), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { file: string });
    assert.deepEqual(lines.map(({ file }) => file), Array.from({ length: 24 }, (_, n) => `shot-${n}.png`), 'the manifest lists the template files only');
    assert.equal(await readFile(join(out, 'frame_000005.png'), 'utf8'), 'not this template');
  });

  test('overwrite removes the files the template or the default names, and nothing else', async () => {
    const out = join(work, 'overwritten');
    await mkdir(out, { recursive: true });
    const nameTemplate = 'img_{index:05}.{ext}';
    await streamVideoFramesToDir(url, out, { frames: [1, 2], nameTemplate });
    await streamVideoFramesToDir(url, out, { frames: [3], ext: 'webp' }); // the default name
    const others = ['img_1.png', 'img_000001.png', 'img_00001.gif', 'frame_0000012.png', 'notes.txt', 'img_00001.png.txt'];
    for (const name of others) await writeFile(join(out, name), 'keep me');
    const stats = new RunStats();
    await streamVideoFramesToDir(url, out, { frames: [7], ext: 'jpg', nameTemplate, overwrite: true, stats });
    assert.equal(stats.filesCleared, 3);
    assert.deepEqual(await sorted(out), ['img_00007.jpg', ...others].sort());
    // The helper, on its own: the files of either name.
    await writeFile(join(out, 'frame_000001.png'), 'x');
    assert.deepEqual((await clearFrameFiles(out, nameTemplate)).map(({ name }) => name), ['frame_000001.png', 'img_00007.jpg']);
    assert.deepEqual(await listFrameFiles(out, nameTemplate), []);
    assert.deepEqual(await sorted(out), [...others].sort());
  });
});

describe('framepipe frames --name-template', () => {
  test('names the files; a number wider than the padding is written whole', async () => {
    const out = join(work, 'cli');
    const { code, stderr } = await runScript(BIN, ['frames', clip, '--out', out, '--frames', '5,40', '--name-template', 'f{index:01}.{ext}', '--quiet']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(await sorted(out), ['f40.png', 'f5.png']);
    assert.deepEqual(await readCodes([join(out, 'f5.png'), join(out, 'f40.png')]), [5, 40]);
  });

  test('a bad template: exit 2, the flag named, before any I/O', async () => {
    const out = join(work, 'cli-bad');
    const { code, stdout, stderr } = await runScript(BIN, ['frames', clip, '--out', out, '--name-template', 'f_{index}.png']);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      'ERR_FRAMEPIPE_INVALID_OPTION Expected a file name template with exactly one {ext} (it has none), e.g. "img_{index:05}.{ext}" for --name-template but received "f_{index}.png"\n',
    );
    await assert.rejects(access(out), { code: 'ENOENT' });
  });
});

describe('a batch with nameTemplate', () => {
  let s3: S3TestServer;
  before(async () => {
    s3 = await startS3Server(['frames']);
  });
  after(async () => {
    await s3.close();
  });

  test('a directory, and S3 keys; a run again puts only what is missing', async () => {
    const nameTemplate = 'img_{index:04}.{ext}';
    const dir = join(work, 'batch');
    await runBatch([url], { out: dir, frames: [2, 40], nameTemplate, concurrency: 1 });
    assert.deepEqual(await sorted(join(dir, 'clip')), ['img_0002.png', 'img_0040.png']);

    const out = new S3Destination('s3://frames/named', { client: s3.client });
    await runBatch([url], { out, frames: [2, 40], nameTemplate, concurrency: 1 });
    assert.deepEqual(await s3.keys('frames', 'named/clip/'), ['named/clip/img_0002.png', 'named/clip/img_0040.png']);
    const putsBefore = (await s3.puts()).length;
    const summary = await runBatch([url], { out, frames: [2, 3, 40], nameTemplate, concurrency: 1 });
    assert.equal(summary.videos[0]!.frames, 3);
    assert.deepEqual((await s3.puts()).slice(putsBefore), ['named/clip/img_0003.png', 'named/batch.jsonl']);
    const { body } = await s3.get('frames', 'named/clip/img_0003.png');
    assert.deepEqual(await readCodes([await saveTemp(body)]), [3]);
  });
});

async function saveTemp(body: Buffer): Promise<string> {
  const path = join(work, `object-${Date.now()}.png`);
  await writeFile(path, body);
  return path;
}

test('a queued batch: the job records carry the template, and the worker names the files by it', async () => {
  const redis = await startRedis({ port: 6423 });
  try {
    const out = join(work, 'queued');
    await assert.rejects(enqueue([url], { redis: redis.url, out, nameTemplate: '../{index}.{ext}' }), { code: ErrorCode.INVALID_OPTION, option: 'nameTemplate' });
    const batch = await enqueue([url], { redis: redis.url, out, frames: [0, 59], nameTemplate: 'q{index:03}.{ext}', ext: 'jpg' });
    await runWorker({ redis: redis.url, exitWhenIdle: true });
    assert.equal((await queueStatus({ redis: redis.url, batch }))[0]!.done, true);
    assert.deepEqual(await sorted(join(out, 'clip')), ['q000.jpg', 'q059.jpg']);
    assert.deepEqual(await readCodes([join(out, 'clip', 'q000.jpg'), join(out, 'clip', 'q059.jpg')]), [0, 59]);
  } finally {
    await redis.close();
  }
});

test('a Supervisely video: the SDK-shaped call takes nameTemplate', async () => {
  const server = await startStandInServer({ videos: { 7: { path: clip } } });
  try {
    const api = new SuperviselyApi({ serverAddress: server.address, token: server.token });
    const outputDir = join(work, 'supervisely');
    const paths = await streamSuperviselyFramesToDir({ api, videoId: 7, outputDir, frames: [4, 8], nameTemplate: 'sly_{index:02}.{ext}' });
    assert.deepEqual(paths, [join(outputDir, 'sly_04.png'), join(outputDir, 'sly_08.png')]);
    assert.deepEqual(await readCodes(paths), [4, 8]);
    await assert.rejects(streamSuperviselyFramesToDir({ api, videoId: 7, outputDir, nameTemplate: 'sly.{ext}' }), { code: ErrorCode.INVALID_OPTION, option: 'nameTemplate' });
  } finally {
    await server.close();
  }
});
