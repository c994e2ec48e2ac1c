/**
 * The work queue on a real Redis (Debian's redis-server on a loopback port, started here): worker processes share
 * a batch, one is killed with SIGKILL in the middle of a shard and another resumes it, and every video's files equal
 * those of one run in one process; failures that cannot pass fail once with their code; hostile names and hostile
 * job records lead nowhere; Redis with a password works.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BATCH_FILE_NAME, sourceName } from '@framepipe/batch';
import { ErrorCode } from '@framepipe/common';
import { streamVideoFramesToDir } from '@framepipe/core';
import { QUEUE_NAMES, enqueue, queueStatus, runWorker } from '@framepipe/queue';
import type { BatchStatus, WorkerEvent } from '@framepipe/queue';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { H264_MKV, H264_MP4_MOOV_END, H264_TS, SAMPLE_MP4, VP9_WEBM, makeFixture } from './support/fixtures.ts';
import type { FixtureSpec } from './support/fixtures.ts';
import { removeDir, serveFixtures, silentWav, strayFiles, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import type { RangeServer } from './support/range-server.ts';
import { startRedis } from './support/redis-server.ts';
import { startStandInServer } from '@framepipe/supervisely/stand-in';
import type { RedisServer } from './support/redis-server.ts';
import { ROOT, runScript } from './support/run-script.ts';

/** 600 frames in GOPs of 25: with 150 frames a shard, four shards that workers share. */
const LONG_MP4: FixtureSpec = { ...H264_MP4_MOOV_END, frames: 600, gop: 25 };
const WORKER = resolve(ROOT, 'test/support/queue-worker.ts');

let redis: RedisServer;
let server: RangeServer;
let work: string;
const files = { long: '', mkv: '', ts: '', wav: '' };

before(async () => {
  redis = await startRedis({ password: 's3cret pass' });
  ({ server } = await serveFixtures({ 'videos/walk.mp4': SAMPLE_MP4, 'videos/run.webm': VP9_WEBM, 'videos/%2e%2e%2fwalk.mp4': H264_TS }));
  work = await tempDir('framepipe-queue-');
  await mkdir(join(work, 'in'));
  files.long = await makeFixture(LONG_MP4);
  files.mkv = await makeFixture(H264_MKV);
  files.ts = await makeFixture(H264_TS);
  files.wav = join(work, 'in', 'silence.wav');
  await writeFile(files.wav, silentWav());
});
after(async () => {
  await server?.close();
  await redis?.close();
  await removeDir(work);
});

/** Waits for `check` to hold, polling. */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeout = 60_000): Promise<T> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Asserts that `dir` holds exactly the files of `reference`, byte for byte, and nothing else. */
async function assertSameFiles(dir: string, reference: string): Promise<number> {
  const names = (await readdir(dir)).sort();
  const expected = (await readdir(reference)).sort();
  assert.deepEqual(await strayFiles(dir), [], `${dir} holds only frame files (no temporary file)`);
  assert.deepEqual(names, expected, `${dir} holds the frames of a single run`);
  for (const name of names) assert.ok((await readFile(join(dir, name))).equals(await readFile(join(reference, name))), `${dir}/${name} equals the single run's`);
  return names.length;
}

/** Starts a worker process; its events, one JSON line each, collect in `events`. */
function startWorker(events: WorkerEvent[], concurrency = 1, env: Record<string, string> = {}): { child: Promise<ChildProcess>; done: ReturnType<typeof runScript> } {
  let spawned: (child: ChildProcess) => void;
  const child = new Promise<ChildProcess>((resolve) => (spawned = resolve));
  const done = runScript(WORKER, [redis.url, String(concurrency)], {
    env,
    onSpawn: (process) => {
      let rest = '';
      process.stdout!.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop()!;
        for (const line of lines) if (line) events.push(JSON.parse(line) as WorkerEvent);
      });
      spawned(process);
    },
  });
  return { child, done };
}

/** Every value of every key in Redis, whatever its type, as one text. */
async function everythingInRedis(): Promise<string> {
  const connection = new Redis(redis.url);
  const text: string[] = [];
  try {
    for (const key of await connection.keys('*')) {
      const type = await connection.type(key);
      if (type === 'string') text.push((await connection.get(key)) ?? '');
      else if (type === 'hash') text.push(JSON.stringify(await connection.hgetall(key)));
      else if (type === 'list') text.push(JSON.stringify(await connection.lrange(key, 0, -1)));
      else if (type === 'set') text.push(JSON.stringify(await connection.smembers(key)));
      else if (type === 'zset') text.push(JSON.stringify(await connection.zrange(key, 0, -1)));
      else if (type === 'stream') text.push(JSON.stringify(await connection.xrange(key, '-', '+')));
      else assert.fail(`a key of type ${type}: ${key}`);
    }
  } finally {
    await connection.quit();
  }
  return text.join('\n');
}

async function statusOf(batch: string): Promise<BatchStatus> {
  const [status] = await queueStatus({ redis: redis.url, batch });
  return status!;
}

describe('the work queue on Redis', () => {
  test('3 worker processes over 5 videos and 2 failing sources, one worker killed mid-shard: every frame once, status done', async () => {
    const out = join(work, 'distributed');
    const walk = new URL(server.url('/videos/walk.mp4'));
    walk.username = 'user';
    walk.password = 'pass-word';
    const missing = server.url('/videos/gone.mp4');
    const sources = [files.long, walk.href, server.url('/videos/run.webm'), files.mkv, files.ts, missing, files.wav];
    const batch = await enqueue(sources, { redis: redis.url, out, shardFrames: 150, attempts: 4, backoff: 200 });
    assert.match(batch, /^[0-9a-f]{16}$/);

    // One worker alone first, so that it takes the long video's first shard; killed once it has written some of it.
    const events: WorkerEvent[] = [];
    const first = startWorker(events);
    const victim = await first.child;
    const longDir = join(out, sourceName(files.long));
    const written = await until('the first worker to write frames of the long video', async () => {
      const count = (await readdir(longDir).catch(() => [])).filter((name) => name.startsWith('frame_')).length;
      return count >= 20 && count;
    });
    victim.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(written < 150, `killed in the middle of its first shard (${written} of 150 frames written)`);
    const running = await statusOf(batch);
    assert.equal(running.done, false);

    const others = [startWorker(events), startWorker(events, 2)];
    const results = await Promise.all(others.map((worker) => worker.done));
    for (const result of results) assert.equal(result.code, 0, result.stderr);

    const status = await statusOf(batch);
    assert.equal(status.done, true);
    assert.deepEqual(status.videos, { total: 7, waiting: 0, active: 0, done: 5, failed: 2 });
    // The long video in 4 shards of 150 frames, the others in 1 each.
    assert.deepEqual(status.shards, { total: 8, waiting: 0, active: 0, done: 8, failed: 0 });
    assert.deepEqual(
      status.failures.map(({ name, code, attempts }) => ({ name, code, attempts })).sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { name: 'gone', code: ErrorCode.HTTP_STATUS, attempts: 1 },
        { name: 'silence', code: ErrorCode.NO_VIDEO_STREAM, attempts: 1 },
      ],
    );
    // No retry storm: the 404 was asked for once (a range request, then no more).
    assert.equal(server.requests.filter((request) => request.path === '/videos/gone.mp4').length, 1);

    // The shard the killed worker held was run again, resuming: it kept the frames already written.
    const resumed = events.filter((event) => event.type === 'shard-done' && event.shard === 0 && event.name === sourceName(files.long));
    assert.equal(resumed.length, 1);
    assert.ok(resumed[0]!.type === 'shard-done' && resumed[0]!.written < resumed[0]!.frames, `the resumed shard wrote only the missing frames (${JSON.stringify(resumed[0])})`);

    // Every video's files equal those of one run in one process.
    let frames = 0;
    for (const source of sources.slice(0, 5)) {
      const name = sourceName(source);
      const reference = join(work, 'single', name);
      await streamVideoFramesToDir(source, reference);
      frames += await assertSameFiles(join(out, name), reference);
    }
    assert.equal(status.frames, frames);
    assert.deepEqual((await readdir(out)).sort(), [BATCH_FILE_NAME, ...sources.slice(0, 5).map((source) => sourceName(source))].sort());

    const report = (await readFile(join(out, BATCH_FILE_NAME), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(
      report.map(({ name, frames, status, code }) => ({ name, frames, status, code })),
      [
        { name: sourceName(files.long), frames: 600, status: 'done', code: undefined },
        { name: 'walk', frames: 150, status: 'done', code: undefined },
        { name: 'run', frames: 60, status: 'done', code: undefined },
        { name: sourceName(files.mkv), frames: 60, status: 'done', code: undefined },
        { name: sourceName(files.ts), frames: 60, status: 'done', code: undefined },
        { name: 'gone', frames: 0, status: 'failed', code: ErrorCode.HTTP_STATUS },
        { name: 'silence', frames: 0, status: 'failed', code: ErrorCode.NO_VIDEO_STREAM },
      ],
    );
    // The URL's credentials are in no report, status or log line.
    const shown = JSON.stringify([report, status, events]);
    assert.ok(!shown.includes('pass-word') && !shown.includes('s3cret'), 'no credential shown');
    assert.ok(report[1].source.startsWith('http://127.0.0.1'), report[1].source);
  });

  test('hostile names stay inside out, and a hostile job record fails alone, with its code, while the batch completes', async () => {
    const out = join(work, 'hostile');
    const long = 'a'.repeat(240);
    await writeFile(join(work, 'in', `${long}.mp4`), await readFile(files.ts));
    await writeFile(join(work, 'in', '..dots.mp4'), await readFile(files.ts));
    const sources = [join(work, 'in', `${long}.mp4`), `${join(work, 'in')}/../in/..dots.mp4`, server.url('/videos/%2e%2e%2fwalk.mp4')];
    const before = (await readdir(work)).sort();
    const batch = await enqueue(sources, { redis: redis.url, out, attempts: 3, backoff: 100 });

    // Records no enqueue writes: a name that leaves out, a relative out, a source of another scheme, headers.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queues = Object.values(QUEUE_NAMES).map((name) => new Queue(name, { connection }));
    const [plans, shards, videos] = queues as [Queue, Queue, Queue];
    const good = { batch, video: 0, source: files.ts, name: sourceName(files.ts), out, options: {}, shard: 0, selection: {} };
    const hostile: Array<[Queue, string, unknown]> = [
      [shards, 'name-escapes', { ...good, name: '../../escaped' }],
      [shards, 'relative-out', { ...good, out: 'relative/out' }],
      [shards, 'ftp-source', { ...good, source: 'ftp://h/x.mp4', name: 'x' }],
      [shards, 'headers-option', { ...good, options: { headers: { authorization: 'x' } } }],
      [shards, 'not-an-object', 'just text'],
      [shards, 'partial-index-shape', { ...good, selection: { start: 0, end: 11 }, partialIndex: { first: 0 } }],
      // Frames 0..11 numbered from a keyframe, for a selection up to frame 40: frames past 11 would have no number.
      [shards, 'partial-index-short', { ...good, selection: { start: 0, end: 40 }, partialIndex: { first: 0, pts: [[0, 3600, 12]], keyframe: { pts: 0, dts: -3600, pos: 564 }, end: null, cut: false } }],
      [plans, 'plan-name-escapes', { ...good, name: '..', shardFrames: 10, retry: { attempts: 1, backoff: 0 } }],
      [plans, 'plan-no-retry', { ...good, shardFrames: 10 }],
      [videos, 'video-no-shards', { ...good, shards: 'many' }],
    ];
    try {
      for (const [queue, id, data] of hostile) await queue.add('job', data, { jobId: id, attempts: 3 });
      await runWorker({ redis: redis.url, exitWhenIdle: true, lockDuration: 2000, stalledInterval: 1000 });
      for (const [queue, id] of hostile) {
        const job = (await queue.getJob(id))!;
        assert.equal(await job.getState(), 'failed', id);
        assert.equal(job.attemptsMade, 1, `${id} was tried once`);
        assert.match(job.failedReason, /^ERR_FRAMEPIPE_INVALID_JOB: Job \S+ is not a job framepipe can run/, id);
      }
    } finally {
      for (const queue of queues) await queue.close();
      await connection.quit();
    }

    const status = await statusOf(batch);
    assert.equal(status.done, true);
    assert.deepEqual(status.videos, { total: 3, waiting: 0, active: 0, done: 3, failed: 0 });
    const names = (await readdir(out)).sort();
    assert.deepEqual(names, [BATCH_FILE_NAME, '_walk', 'dots', `${'a'.repeat(111)}-${names.find((name) => name.startsWith('aaa'))!.slice(-8)}`].sort());
    // Nothing beside out, nothing above it.
    assert.deepEqual((await readdir(work)).sort(), [...before, 'hostile'].sort());
  });

  test('a plan job run again (its worker died once it had added the shards) adds no shard twice and keeps the count', async () => {
    const out = join(work, 'replanned');
    const batch = await enqueue([files.ts], { redis: redis.url, out, shardFrames: 20 });
    const quick = { redis: redis.url, exitWhenIdle: true, lockDuration: 2000, stalledInterval: 1000 };
    await runWorker(quick);
    // 60 frames in GOPs of 12: shards of 24, 24 and 12 frames.
    assert.deepEqual((await statusOf(batch)).shards, { total: 3, waiting: 0, active: 0, done: 3, failed: 0 });
    // MPEG-TS has no sample tables: each shard's record carries the frame numbers and keyframe the plan found, in a few
    // dozen bytes, and the shards, which no longer scan the file, write the files of one run.
    const reference = join(work, 'single-ts');
    await streamVideoFramesToDir(files.ts, reference);
    await assertSameFiles(join(out, sourceName(files.ts)), reference);

    // As if the worker had died between adding the flow and counting its shards, and the plan ran again.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    await connection.hdel(`framepipe:batch:${batch}:planned`, '0');
    const plans = new Queue(QUEUE_NAMES.plans, { connection });
    const shards = new Queue(QUEUE_NAMES.shards, { connection });
    try {
      const data = { batch, video: 0, source: files.ts, name: sourceName(files.ts), out, options: {}, shardFrames: 20, retry: { attempts: 5, backoff: 5000 } };
      await plans.add('plan', data, { jobId: `${batch}-again` });
      await runWorker(quick);
      assert.equal(await (await plans.getJob(`${batch}-again`))!.getState(), 'completed');
      const shardJobs = await shards.getJobs(['completed', 'wait', 'active', 'failed']);
      assert.equal(shardJobs.filter((job) => job.id!.startsWith(`${batch}-`)).length, 3);
      for (const job of shardJobs.filter((job) => job.id!.startsWith(`${batch}-`))) {
        const partial = JSON.stringify((job.data as { partialIndex?: unknown }).partialIndex);
        assert.ok(partial && partial.length < 160, `${job.id}: ${partial}`);
      }
      assert.deepEqual((await statusOf(batch)).shards, { total: 3, waiting: 0, active: 0, done: 3, failed: 0 });
    } finally {
      await plans.close();
      await shards.close();
      await connection.quit();
    }
  });

  test('a failure that may pass is tried attempts times with backoff, then fails its video for good with its code', async () => {
    const flaky = await startRangeServer({ files: { '/busy.mp4': await makeFixture(SAMPLE_MP4) }, status: { '/busy.mp4': 503 } });
    try {
      const out = join(work, 'retried');
      // retries: 0, so that each try of the job is one request.
      const batch = await enqueue([flaky.url('/busy.mp4'), files.ts], { redis: redis.url, out, attempts: 3, backoff: 100, retries: 0 });
      const events: WorkerEvent[] = [];
      await runWorker({ redis: redis.url, exitWhenIdle: true, lockDuration: 2000, stalledInterval: 1000, onEvent: (event) => events.push(event) });
      const status = await statusOf(batch);
      assert.equal(status.done, true);
      assert.deepEqual(status.videos, { total: 2, waiting: 0, active: 0, done: 1, failed: 1 });
      assert.deepEqual(status.failures.map(({ name, code, attempts }) => ({ name, code, attempts })), [{ name: 'busy', code: ErrorCode.HTTP_STATUS, attempts: 3 }]);
      assert.equal(flaky.requests.length, 3, 'one request a try');
      assert.deepEqual(events.filter((event) => event.type === 'failed').map((event) => event.type === 'failed' && event.final), [false, false, true]);
    } finally {
      await flaky.close();
    }
  });

  test('a batch enqueued again with another size: each shard refuses the kept files once, for good, and writes nothing', async () => {
    const out = join(work, 'resized');
    const run = async (width: number) => {
      const batch = await enqueue([files.ts], { redis: redis.url, out, size: { width }, shardFrames: 20, attempts: 3, backoff: 100 });
      const events: WorkerEvent[] = [];
      await runWorker({ redis: redis.url, exitWhenIdle: true, lockDuration: 2000, stalledInterval: 1000, onEvent: (event) => events.push(event) });
      return { status: await statusOf(batch), events };
    };
    const first = await run(160);
    assert.deepEqual(first.status.videos, { total: 1, waiting: 0, active: 0, done: 1, failed: 0 });
    const dir = join(out, sourceName(files.ts));
    const kept = new Map<string, Buffer>();
    for (const name of await readdir(dir)) kept.set(name, await readFile(join(dir, name)));
    const again = await run(200);
    assert.deepEqual(again.status.videos, { total: 1, waiting: 0, active: 0, done: 0, failed: 1 });
    // 60 frames in shards of 20: each shard refused, each tried once.
    const once = { code: ErrorCode.RESUME_MISMATCH, attempts: 1 };
    assert.deepEqual(again.status.failures.map(({ code, attempts }) => ({ code, attempts })), [once, once, once]);
    const failed = again.events.filter((event) => event.type === 'failed');
    assert.ok(failed.length > 0 && failed.every((event) => event.type === 'failed' && event.code === ErrorCode.RESUME_MISMATCH && event.final), JSON.stringify(failed));
    assert.match(failed[0]!.type === 'failed' ? failed[0]!.message : '', /holds 160×120 RGB 8-bit, but this run makes 200×150 RGB 8-bit .*: a batch keeps the files a video already has/);
    assert.deepEqual((await readdir(dir)).sort(), [...kept.keys()].sort(), 'no file added or removed');
    for (const [name, bytes] of kept) assert.ok((await readFile(join(dir, name))).equals(bytes), `${name} unchanged`);
  });

  test("a worker's request headers read the video and never reach Redis", async () => {
    const secret = 'Bearer t0ken-never-in-redis';
    const locked = await startRangeServer({ files: { '/private/clip.mp4': await makeFixture(SAMPLE_MP4) }, requireHeaders: { authorization: secret } });
    try {
      const out = join(work, 'headers');
      const batch = await enqueue([locked.url('/private/clip.mp4')], { redis: redis.url, out, shardFrames: 50 });
      await runWorker({ redis: redis.url, exitWhenIdle: true, headers: { authorization: secret }, lockDuration: 2000, stalledInterval: 1000 });
      const status = await statusOf(batch);
      assert.equal(status.done, true);
      assert.deepEqual(status.shards, { total: 3, waiting: 0, active: 0, done: 3, failed: 0 });
      assert.ok(locked.requests.every((request) => request.headers.authorization === secret));

      const text = await everythingInRedis();
      assert.ok(text.includes('/private/clip.mp4'), 'the dump holds the job records');
      assert.ok(!text.includes('t0ken'), 'no request header in Redis');
    } finally {
      await locked.close();
    }
  });

  test('Supervisely videos by id: each worker reads them with the credentials of its environment; no token reaches Redis', async () => {
    const standIn = await startStandInServer({ videos: { 11: { path: await makeFixture(SAMPLE_MP4) }, 12: { path: files.mkv }, 16: { path: files.ts, ready: false } } });
    try {
      const out = join(work, 'supervisely');
      // Enqueued with no credentials at all: only the workers have them.
      const batch = await enqueue([{ videoId: 11 }, { videoId: 12 }, { videoId: 16 }], { redis: redis.url, out, shardFrames: 50, attempts: 1 });
      const events: WorkerEvent[] = [];
      const result = await startWorker(events, 2, { SERVER_ADDRESS: standIn.address, API_TOKEN: standIn.token }).done;
      assert.equal(result.code, 0, result.stderr);
      const status = await statusOf(batch);
      assert.equal(status.done, true);
      assert.deepEqual(status.videos, { total: 3, waiting: 0, active: 0, done: 2, failed: 1 });
      assert.deepEqual(status.shards, { total: 4, waiting: 0, active: 0, done: 4, failed: 0 });
      const report = (await readFile(join(out, BATCH_FILE_NAME), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line));
      assert.deepEqual(report, [
        { source: 'supervisely:video/11', name: '11', frames: 150, status: 'done' },
        { source: 'supervisely:video/12', name: '12', frames: 60, status: 'done' },
        { source: 'supervisely:video/16', name: '16', frames: 0, status: 'failed', code: ErrorCode.VIDEO_NOT_READY },
      ]);
      for (const [id, source] of [[11, await makeFixture(SAMPLE_MP4)], [12, files.mkv]] as const) {
        const reference = join(work, 'single', `supervisely-${id}`);
        await streamVideoFramesToDir(source, reference);
        await assertSameFiles(join(out, String(id)), reference);
      }
      assert.ok(standIn.requests.every((request) => request.apiKey === standIn.token));
      assert.ok(!(await everythingInRedis()).includes(standIn.token), 'no token in Redis');
      assert.ok(!JSON.stringify([events, result.stdout, result.stderr]).includes(standIn.token), 'no token in the log');
    } finally {
      await standIn.close();
    }
  });

  test('bad options and sources are refused before anything is added', async () => {
    const out = join(work, 'refused');
    await assert.rejects(enqueue([files.ts], { redis: redis.url, out, headers: { authorization: 'Bearer t' } } as never), {
      code: ErrorCode.INVALID_OPTION,
      message: /headers.*runWorker\(\{ headers \}\)/,
    });
    await assert.rejects(enqueue([{ url: server.url('/videos/walk.mp4'), headers: { authorization: 'Bearer t' } }], { redis: redis.url, out }), {
      code: ErrorCode.INVALID_OPTION,
    });
    await assert.rejects(enqueue([files.ts, `${work}/other/${files.ts.split('/').pop()}`], { redis: redis.url, out }), { code: ErrorCode.DUPLICATE_NAME });
    await assert.rejects(enqueue([files.ts], { redis: 'http://127.0.0.1', out }), { code: ErrorCode.INVALID_OPTION, message: /redis/ });
    const wrong = new URL(redis.url);
    wrong.password = 'wrong';
    const error = await enqueue([files.ts], { redis: wrong.href, out }).then(
      () => assert.fail('a wrong password is refused'),
      (error: unknown) => error as Error & { code: string },
    );
    assert.equal(error.code, ErrorCode.AUTH_FAILED);
    assert.match(error.message, /^Cannot log in to Redis at redis:\/\/127\.0\.0\.1:\d+\/?: WRONGPASS/);
    assert.ok(!error.message.includes('wrong@'), error.message);
    const none = new URL(redis.url);
    none.password = '';
    await assert.rejects(enqueue([files.ts], { redis: none.href, out }), { code: ErrorCode.AUTH_FAILED, message: /NOAUTH/ });
  });
});
