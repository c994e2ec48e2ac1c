/**
 * The BullMQ queues a batch runs through, by role: one `plan` job per video (reads its index, adds its flow), one
 * `shard` job per GOP-aligned range of frames, and one `video` job per video, the parent of its shards, that runs
 * once they have all ended. A dashboard (Bull Board, say) attaches to these names.
 */
export const QUEUE_NAMES = {
  plans: 'framepipe-plans',
  shards: 'framepipe-shards',
  videos: 'framepipe-videos',
} as const;

/** The Redis keys framepipe keeps beside BullMQ's, all under this prefix (BullMQ's own are under `bull:`). */
export const KEY_PREFIX = 'framepipe';

/** A batch id: 16 lower-case hex digits (no `:`, which BullMQ refuses in job ids). */
export const BATCH_ID = /^[0-9a-f]{16}$/;

/** The Redis keys of one batch: its settings and counters, each small; frames never pass through Redis. */
export function batchKeys(batch: string) {
  const base = `${KEY_PREFIX}:batch:${batch}`;
  return {
    /** Hash: `videos` (how many), `out`, `created` (ms), `reported` (where batch.jsonl went, once written). */
    meta: `${base}:meta`,
    /** Hash: video index → shards planned. */
    planned: `${base}:planned`,
    /** Hash: `<video>.<shard>` → frames of a completed shard. */
    shardsDone: `${base}:shards-done`,
    /** Hash: `<video>.<shard>` (or `<video>` for a video that failed before its shards) → a failure as JSON. */
    failures: `${base}:failures`,
    /** Hash: video index → its batch.jsonl line (JSON), once it has ended. */
    videos: `${base}:videos`,
    /** String per second (expiring): frame files written in that second, for the rate over the last minute. */
    second: (epochSecond: number) => `${base}:written:${epochSecond}`,
  };
}

/** A set of every batch id enqueued, for a status of all batches. */
export const BATCHES_KEY = `${KEY_PREFIX}:batches`;

/** Job ids: derived from the batch, video and shard, so that a plan run twice adds nothing twice. */
export const jobIds = {
  plan: (batch: string, video: number) => `${batch}-v${video}-plan`,
  video: (batch: string, video: number) => `${batch}-v${video}`,
  shard: (batch: string, video: number, shard: number) => `${batch}-v${video}-s${shard}`,
};
