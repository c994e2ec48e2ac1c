/**
 * queueStatus on a Redis holding a running job whose record is not JSON (anyone who can write to Redis can make one,
 * and BullMQ keeps such a job active for ever): the status of every batch is still told.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { QUEUE_NAMES, enqueue, queueStatus } from '@framepipe/queue';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { H264_MP4_MOOV_END, makeFixture } from './support/fixtures.ts';
import { removeDir, tempDir } from './support/pipeline-helpers.ts';
import { startRedis } from './support/redis-server.ts';
import type { RedisServer } from './support/redis-server.ts';

let redis: RedisServer;
let work: string;

before(async () => {
  redis = await startRedis();
  work = await tempDir('framepipe-queue-status-');
});
after(async () => {
  await redis?.close();
  await removeDir(work);
});

test('a running job whose record is not JSON does not fail the status of the batches', async () => {
  const batch = await enqueue([await makeFixture(H264_MP4_MOOV_END)], { redis: redis.url, out: work });
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const plans = new Queue(QUEUE_NAMES.plans, { connection });
  try {
    await plans.add('plan', {}, { jobId: 'hostile' });
    await connection.hset(`bull:${QUEUE_NAMES.plans}:hostile`, 'data', '{not json');
    await connection.lpush(`bull:${QUEUE_NAMES.plans}:active`, 'hostile');
    const [status] = await queueStatus({ redis: redis.url, batch });
    assert.equal(status!.batch, batch);
    assert.deepEqual(status!.videos, { total: 1, waiting: 1, active: 0, done: 0, failed: 0 });
  } finally {
    await plans.close();
    await connection.quit();
  }
});
