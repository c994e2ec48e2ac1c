import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { assertKnownKeys, assertOptionsObject, checkInteger, invalidOption } from '@framepipe/common';
import { DEFAULT_SHARD_FRAMES, isVideoIdSource, namedVideos, openDestination } from '@framepipe/batch';
import type { BatchSource } from '@framepipe/batch';
import { checkDirOptions } from '@framepipe/core';
import { checkRedisUrl, connectRedis } from './connection.ts';
import { QUEUE_FRAME_KEYS, SUPERVISELY_VIDEO } from './job-data.ts';
import type { PlanJobData, QueueFrameOptions } from './job-data.ts';
import { BATCHES_KEY, QUEUE_NAMES, batchKeys, jobIds } from './names.ts';

/** Options of {@link enqueue}: where Redis is, where the frames go, how big a shard is, and the frame options. */
export interface EnqueueOptions extends QueueFrameOptions {
  /** The Redis the workers take jobs from: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /**
   * Where every video goes, as `<out>/<name>/` (see `sourceName`), and `batch.jsonl` once all have ended: a
   * directory, made absolute here, that every worker sees under that path (a local disk for workers on this machine,
   * a shared mount for others), or `s3://bucket/prefix` (see `openDestination`; each worker reads the endpoint and
   * credentials from its own AWS environment variables). It is made ready here (created, or its bucket listed), so a
   * destination that cannot be written fails before anything is added.
   */
  out: string;
  /**
   * About how many selected frames one shard of a video holds (see `planShards`): a longer video is split so that
   * many workers share it.
   * @default 1000
   */
  shardFrames?: number | undefined;
  /**
   * Tries of a plan or shard job that failed in a way that may pass (a timeout, a server that could not be reached),
   * the first included; a failure that cannot pass (a 404, no video stream, bad data) is not retried.
   * @default 5
   */
  attempts?: number | undefined;
  /**
   * Milliseconds before the first retry of a job, doubling with each one.
   * @default 5000
   */
  backoff?: number | undefined;
}

const BATCH_KEYS = ['redis', 'out', 'shardFrames', 'attempts', 'backoff'] as const;

/**
 * Adds a batch to the work queue in Redis and resolves with its id, for `queueStatus` and the logs of the workers
 * (`runWorker`) that run it, on any number of machines. Each video gets one small `plan` job; a worker that takes it
 * reads the video's index and adds the video's shards. Nothing is read here but the options: every source is named
 * first, and a source with no name or two with one name fail (`ERR_FRAMEPIPE_INVALID_NAME`,
 * `ERR_FRAMEPIPE_DUPLICATE_NAME`) before anything is added.
 *
 * A source is a URL, a path or a Supervisely video `{ videoId }`, which each worker reads with the Supervisely
 * credentials of its own environment (`SERVER_ADDRESS`, `API_TOKEN`; see `WorkerOptions.api`).
 *
 * Redis holds only job records. Request headers and tokens never go there: a source given as `{ url, headers }` and
 * the `headers` option are refused (give the workers their headers, `WorkerOptions.headers`). A URL's own credentials
 * (`user:password@`, a token in its query) are in the record, since a worker needs them to read the video; the
 * status, the workers' logs and `batch.jsonl` show the URL without them. Relative paths are made absolute.
 *
 * @example
 * const batch = await enqueue(['https://example.com/a.mp4', '/data/b.mkv'], { redis: 'redis://127.0.0.1:6379', out: '/mnt/frames', step: 5 });
 */
export async function enqueue(sources: readonly BatchSource[], options: EnqueueOptions): Promise<string> {
  if (!Array.isArray(sources) || sources.length === 0) throw invalidOption('sources', 'a non-empty array of URLs or paths', sources);
  const given = assertOptionsObject(options, 'enqueue') as Record<string, unknown>;
  if (given.headers !== undefined) {
    throw invalidOption('headers', 'no request headers (they would be stored in Redis): give them to the workers, runWorker({ headers })', '(hidden)');
  }
  assertKnownKeys(given, [...BATCH_KEYS, ...QUEUE_FRAME_KEYS], 'enqueue');
  const redis = checkRedisUrl(given.redis);
  if (typeof given.out !== 'string' || given.out === '') throw invalidOption('out', 'a non-empty path or s3://bucket/prefix', given.out);
  const destination = openDestination(given.out);
  const out = destination.location;
  const shardFrames = checkInteger('shardFrames', given.shardFrames ?? DEFAULT_SHARD_FRAMES, 1);
  const retry = { attempts: checkInteger('attempts', given.attempts ?? 5, 1), backoff: checkInteger('backoff', given.backoff ?? 5000, 0) };
  const frameOptions = Object.fromEntries(QUEUE_FRAME_KEYS.filter((key) => given[key] !== undefined).map((key) => [key, given[key]])) as QueueFrameOptions;
  checkDirOptions(out, { ...frameOptions, resume: true });
  for (const source of sources) {
    if (typeof source === 'object' && source !== null && !(source instanceof URL) && 'headers' in source && source.headers !== undefined) {
      throw invalidOption('sources', 'URLs or paths without request headers (they would be stored in Redis): give them to the workers, runWorker({ headers })', '{ url, headers }');
    }
  }
  const videos = namedVideos(sources).map(({ source, name }, video) => ({ source: sourceText(source), name, video }));
  try {
    await destination.prepare(frameOptions);
  } finally {
    await destination.close();
  }

  const batch = randomBytes(8).toString('hex');
  const connection = await connectRedis(redis, false);
  const { Queue } = await import('bullmq');
  const plans = new Queue<PlanJobData>(QUEUE_NAMES.plans, { connection });
  try {
    const keys = batchKeys(batch);
    await connection.multi().hset(keys.meta, { videos: videos.length, out, created: Date.now() }).sadd(BATCHES_KEY, batch).exec();
    await plans.addBulk(
      videos.map(({ source, name, video }) => ({
        name: 'plan',
        data: { batch, video, source, name, out, options: frameOptions, shardFrames, retry },
        opts: { jobId: jobIds.plan(batch, video), ...jobRetry(retry), removeOnComplete: true },
      })),
    );
  } finally {
    await plans.close();
    connection.disconnect();
  }
  return batch;
}

/** BullMQ's retry options for a job of a batch. */
export function jobRetry(retry: { attempts: number; backoff: number }) {
  return { attempts: retry.attempts, backoff: { type: 'exponential', delay: retry.backoff } };
}

/** A source as a job record holds it: a URL's text, an absolute path, or `supervisely:video/<id>`. */
function sourceText(source: BatchSource): string {
  if (source instanceof URL) return source.href;
  if (isVideoIdSource(source)) return `${SUPERVISELY_VIDEO}${source.videoId}`;
  if (typeof source === 'object') return typeof source.url === 'string' ? source.url : source.url.href;
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(source) ? source : resolve(source);
}
