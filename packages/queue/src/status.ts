import { ErrorCode, FramepipeError, assertKnownKeys, assertOptionsObject, invalidOption } from '@framepipe/common';
import type { QueueFailure } from './batch-record.ts';
import { checkRedisUrl, connectRedis } from './connection.ts';
import { BATCHES_KEY, BATCH_ID, QUEUE_NAMES, batchKeys } from './names.ts';

/** Options of {@link queueStatus}. */
export interface QueueStatusOptions {
  /** The Redis of the batches: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /** One batch's id (as `enqueue` gave it); omit for every batch. */
  batch?: string | undefined;
}

/** Counts of a batch's videos or shards by where they stand. */
export interface StageCounts {
  readonly total: number;
  /** Not yet taken, or waiting for a retry (for videos: not yet ended, and none of its shards running). */
  readonly waiting: number;
  readonly active: number;
  readonly done: number;
  /** Failed for good: a failure that cannot pass, or the last try. */
  readonly failed: number;
}

/** Where one batch stands. */
export interface BatchStatus {
  readonly batch: string;
  readonly out: string;
  /** When it was enqueued, as an ISO date. */
  readonly created: string;
  readonly videos: StageCounts;
  /** Shards of the videos whose index has been read (the others' are not known yet). */
  readonly shards: StageCounts;
  /** Frame files of the shards done. */
  readonly frames: number;
  /** Frame files written per second, over the last minute. */
  readonly fps: number;
  readonly failures: readonly QueueFailure[];
  /** True once every video has ended (every shard completed or failed for good) and `batch.jsonl` is written. */
  readonly done: boolean;
  /** Where `batch.jsonl` was written, once it was. */
  readonly report: string | null;
}

/**
 * Tells where each batch stands (or the one of `batch`): its videos and shards waiting, running, done and failed, the
 * frames written and the rate over the last minute, and each failure with its code. `done` is true once every shard
 * has completed or failed for good, and the batch's `batch.jsonl` is written. An unknown batch id fails with
 * `ERR_FRAMEPIPE_INVALID_OPTION`.
 *
 * @example
 * const [status] = await queueStatus({ redis: 'redis://127.0.0.1:6379', batch });
 * console.log(`${status.shards.done}/${status.shards.total} shards, ${status.fps.toFixed(1)} frames/s`);
 */
export async function queueStatus(options: QueueStatusOptions): Promise<BatchStatus[]> {
  const given = assertOptionsObject(options, 'queueStatus');
  assertKnownKeys(given, ['redis', 'batch'], 'queueStatus');
  const url = checkRedisUrl(given.redis);
  if (given.batch !== undefined && (typeof given.batch !== 'string' || !BATCH_ID.test(given.batch))) {
    throw invalidOption('batch', 'a batch id (16 hex digits, as enqueue gave it)', given.batch);
  }
  const redis = await connectRedis(url, false);
  const { Queue } = await import('bullmq');
  const shards = new Queue(QUEUE_NAMES.shards, { connection: redis });
  const plans = new Queue(QUEUE_NAMES.plans, { connection: redis });
  try {
    const ids = given.batch === undefined ? (await redis.smembers(BATCHES_KEY)).sort() : [given.batch];
    // Running jobs are few (workers × concurrency): their ids say which batch and video they belong to. Only the ids
    // are read: a job whose record is not JSON (anyone who can write to Redis can make one) must not fail the status.
    const active = [
      ...(await shards.getRanges(['active'])).map((id) => ({ id, plan: false })),
      ...(await plans.getRanges(['active'])).map((id) => ({ id, plan: true })),
    ];
    const statuses: BatchStatus[] = [];
    for (const batch of ids) {
      const keys = batchKeys(batch);
      const meta = await redis.hgetall(keys.meta);
      if (meta.videos === undefined) {
        if (given.batch !== undefined) throw new FramepipeError(ErrorCode.INVALID_OPTION, `No batch ${batch} in this Redis (it holds ${(await redis.scard(BATCHES_KEY))} batches)`, { option: 'batch' });
        continue;
      }
      const [planned, done, failures, videos] = await Promise.all([
        redis.hgetall(keys.planned),
        redis.hgetall(keys.shardsDone),
        redis.hgetall(keys.failures),
        redis.hgetall(keys.videos),
      ]);
      const now = Math.floor(Date.now() / 1000);
      const seconds = await redis.mget(Array.from({ length: 60 }, (_, i) => keys.second(now - i)));
      const failureList = Object.values(failures).map((text) => JSON.parse(text) as QueueFailure);
      const shardFailures = Object.keys(failures).filter((key) => key.includes('.')).length;
      const mine = active.filter((job) => job.id.startsWith(`${batch}-`));
      const activeShards = mine.filter((job) => !job.plan).length;
      const activeVideos = new Set(mine.map((job) => job.id.split('-')[1])).size;
      const videoLines = Object.values(videos).map((text) => JSON.parse(text) as { status: string });
      const total = Number(meta.videos);
      const videosDone = videoLines.filter((line) => line.status === 'done').length;
      const videosFailed = videoLines.length - videosDone;
      const shardsTotal = Object.values(planned).reduce((sum, n) => sum + Number(n), 0);
      const shardsDone = Object.keys(done).length;
      statuses.push({
        batch,
        out: meta.out ?? '',
        created: new Date(Number(meta.created)).toISOString(),
        videos: { total, waiting: Math.max(0, total - videosDone - videosFailed - activeVideos), active: activeVideos, done: videosDone, failed: videosFailed },
        shards: { total: shardsTotal, waiting: Math.max(0, shardsTotal - shardsDone - shardFailures - activeShards), active: activeShards, done: shardsDone, failed: shardFailures },
        frames: Object.values(done).reduce((sum, n) => sum + Number(n), 0),
        fps: seconds.reduce((sum, n) => sum + Number(n ?? 0), 0) / 60,
        failures: failureList,
        done: meta.reported !== undefined,
        report: meta.reported ?? null,
      });
    }
    return statuses;
  } finally {
    await shards.close();
    await plans.close();
    redis.disconnect();
  }
}
