/**
 * A worker that cannot make a batch's destination ready (a mount missing or read-only on its machine, no AWS region
 * in its environment) is at fault, not the jobs: it hands the job back untouched, with no try spent, and stops with
 * an error that says what to set; a worker that can write there then runs the batch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { sourceName } from '@framepipe/batch';
import { ErrorCode } from '@framepipe/common';
import { QUEUE_NAMES, queueStatus, runWorker } from '@framepipe/queue';
import { enqueue } from '@framepipe/queue';
import type { WorkerEvent } from '@framepipe/queue';
import { H264_MP4_FASTSTART, makeFixture } from './support/fixtures.ts';
import { assertFrames, removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';
import { BIN, runScript } from './support/run-script.ts';
import { startS3Server } from './support/s3-server.ts';
import type { S3TestServer } from './support/s3-server.ts';

let redis: RedisServer;
let s3: S3TestServer;
let work: string;

before(async () => {
  redis = await startRedis();
  s3 = await startS3Server(['frames']);
  work = await tempDir('framepipe-queue-destination-');
});
after(async () => {
  await s3?.close();
  await redis?.close();
  await removeDir(work);
});

/** The state and tries spent of a batch's first plan job. */
async function planJob(batch: string): Promise<{ state: string | undefined; attemptsMade: number | undefined }> {
  const plans = new Queue(QUEUE_NAMES.plans, { connection: { url: redis.url } });
  try {
    const job = await plans.getJob(`${batch}-v0-plan`);
    return { state: await job?.getState(), attemptsMade: job?.attemptsMade };
  } finally {
    await plans.close();
  }
}

test('a worker that cannot write to a directory hands its job back, spends no try and stops with the error', async () => {
  const video = await makeFixture(H264_MP4_FASTSTART);
  const out = join(work, 'out');
  const batch = await enqueue([video], { redis: redis.url, out, attempts: 2, backoff: 10 });
  // On this machine, out is now a file: this worker cannot make it a directory.
  await rm(out, { recursive: true });
  await writeFile(out, 'not a directory');
  const events: WorkerEvent[] = [];
  await assert.rejects(runWorker({ redis: redis.url, exitWhenIdle: true, onEvent: (event) => events.push(event) }), (error: Error & { code?: string }) => {
    assert.equal(error.code, ErrorCode.STORAGE_FAILED);
    assert.match(error.message, new RegExp(`^This worker cannot write to ${out}, so it stopped and handed its jobs back to the queue: .*EEXIST`));
    return true;
  });
  assert.deepEqual(events.map((event) => event.type), ['handed-back'], 'no failure recorded');
  assert.deepEqual(await planJob(batch), { state: 'waiting', attemptsMade: 0 });

  await rm(out);
  const summary = await runWorker({ redis: redis.url, exitWhenIdle: true });
  assert.equal(summary.failures, 0);
  const [status] = await queueStatus({ redis: redis.url, batch });
  assert.equal(status!.done, true);
  assert.deepEqual(status!.failures, []);
  assert.ok(status!.frames > 0);
  await assertFrames(join(out, sourceName(video)), Array.from({ length: status!.frames }, (_, i) => i));
});

test('framepipe worker without AWS_REGION exits 1 saying to set it; a worker with it runs the batch', async () => {
  const video = await makeFixture(H264_MP4_FASTSTART);
  const enqueued = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', 's3://frames/region', '--attempts', '2', video], { env: s3.env });
  assert.equal(enqueued.code, 0, enqueued.stderr);
  const batch = enqueued.stdout.trim();

  const lost = await runScript(BIN, ['worker', '--redis', redis.url, '--exit-when-idle'], { env: { ...s3.env, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined } });
  assert.equal(lost.code, 1, lost.stderr);
  // The job handed back, then the reason: no job failure in between.
  const [handedBack, reason, ...more] = lost.stderr.trimEnd().split('\n');
  assert.equal(handedBack, `${batch}-v0-plan: handed back to the queue`);
  assert.match(reason!, /^ERR_FRAMEPIPE_STORAGE_FAILED This worker cannot write to s3:\/\/frames\/region, so it stopped and handed its jobs back to the queue: .*Region is missing.*\(set AWS_REGION\b/);
  assert.deepEqual(more, []);
  assert.deepEqual(await planJob(batch), { state: 'waiting', attemptsMade: 0 });

  const worker = await runScript(BIN, ['worker', '--redis', redis.url, '--exit-when-idle'], { env: s3.env });
  assert.equal(worker.code, 0, worker.stderr);
  const [status] = await queueStatus({ redis: redis.url, batch });
  assert.equal(status!.done, true);
  assert.deepEqual(status!.failures, []);
  assert.ok((await s3.keys('frames', 'region/')).includes('region/batch.jsonl'));
});

test('a storage hiccup (503 SlowDown) is not this worker\'s fault: the job is retried and the worker runs the batch', async () => {
  const video = await makeFixture(H264_MP4_FASTSTART);
  const enqueued = await runScript(BIN, ['enqueue', '--redis', redis.url, '--out', 's3://frames/hiccup', '--attempts', '3', '--backoff', '10', video], { env: s3.env });
  assert.equal(enqueued.code, 0, enqueued.stderr);
  const batch = enqueued.stdout.trim();
  // Between the worker and the storage: the first 3 requests (one listing, with the SDK's own 2 retries) are refused.
  let refused = 0;
  const target = new URL(s3.endpoint);
  const proxy = createServer((req, res) => {
    if (refused < 3) {
      refused++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  });
  await new Promise<void>((listening) => proxy.listen(0, '127.0.0.1', listening));
  try {
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const worker = await runScript(BIN, ['worker', '--redis', redis.url, '--exit-when-idle'], { env: { ...s3.env, AWS_ENDPOINT_URL: endpoint } });
    assert.equal(worker.code, 0, worker.stderr);
    assert.equal(refused, 3);
    assert.match(worker.stderr, new RegExp(`^${batch}-v0-plan: ERR_FRAMEPIPE_STORAGE_FAILED .*SlowDown`, 'm'));
    const [status] = await queueStatus({ redis: redis.url, batch });
    assert.equal(status!.done, true);
    assert.deepEqual(status!.failures, []);
    assert.ok((await s3.keys('frames', 'hiccup/')).includes('hiccup/batch.jsonl'));
  } finally {
    proxy.closeAllConnections();
    await new Promise((closed) => proxy.close(closed));
  }
});
