import { BATCH_FILE_NAME, shownSource } from '@framepipe/batch';
import type { BatchReportLine, FrameDestination } from '@framepipe/batch';
import type { Redis } from 'ioredis';
import { batchKeys } from './names.ts';
import type { VideoRecord } from './job-data.ts';

/** A failure as the status shows it: which video (and shard), with the error's code. */
export interface QueueFailure {
  readonly name: string;
  /** The source without credentials. */
  readonly source: string;
  /** The shard that failed; absent when the video failed before it was split (reading its index). */
  readonly shard?: number;
  readonly code: string;
  readonly message: string;
  /** Tries made, the last included. */
  readonly attempts: number;
}

/** The counters and records of one batch in Redis. Every write is idempotent: a job run twice counts once. */
export class BatchRecord {
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof batchKeys>;
  readonly batch: string;

  constructor(redis: Redis, batch: string) {
    this.#redis = redis;
    this.batch = batch;
    this.#keys = batchKeys(batch);
  }

  /** The video was split into `shards` shards. */
  async planned(video: number, shards: number): Promise<void> {
    await this.#redis.hset(this.#keys.planned, String(video), String(shards));
  }

  async shardDone(video: number, shard: number, frames: number): Promise<void> {
    await this.#redis.hset(this.#keys.shardsDone, `${video}.${shard}`, String(frames));
  }

  async failed(video: number, shard: number | undefined, failure: QueueFailure): Promise<void> {
    await this.#redis.hset(this.#keys.failures, shard === undefined ? `${video}` : `${video}.${shard}`, JSON.stringify(failure));
  }

  /** The failures of one video's shards, by shard. */
  async shardFailures(video: number): Promise<Map<number, QueueFailure>> {
    const all = await this.#redis.hgetall(this.#keys.failures);
    const found = new Map<number, QueueFailure>();
    for (const [key, text] of Object.entries(all)) {
      const [v, s] = key.split('.');
      if (Number(v) === video && s !== undefined) found.set(Number(s), JSON.parse(text) as QueueFailure);
    }
    return found;
  }

  /** Frame files written in this second, for the rate over the last minute. */
  async written(count: number): Promise<void> {
    const key = this.#keys.second(Math.floor(Date.now() / 1000));
    await this.#redis.multi().incrby(key, count).expire(key, 120).exec();
  }

  /**
   * The video has ended, done or failed: its line of batch.jsonl is recorded; the last video to end writes
   * batch.jsonl (written whole, so two workers that both see the end write the same file, one after the other).
   */
  async videoEnded(record: VideoRecord, destination: FrameDestination, line: Omit<BatchReportLine, 'source' | 'name'>): Promise<void> {
    const full: BatchReportLine = { source: shownSource(record.source), name: record.name, ...line };
    await this.#redis.hset(this.#keys.videos, String(record.video), JSON.stringify(full));
    const [videos, ended] = await Promise.all([this.#redis.hget(this.#keys.meta, 'videos'), this.#redis.hlen(this.#keys.videos)]);
    if (videos === null || ended < Number(videos)) return;
    const lines = await this.#redis.hgetall(this.#keys.videos);
    const text = Object.entries(lines)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, json]) => `${json}\n`)
      .join('');
    const path = await destination.writeReport(BATCH_FILE_NAME, text);
    await this.#redis.hset(this.#keys.meta, 'reported', path);
  }
}
