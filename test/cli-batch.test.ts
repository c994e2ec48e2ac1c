/**
 * `framepipe batch` run as users run it (a spawned bin): videos over loopback HTTP and from disk, a list file and
 * stdin, failures with their codes, Ctrl-C mid-batch and a second run that finishes, a Supervisely dataset listed in
 * pages with the token from the environment.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH_FILE_NAME } from '@framepipe/batch';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import { H264_1080P, H264_MKV, H264_MP4_FASTSTART, H264_MP4_MOOV_END, H264_TS, VP9_WEBM, makeFixture } from './support/fixtures.ts';
import { assertFrames, batchReportLines, indexInName, readCodes, removeDir, serveFixtures, silentWav, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import type { RangeServer } from './support/range-server.ts';
import { S3_CREDENTIALS, startS3Server } from './support/s3-server.ts';
import { BIN, assertUsageErrors, runScript } from './support/run-script.ts';

const START = 5;
const END = 24;
const SELECTED = Array.from({ length: END - START + 1 }, (_, i) => START + i);

let server: RangeServer;
let work: string;
let files: { jump: string; turn: string; sound: string; long1: string; long2: string };

before(async () => {
  ({ server } = await serveFixtures({ 'v/walk.mp4': H264_MP4_MOOV_END, 'v/cam.ts': H264_TS, 'v/run.webm': VP9_WEBM, 'v/long0.mp4': H264_1080P }));
  work = await tempDir('framepipe-cli-batch-');
  await mkdir(join(work, 'in'));
  files = { jump: join(work, 'in', 'jump.mp4'), turn: join(work, 'in', 'turn.mkv'), sound: join(work, 'in', 'sound.wav'), long1: join(work, 'in', 'long1.mp4'), long2: join(work, 'in', 'long2.mp4') };
  await copyFile(await makeFixture(H264_MP4_FASTSTART), files.jump);
  await copyFile(await makeFixture(H264_MKV), files.turn);
  await copyFile(await makeFixture(H264_1080P), files.long1);
  await copyFile(await makeFixture(H264_1080P), files.long2);
  await writeFile(files.sound, silentWav());
});
after(async () => {
  await server.close();
  await removeDir(work);
});


/** Every file under `dir`, as paths relative to it, with its modification time. */
async function mtimes(dir: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) times.set(join(entry.parentPath, entry.name), (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return times;
}

describe('framepipe batch', () => {
  test('videos over HTTP and from disk: every frame right, one progress display, batch.jsonl exact; a second run writes nothing', async () => {
    const out = join(work, 'four');
    const sources = [server.url('/v/walk.mp4'), files.jump, server.url('/v/cam.ts'), files.turn];
    const args = ['batch', ...sources, '--out', out, '--start', String(START), '--end', String(END), '--concurrency', '2'];
    const first = await runScript(BIN, [...args, '--ext', 'png', '--progress-interval', '0.05']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^4 videos done: 80 frames saved to ${out} in [\\d.]+ s; report in ${join(out, BATCH_FILE_NAME)}\\n$`));
    const names = ['walk', 'jump', 'cam', 'turn'];
    for (const name of names) await assertFrames(join(out, name), SELECTED);
    assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, ...names].sort());
    assert.deepEqual(await batchReportLines(out), sources.map((source, i) => ({ source, name: names[i], frames: 20, status: 'done' })));
    // Off a terminal: plain lines of the whole batch, the last one with every video and frame.
    const lines = first.stderr.split('\n').filter(Boolean);
    assert.ok(lines.length >= 2, first.stderr);
    for (const line of lines) assert.match(line, /^Saving frames: \d+ frames, [0-4]\/4 videos, ([\d.]+|-) frames\/s, (done in )?[\d.]+ s$/);
    assert.match(lines.at(-1)!, /^Saving frames: 80 frames, 4\/4 videos, [\d.]+ frames\/s, done in [\d.]+ s$/);

    const before = await mtimes(out);
    const again = await runScript(BIN, [...args, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), ['videos', 'done', 'failed', 'framesWritten', 'framesReused', 'outputDir', 'report', 'seconds', 'failures']);
    assert.deepEqual([summary.videos, summary.done, summary.failed, summary.framesWritten, summary.framesReused], [4, 4, 0, 0, 80]);
    assert.deepEqual([summary.outputDir, summary.report, summary.failures], [out, join(out, BATCH_FILE_NAME), []]);
    const afterwards = await mtimes(out);
    for (const [file, mtime] of before) if (!file.endsWith(BATCH_FILE_NAME)) assert.equal(afterwards.get(file), mtime, `${file} was not written again`);
    assert.equal(afterwards.size, before.size, 'no file more');
    const quiet = await runScript(BIN, [...args, '-q']);
    assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, '', '']);
  });

  test('--from-file reads one source per line, skipping blank lines and # comments; - reads stdin', async () => {
    const list = join(work, 'videos.txt');
    await writeFile(list, `# clips for the demo\n${server.url('/v/run.webm')}\n\n   ${files.turn}  \r\n# ${files.jump}\n`);
    const out = join(work, 'listed');
    const fromFile = await runScript(BIN, ['batch', '--from-file', list, '-o', out, '--start', String(START), '--end', String(END), '--ext', 'jpg', '-q']);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, 'run', 'turn']);
    for (const name of ['run', 'turn']) assert.deepEqual((await readdir(join(out, name))).map(indexInName), SELECTED);
    assert.deepEqual(await readCodes((await readdir(join(out, 'turn'))).sort().map((name) => join(out, 'turn', name))), SELECTED);

    const piped = join(work, 'piped');
    const stdin = await runScript(BIN, ['batch', '--from-file', '-', '-o', piped, '--frames', '3,40', '--json'], { input: `${files.jump}\n${server.url('/v/walk.mp4')}\n` });
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal((JSON.parse(stdin.stdout) as { framesWritten: number }).framesWritten, 4);
    for (const name of ['jump', 'walk']) await assertFrames(join(piped, name), [3, 40]);

    const empty = join(work, 'empty.txt');
    await writeFile(empty, '# nothing yet\n\n');
    const none = await runScript(BIN, ['batch', '--from-file', empty, '-o', join(work, 'none')]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, `ERR_FRAMEPIPE_INVALID_OPTION ${empty} (--from-file) names no video: put one URL or path per line\n`);
    const missing = await runScript(BIN, ['batch', '--from-file', join(work, 'nope.txt'), '-o', join(work, 'none')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^ERR_FRAMEPIPE_FILE_NOT_FOUND Cannot read the list of videos .*nope\.txt \(--from-file\): ENOENT/);
    await assert.rejects(stat(join(work, 'none')), { code: 'ENOENT' }, 'nothing was created');
  });

  test('a 404 and a file with no video: the others complete, exit 1, each failure named with its code on stderr, in --json and in batch.jsonl', async () => {
    const out = join(work, 'failures');
    const sources = [server.url('/v/walk.mp4'), server.url('/v/gone.mp4'), files.sound, files.turn];
    const result = await runScript(BIN, ['batch', ...sources, '-o', out, '--end', '9', '--retries', '0']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, new RegExp(`^2 of 4 videos done, 2 failed: 20 frames saved to ${out} in [\\d.]+ s; report in `));
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('ERR_'));
    assert.equal(errors.length, 2, result.stderr);
    assert.match(errors[0]!, new RegExp(`^ERR_FRAMEPIPE_HTTP_STATUS gone: .*404.*${server.url('/v/gone.mp4').replace(/[.?]/g, '\\$&')}`));
    assert.match(errors[1]!, /^ERR_FRAMEPIPE_NO_VIDEO_STREAM sound: /);
    assert.deepEqual(await batchReportLines(out), [
      { source: sources[0], name: 'walk', frames: 10, status: 'done' },
      { source: sources[1], name: 'gone', frames: 0, status: 'failed', code: 'ERR_FRAMEPIPE_HTTP_STATUS' },
      { source: files.sound, name: 'sound', frames: 0, status: 'failed', code: 'ERR_FRAMEPIPE_NO_VIDEO_STREAM' },
      { source: files.turn, name: 'turn', frames: 10, status: 'done' },
    ]);
    for (const name of ['walk', 'turn']) await assertFrames(join(out, name), [...Array(10).keys()]);

    const json = await runScript(BIN, ['batch', ...sources, '-o', out, '--end', '9', '--retries', '0', '--json', '-q']);
    assert.equal(json.code, 1);
    const summary = JSON.parse(json.stdout) as { failures: Array<Record<string, string>>; done: number; failed: number; framesReused: number };
    assert.deepEqual([summary.done, summary.failed, summary.framesReused], [2, 2, 20]);
    assert.deepEqual(summary.failures.map(({ name, source, code }) => ({ name, source, code })), [
      { name: 'gone', source: sources[1], code: 'ERR_FRAMEPIPE_HTTP_STATUS' },
      { name: 'sound', source: files.sound, code: 'ERR_FRAMEPIPE_NO_VIDEO_STREAM' },
    ]);
    assert.equal(json.stderr.split('\n').filter((line) => line.startsWith('ERR_')).length, 2, '--quiet still names each failure');
  });

  for (const [signal, exit] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${signal} mid-batch: exit ${exit}, only complete files, no batch.jsonl${signal === 'SIGINT' ? '; a second run writes only the rest' : ''}`, async () => {
      const out = join(work, `interrupted-${signal}`);
      const sources = [server.url('/v/long0.mp4'), files.long1, files.long2];
      const args = ['batch', ...sources, '-o', out, '--concurrency', '2', '--max-write-workers', '1', '--ext', 'jpg'];
      let sent = false;
      const result = await runScript(BIN, [...args, '--json'], {
        onSpawn: (child) => {
          void (async () => {
            while (!sent && child.exitCode === null) {
              const written = (await readdir(out, { recursive: true }).catch(() => [] as string[])).filter((name) => /frame_\d+\.jpg$/.test(name));
              if (written.length >= 6) sent = child.kill(signal);
              else await sleep(20);
            }
          })();
        },
      });
      assert.ok(sent, 'the batch was still going when interrupted');
      assert.equal(result.code, exit, result.stderr);
      assert.match(result.stderr, new RegExp(`^ERR_FRAMEPIPE_ABORTED The operation was aborted: Interrupted by ${signal}$`, 'm'));
      const said = /^Interrupted: the (\d+) frame files this run wrote are complete and kept under (.*); run the same command again to finish$/m.exec(result.stderr);
      assert.ok(said, result.stderr);
      assert.equal(said[2], out);
      assert.ok(!(await readdir(out)).includes(BATCH_FILE_NAME), 'no report for a batch that did not end');
      let kept = 0;
      for (const name of await readdir(out)) {
        const dir = join(out, name);
        assert.deepEqual(await strayFiles(dir), [], `no temporary file in ${name}`);
        const names = (await readdir(dir)).sort();
        kept += names.length;
        assert.deepEqual(await readCodes(names.map((file) => join(dir, file))), names.map(indexInName), `every file of ${name} is complete`);
      }
      assert.equal(kept, Number(said[1]));
      assert.ok(kept >= 6 && kept < 750, `${kept} files kept`);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual([summary.videos, summary.framesWritten, summary.interrupted], [3, kept, true]);
      assert.deepEqual(summary.error, { code: 'ERR_FRAMEPIPE_ABORTED', message: `The operation was aborted: Interrupted by ${signal}` });
      // One run again is enough to show that what an interrupt leaves resumes.
      if (signal === 'SIGTERM') return;

      const again = await runScript(BIN, [...args, '--json']);
      assert.equal(again.code, 0, again.stderr);
      const done = JSON.parse(again.stdout) as Record<string, number>;
      assert.deepEqual([done.done, done.framesReused, done.framesWritten], [3, kept, 750 - kept]);
      for (const name of ['long0', 'long1', 'long2']) assert.equal((await readdir(join(out, name))).length, 250);
      for (const name of ['long0', 'long2']) {
        const frames = [0, 1, 99, 100, 249];
        assert.deepEqual(await readCodes(frames.map((i) => join(out, name, `frame_${String(i).padStart(6, '0')}.jpg`))), frames);
      }
    });
  }

  test('--dataset-id: every video of the dataset, listed page after page; credentials from the environment; the token in no output', async () => {
    const sample = await makeFixture(H264_MP4_MOOV_END);
    const videos = { 11: { path: sample }, 12: { path: files.turn }, 13: { path: sample }, 14: { path: sample, datasetId: 9 }, 15: { path: files.jump }, 16: { path: sample, ready: false } };
    const standIn = await startStandInServer({ videos: Object.fromEntries(Object.entries(videos).map(([id, v]) => [id, { datasetId: 3, ...v }])), perPage: 2 });
    try {
      const out = join(work, 'dataset');
      const env = { SERVER_ADDRESS: standIn.address, API_TOKEN: standIn.token };
      const result = await runScript(BIN, ['batch', '--dataset-id', '3', '-o', out, '--start', String(START), '--end', String(END), '--retries', '0'], { env });
      assert.equal(result.code, 1, result.stderr);
      const lists = standIn.requests.filter((request) => request.path === '/public/api/v3/videos.list');
      assert.deepEqual(lists.map((request) => [request.body?.['page'], request.body?.['per_page']]), [[1, undefined], [2, 2], [3, 2]]);
      assert.deepEqual(await batchReportLines(out), [
        ...[11, 12, 13, 15].map((id) => ({ source: `supervisely:video/${id}`, name: String(id), frames: 20, status: 'done' })),
        { source: 'supervisely:video/16', name: '16', frames: 0, status: 'failed', code: 'ERR_FRAMEPIPE_VIDEO_NOT_READY' },
      ]);
      for (const id of [11, 12, 13, 15]) await assertFrames(join(out, String(id)), SELECTED);
      assert.match(result.stderr, /^ERR_FRAMEPIPE_VIDEO_NOT_READY 16: /m);
      assert.ok(standIn.requests.every((request) => request.apiKey === standIn.token));
      for (const text of [result.stdout, result.stderr]) assert.ok(!text.includes(standIn.token), 'the token is not printed');
      const token = Buffer.from(standIn.token);
      for (const file of (await readdir(out, { recursive: true })).map((name) => join(out, name))) {
        if ((await stat(file)).isFile()) assert.equal((await readFile(file)).indexOf(token), -1, `${file} holds no token`);
      }

      const unknown = await runScript(BIN, ['batch', '--dataset-id', '4', '-o', join(work, 'dataset-4'), '--retries', '0'], { env });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^ERR_FRAMEPIPE_HTTP_STATUS No dataset with id 4 is visible to this API token/);
      const nowhere = join(work, 'empty-home');
      await mkdir(nowhere, { recursive: true });
      const missing = await runScript(BIN, ['batch', '--dataset-id', '3', '-o', join(work, 'dataset-x')], { home: nowhere, cwd: nowhere });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /^ERR_FRAMEPIPE_MISSING_CREDENTIALS .*--server-address and --api-token\n$/);
      await assert.rejects(stat(join(work, 'dataset-x')), { code: 'ENOENT' }, 'nothing was created');
      const wrong = await runScript(BIN, ['batch', '--dataset-id', '3', '-o', join(work, 'dataset-x'), '--api-token', 'not-the-token-1234'], { env });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^ERR_FRAMEPIPE_AUTH_FAILED /);
      assert.ok(!wrong.stderr.includes('not-the-token-1234') && !wrong.stderr.includes(standIn.token), 'no token in the message');
      const flags = await runScript(BIN, ['batch', '--dataset-id', '9', '-o', join(work, 'dataset-9'), '--end', '2', '--server-address', standIn.address, '--api-token', standIn.token, '-q'], { home: nowhere, cwd: nowhere });
      assert.equal(flags.code, 0, flags.stderr);
      await assertFrames(join(work, 'dataset-9', '14'), [0, 1, 2]);
    } finally {
      await standIn.close();
    }
  });

  test('--out s3://bucket/prefix: the frames as objects, batch.jsonl beside them, no secret printed; a second run puts nothing', async () => {
    const s3 = await startS3Server(['frames']);
    try {
      const { env } = s3;
      const args = ['batch', server.url('/v/walk.mp4'), files.turn, '--out', 's3://frames/cli', '--end', '4', '--ext', 'jpg'];
      const first = await runScript(BIN, args, { env });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout.replace(/in [\d.]+ s/, 'in T s'), '2 videos done: 10 frames saved to s3://frames/cli in T s; report in s3://frames/cli/batch.jsonl\n');
      const names = [0, 1, 2, 3, 4].map((i) => `frame_00000${i}.jpg`);
      assert.deepEqual(await s3.keys('frames', 'cli/'), ['cli/batch.jsonl', ...names.map((n) => `cli/turn/${n}`), ...names.map((n) => `cli/walk/${n}`)].sort());
      const copies = join(work, 's3-copies');
      await mkdir(copies, { recursive: true });
      for (const name of names) await writeFile(join(copies, name), (await s3.get('frames', `cli/walk/${name}`)).body);
      assert.deepEqual(await readCodes(names.map((name) => join(copies, name))), [0, 1, 2, 3, 4]);
      const report = (await s3.get('frames', 'cli/batch.jsonl')).body.toString();
      assert.equal(report, `${JSON.stringify({ source: server.url('/v/walk.mp4'), name: 'walk', frames: 5, status: 'done' })}\n${JSON.stringify({ source: files.turn, name: 'turn', frames: 5, status: 'done' })}\n`);
      const puts = (await s3.puts()).length;
      const again = await runScript(BIN, [...args, '--json'], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual((JSON.parse(again.stdout) as { framesWritten: number; framesReused: number; outputDir: string }), { ...JSON.parse(again.stdout), framesWritten: 0, framesReused: 10, outputDir: 's3://frames/cli' });
      assert.deepEqual((await s3.puts()).slice(puts), ['cli/batch.jsonl'], 'only the report is put again');
      for (const text of [first.stdout, first.stderr, again.stdout, again.stderr]) assert.ok(!text.includes(S3_CREDENTIALS.secretAccessKey));
    } finally {
      await s3.close();
    }
  });

  test('--help: the top level lists the command; batch --help shows how to give the videos and no --resume or --overwrite', async () => {
    const top = await runScript(BIN, ['--help']);
    assert.match(top.stdout, /framepipe batch \[sources\.\.\] +Save the frames of many videos/);
    const help = await runScript(BIN, ['batch', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of ['--from-file', '--dataset-id', '--server-address', '--api-token', '--concurrency', '--out', '--start', '--ext', '--header', '--json']) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    for (const flag of ['--resume', '--overwrite', '--video-id', '--show-decoding-progress']) assert.ok(!help.stdout.includes(flag), flag);
    assert.match(help.stdout, /--concurrency +Videos read at the same time \[default: one per CPU core\]/);
  });

  test('usage mistakes exit 2 and say what is wrong', async () => {
    const out = join(work, 'usage');
    const cases: Array<[string[], RegExp]> = [
      [['batch', '-o', out], /Give the videos: <source>\.\.\. \(URLs or paths\), --from-file LIST or --dataset-id N/],
      [['batch', files.turn, '--from-file', 'list.txt', '-o', out], /Give the videos one way: <source> and --from-file cannot be used together/],
      [['batch', '--dataset-id', '3', '--from-file', 'list.txt', '-o', out], /--from-file and --dataset-id cannot be used together/],
      [['batch', files.turn, '--api-token', 'x', '-o', out], /--server-address and --api-token go with --dataset-id/],
      [['batch', files.turn, '-o', out, '--resume'], /Unknown argument: resume/],
      [['batch', files.turn, '-o', out, '--overwrite'], /Unknown argument: overwrite/],
      [['batch', files.turn], /Missing required argument: --out$/m],
    ];
    await assertUsageErrors(cases);
    const concurrency = await runScript(BIN, ['batch', files.turn, '-o', out, '--concurrency', '0']);
    assert.equal(concurrency.code, 2);
    assert.equal(concurrency.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for --concurrency but received 0\n');
    const dataset = await runScript(BIN, ['batch', '--dataset-id', 'abc', '-o', out]);
    assert.equal(dataset.code, 2);
    assert.equal(dataset.stderr, 'ERR_FRAMEPIPE_INVALID_OPTION Expected a positive integer for --dataset-id but received "abc"\n');
    // Two videos that would share a directory: refused before anything is read, as a mistake in the command.
    const twice = await runScript(BIN, ['batch', files.turn, join(work, 'elsewhere', basename(files.turn)), '-o', out]);
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /^ERR_FRAMEPIPE_DUPLICATE_NAME /);
    await assert.rejects(stat(out), { code: 'ENOENT' }, 'nothing was created');
  });
});
