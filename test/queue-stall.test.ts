/**
 * A job that stalls more often than maxStalledCount allows (its worker killed each time, say by the OOM killer on a
 * video too big for it) is failed by BullMQ without running framepipe's processor: the batch must still record it
 * as a failure, not report its video done.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BATCH_FILE_NAME, sourceName } from '@framepipe/batch';
import { enqueue, queueStatus } from '@framepipe/queue';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRangeServer } from './support/range-server.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { ROOT, runScript } from './support/run-script.ts';

const WORKER = resolve(ROOT, 'test/support/queue-worker.ts');
/** Arguments of a worker on `redis` that lets no job stall: one concurrency, maxStalledCount 0. */
const strict = (url: string) => [url, '1', '0'];
let redis: RedisServer;
let work: string;
let long: string;

before(async () => {
  redis = await startRedis();
  work = await tempDir('framepipe-queue-stall-');
  long = await makeFixture({ ...H264_MP4_MOOV_END, frames: 600, gop: 25 });
});
after(async () => {
  await redis?.close();
  await removeDir(work);
});

/**
 * Starts a strict worker, waits until `working` says it is under way (60 s at most), kills it with SIGKILL, then runs
 * a second strict worker to its end: the job the first held has stalled once, more than a strict worker allows.
 */
async function killWorkerThenRunAnother(working: () => Promise<boolean> | boolean, what: string): Promise<void> {
  let spawned!: (child: ChildProcess) => void;
  const child = new Promise<ChildProcess>((done) => (spawned = done));
  const first = runScript(WORKER, strict(redis.url), { onSpawn: (process) => spawned(process) });
  const deadline = Date.now() + 60_000;
  while (!(await working())) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((done) => setTimeout(done, 10));
  }
  (await child).kill('SIGKILL');
  await first;
  const second = await runScript(WORKER, strict(redis.url));
  assert.equal(second.code, 0, second.stderr);
}

test('a shard failed for stalling too often fails its video, in the status and in batch.jsonl', async () => {
  const out = join(work, 'out');
  const batch = await enqueue([long], { redis: redis.url, out, shardFrames: 1000, attempts: 3, backoff: 100 });
  const dir = join(out, sourceName(long));
  const written = async () => (await readdir(dir).catch(() => [])).filter((name) => name.startsWith('frame_')).length >= 20;
  await killWorkerThenRunAnother(written, 'the first worker writes frames');

  const [status] = await queueStatus({ redis: redis.url, batch });
  assert.equal(status!.done, true);
  assert.deepEqual(status!.videos, { total: 1, waiting: 0, active: 0, done: 0, failed: 1 });
  assert.deepEqual(status!.shards, { total: 1, waiting: 0, active: 0, done: 0, failed: 1 });
  assert.deepEqual(status!.failures.map(({ shard, code }) => ({ shard, code })), [{ shard: 0, code: 'ERR_FRAMEPIPE_WORKER_DIED' }]);
  const [line] = (await readFile(join(out, BATCH_FILE_NAME), 'utf8')).trimEnd().split('\n').map((text) => JSON.parse(text));
  assert.equal(line.status, 'failed', JSON.stringify(line));
});

test('a plan failed for stalling too often fails its video, and the batch ends', async () => {
  const server = await startRangeServer({ files: { '/slow.mp4': Buffer.alloc(1 << 20) }, stallAfterBytes: 10 });
  try {
    const out = join(work, 'plan');
    const batch = await enqueue([server.url('/slow.mp4')], { redis: redis.url, out, attempts: 3, backoff: 100, timeout: 60_000 });
    await killWorkerThenRunAnother(() => server.requests.length > 0, 'the first worker reads the video');

    const [status] = await queueStatus({ redis: redis.url, batch });
    assert.equal(status!.done, true);
    assert.deepEqual(status!.videos, { total: 1, waiting: 0, active: 0, done: 0, failed: 1 });
    assert.deepEqual(status!.failures.map(({ name, code }) => ({ name, code })), [{ name: 'slow', code: 'ERR_FRAMEPIPE_WORKER_DIED' }]);
    const [line] = (await readFile(join(out, BATCH_FILE_NAME), 'utf8')).trimEnd().split('\n').map((text) => JSON.parse(text));
    assert.deepEqual(line, { source: server.url('/slow.mp4'), name: 'slow', frames: 0, status: 'failed', code: 'ERR_FRAMEPIPE_WORKER_DIED' });
  } finally {
    await server.close();
  }
});
