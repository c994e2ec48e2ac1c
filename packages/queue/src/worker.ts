import { ErrorCode, FramepipeError, assertKnownKeys, assertOptionsObject, checkBoolean, checkHeaders, checkInteger, checkSignal, invalidOption } from '@framepipe/common';
import { openDestination, planShards, shownSource } from '@framepipe/batch';
import type { FrameDestination } from '@framepipe/batch';
import type { ByteSourceInput } from '@framepipe/http-source';
import { SuperviselyApi } from '@framepipe/supervisely';
import { RunStats } from '@framepipe/core';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { BatchRecord } from './batch-record.ts';
import type { QueueFailure } from './batch-record.ts';
import { checkRedisUrl, connectRedis } from './connection.ts';
import { jobRetry } from './enqueue.ts';
import { checkJob, selectionOf, superviselyVideoId, withoutSelection } from './job-data.ts';
import type { QueueFrameOptions, ShardJobData, VideoJobData, VideoRecord } from './job-data.ts';
import { QUEUE_NAMES, jobIds } from './names.ts';

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** The Redis of the batches: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /**
   * Shards run at the same time by this worker.
   * @default 1
   */
  concurrency?: number | undefined;
  /** Stop once the queue has nothing left to run: no job waiting, delayed, running (here or elsewhere) or waiting for its shards. */
  exitWhenIdle?: boolean | undefined;
  /**
   * Stops the worker: it takes no new job, hands its running shards back to the queue (another worker resumes them,
   * keeping the frames written) and resolves once they are back.
   */
  signal?: AbortSignal | undefined;
  /** Request headers for every http(s) source this worker reads (authorization, say): they never go into Redis. */
  headers?: Record<string, string> | undefined;
  /**
   * The Supervisely instance that `{ videoId }` sources are read from; its token never goes into Redis.
   * @default SuperviselyApi.fromEnv() (SERVER_ADDRESS and API_TOKEN from this worker's environment, ./local.env or
   * ~/supervisely.env), looked up when the first such video comes
   */
  api?: SuperviselyApi | undefined;
  /**
   * Milliseconds a running job's lock lasts; the worker renews it at half that while it runs. A worker that dies
   * (SIGKILL, a lost machine) stops renewing it, and once it has run out the job is given to another worker.
   * @default 30000
   */
  lockDuration?: number | undefined;
  /**
   * Milliseconds between this worker's checks for jobs whose lock ran out (stalled: their worker died).
   * @default 30000
   */
  stalledInterval?: number | undefined;
  /**
   * Times a job may stall (its worker dying under it) and be run again before it fails for good.
   * @default 3
   */
  maxStalledCount?: number | undefined;
  /** Told what the worker does: each job it ends, for a log. Sources are shown without credentials. */
  onEvent?: ((event: WorkerEvent) => void) | undefined;
}

/** What {@link WorkerOptions.onEvent} receives. */
export type WorkerEvent =
  | { readonly type: 'planned'; readonly batch: string; readonly name: string; readonly shards: number; readonly frames: number }
  | { readonly type: 'shard-done'; readonly batch: string; readonly name: string; readonly shard: number; readonly frames: number; readonly written: number }
  | { readonly type: 'video-done'; readonly batch: string; readonly name: string; readonly status: 'done' | 'failed'; readonly frames: number }
  | { readonly type: 'failed'; readonly job: string; readonly code: string; readonly message: string; readonly final: boolean }
  | { readonly type: 'handed-back'; readonly job: string };

/** What {@link runWorker} resolves with: what this worker did. */
export interface WorkerSummary {
  readonly shards: number;
  readonly framesWritten: number;
  readonly failures: number;
}

/**
 * Codes of failures that running the job again cannot mend: the job fails at once, with its code, and is not retried.
 * Anything else (a timeout, a server that cannot be reached, a write that failed, an error that is not framepipe's)
 * is retried with backoff, up to the batch's `attempts`. Missing Supervisely credentials are not among them: they
 * are the worker's own environment, not the video's, and another worker may have them.
 */
const PERMANENT = new Set<string>([
  ErrorCode.INVALID_OPTION, ErrorCode.FILE_NOT_FOUND, ErrorCode.UNSUPPORTED_SCHEME, ErrorCode.INVALID_DATA, ErrorCode.NO_VIDEO_STREAM,
  ErrorCode.TRUNCATED, ErrorCode.UNSUPPORTED_CODEC, ErrorCode.DECODE_FAILED, ErrorCode.RANGE_NOT_SUPPORTED,
  ErrorCode.AUTH_FAILED, ErrorCode.VIDEO_NOT_FOUND, ErrorCode.SOURCE_CHANGED, ErrorCode.CORRUPT_DATA, ErrorCode.FRAMES_MISSING,
  ErrorCode.INVALID_NAME, ErrorCode.DUPLICATE_NAME, ErrorCode.INVALID_JOB, ErrorCode.RESUME_MISMATCH,
]);

/** An HTTP status that a later try may not get: 408, 429 and 5xx may pass, the other 4xx will not. */
function isPermanent(error: unknown): boolean {
  if (!(error instanceof FramepipeError)) return false;
  if (error.code === ErrorCode.HTTP_STATUS) return error.status === undefined || (error.status < 500 && error.status !== 408 && error.status !== 429);
  return PERMANENT.has(error.code);
}

/** BullMQ's reason for a job it failed without running it: its workers died under it too often. */
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** True for a failure BullMQ decided without running the processor (see {@link STALLED_TOO_OFTEN}). */
function isDeferredFailure(error: unknown): boolean {
  return error instanceof Error && error.message === STALLED_TOO_OFTEN;
}

/** The failure of a job whose workers died under it more often than `maxStalledCount` allows. */
function diedFailure(record: VideoRecord, reason: string, shard?: number): QueueFailure {
  return {
    name: record.name,
    source: shownSource(record.source),
    ...(shard === undefined ? {} : { shard }),
    code: ErrorCode.WORKER_DIED,
    message: `Its worker died under it more often than maxStalledCount allows (${reason})`,
    attempts: 1,
  };
}

/** Errors of a directory that this machine may not create or write, whoever else can. */
const SETUP_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST']);

/**
 * True for a failure to make a destination ready that comes from this machine's setup rather than from the storage
 * or the network: a directory it may not create or write, no AWS region or credentials in its environment, or
 * credentials that the storage refuses (401, 403). A 5xx, a throttling answer, a reset connection or a timeout is not.
 */
function isSetupFailure(error: unknown): boolean {
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof errno === 'string' && SETUP_ERRNOS.has(errno)) return true;
  if (!(error instanceof FramepipeError) || error.code !== ErrorCode.STORAGE_FAILED) return false;
  if (error.status === 401 || error.status === 403) return true;
  const cause = error.cause as { name?: unknown; message?: unknown } | null | undefined;
  return cause?.name === 'CredentialsProviderError' || /region is missing|region not accepted/i.test(String(cause?.message ?? ''));
}

/** The code a failure is recorded with. */
function codeOf(error: unknown): string {
  return error instanceof FramepipeError ? error.code : 'ERR_FRAMEPIPE_UNEXPECTED';
}

/**
 * Runs the jobs of every batch in the queue (see `enqueue`), `concurrency` shards at a time, until `signal` stops it
 * or, with `exitWhenIdle`, the queue has nothing left. Start any number, on any number of machines: each shard is
 * run by one worker at a time, as a resumable run into `<out>/<name>/`, so a shard whose worker died (its lock ran
 * out: see `lockDuration`) is run again by another, which keeps the frames already written and writes the rest.
 *
 * A failure that cannot pass (a 404, no video stream, bad data, a job record that is not framepipe's) fails its job
 * once, with its code; others are retried with exponential backoff. A destination this worker cannot make ready
 * because of its own setup (a directory it may not create or write, no AWS region or credentials in its environment,
 * credentials the storage refuses: `enqueue` made it ready) is the worker's fault, not the job's: the job goes back to
 * the queue with no try spent, and the worker stops, rejecting with `ERR_FRAMEPIPE_STORAGE_FAILED` and the reason. A video whose shards have all ended is recorded
 * as done or failed, and the last video of a batch to end writes the batch's `batch.jsonl`.
 *
 * @example
 * const controller = new AbortController();
 * process.once('SIGTERM', () => controller.abort());
 * await runWorker({ redis: 'redis://127.0.0.1:6379', concurrency: 2, signal: controller.signal });
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  const given = assertOptionsObject(options, 'runWorker');
  assertKnownKeys(given, ['redis', 'concurrency', 'exitWhenIdle', 'signal', 'headers', 'api', 'lockDuration', 'stalledInterval', 'maxStalledCount', 'onEvent'], 'runWorker');
  if (given.api !== undefined && !(given.api instanceof SuperviselyApi)) throw invalidOption('api', 'a SuperviselyApi', given.api);
  const url = checkRedisUrl(given.redis);
  const concurrency = checkInteger('concurrency', given.concurrency ?? 1, 1);
  const exitWhenIdle = checkBoolean('exitWhenIdle', given.exitWhenIdle, false);
  const signal = checkSignal('signal', given.signal);
  const headers = checkHeaders(given.headers);
  const lockDuration = checkInteger('lockDuration', given.lockDuration ?? 30_000, 100);
  const stalledInterval = checkInteger('stalledInterval', given.stalledInterval ?? 30_000, 100);
  const maxStalledCount = checkInteger('maxStalledCount', given.maxStalledCount ?? 3, 0);
  const onEvent = given.onEvent ?? (() => {});

  const connections: Redis[] = [];
  const connect = async (blocking: boolean) => {
    const redis = await connectRedis(url, blocking);
    connections.push(redis);
    return redis;
  };
  const records = await connect(false);
  const { FlowProducer, Queue, UnrecoverableError, WaitingError, Worker } = await import('bullmq');
  const summary = { shards: 0, framesWritten: 0, failures: 0 };
  let stopping = false;
  const flows = new FlowProducer({ connection: await connect(true) });
  const videos = new Queue(QUEUE_NAMES.videos, { connection: await connect(true) });
  // The Supervisely instance of `supervisely:video/<id>` sources: the option's, or this worker's environment's, looked
  // up when the first such video comes.
  let supervisely = given.api;
  /** What a job's source is read from, and what to close once read: a Supervisely video's source is opened here. */
  const inputOf = (source: string, options: QueueFrameOptions): { input: ByteSourceInput; close: () => Promise<void> } => {
    const videoId = superviselyVideoId(source);
    if (videoId !== undefined) {
      supervisely ??= SuperviselyApi.fromEnv();
      const { timeout, retries, cacheMemory, cacheDisk } = options;
      const transport = { timeout, retries, cacheMemory, cacheDisk };
      const opened = supervisely.videoSource(videoId, Object.fromEntries(Object.entries(transport).filter(([, value]) => value !== undefined)));
      return { input: opened, close: () => opened.close() };
    }
    return { input: headers && /^https?:/i.test(source) ? { url: source, headers } : source, close: async () => {} };
  };
  // One destination per `out` (a directory, or a bucket whose client is made once), made ready once, closed at the end.
  const destinations = new Map<string, Promise<FrameDestination>>();
  const destinationOf = (out: string): Promise<FrameDestination> => {
    let ready = destinations.get(out);
    if (!ready) {
      ready = (async () => {
        const destination = openDestination(out);
        await destination.prepare();
        return destination;
      })();
      // A destination that could not be made ready is tried again by the next job.
      ready.catch(() => destinations.delete(out));
      destinations.set(out, ready);
    }
    return ready;
  };

  /** Fails a job: once and for good when it cannot pass or was the last try, else for a retry. */
  const fail = async (job: Job, error: unknown, record: VideoRecord | null, shard?: number): Promise<never> => {
    if (stopping && error instanceof FramepipeError && error.code === ErrorCode.ABORTED) throw error;
    const code = codeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    const permanent = isPermanent(error);
    const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    summary.failures++;
    onEvent({ type: 'failed', job: job.id ?? '(no id)', code, message, final });
    if (final && record) {
      const failure: QueueFailure = {
        name: record.name,
        source: shownSource(record.source),
        ...(shard === undefined ? {} : { shard }),
        code,
        message,
        attempts: job.attemptsMade + 1,
      };
      const batch = new BatchRecord(records, record.batch);
      await batch.failed(record.video, shard, failure);
      // A video that failed before it had shards has ended here.
      if (shard === undefined) await batch.videoEnded(record, await destinationOf(record.out), { frames: 0, status: 'failed', code });
    }
    throw permanent ? new UnrecoverableError(`${code}: ${message}`) : error;
  };

  /** The job's record, checked; a record framepipe did not write fails its job, once. */
  const recordOf = async <T>(job: Job, check: (data: unknown, id: string | undefined) => T): Promise<T> => {
    try {
      return check(job.data, job.id);
    } catch (error) {
      return fail(job, error, null);
    }
  };

  /** Gives a job that a stop cut short back to the queue, as it was: another worker takes it, no try counted. */
  const handBack = async (job: Job, token: string): Promise<never> => {
    await job.moveToWait(token);
    onEvent({ type: 'handed-back', job: job.id ?? '(no id)' });
    throw new WaitingError();
  };

  // A destination this worker cannot make ready because of how this machine is set up (no AWS region or credentials
  // in its environment, credentials the storage refuses, a directory it may not create or write) is this worker's
  // fault, not the job's: `enqueue` made the same destination ready when the batch was added. The job goes back to
  // the queue untouched for another worker, and this worker stops with the error rather than failing job after job
  // and spending their tries. Anything else (a 503, a connection reset, a timeout) is the job's failure, retried.
  let unusable: (error: FramepipeError) => void = () => {};
  const destinationUnusable = new Promise<never>((_, reject) => (unusable = reject));
  destinationUnusable.catch(() => {});
  /** The job's destination, made ready; or the job handed back and the worker stopping, when it cannot be. */
  const readyDestination = async (job: Job, token: string | undefined, out: string, failed: (error: unknown) => Promise<never>): Promise<FrameDestination> => {
    try {
      return await destinationOf(out);
    } catch (error) {
      if (!token || !isSetupFailure(error)) return failed(error);
      stopping = true;
      // No job more for this worker (the one handed back would come straight back to it); the running ones are
      // handed back by the stop that follows.
      await Promise.all(workers.map((worker) => worker.pause(true)));
      await job.moveToWait(token).catch(() => {});
      onEvent({ type: 'handed-back', job: job.id ?? '(no id)' });
      const message = error instanceof Error ? error.message : String(error);
      unusable(new FramepipeError(ErrorCode.STORAGE_FAILED, `This worker cannot write to ${out}, so it stopped and handed its jobs back to the queue: ${message}`, { cause: error }));
      throw new WaitingError();
    }
  };

  const plan = async (job: Job, token: string | undefined, jobSignal: AbortSignal | undefined): Promise<number> => {
    const record = await recordOf(job, checkJob.plan);
    await readyDestination(job, token, record.out, (error) => fail(job, error, record));
    const { batch, video, name, out, options, retry } = record;
    const parentId = jobIds.video(batch, video);
    // A plan run again after its worker died may find its flow added already: only its count may be missing.
    const added = await videos.getJob(parentId);
    if (added) {
      const { shards } = checkJob.video(added.data, added.id);
      await new BatchRecord(records, batch).planned(video, shards);
      return shards;
    }
    let shards;
    let opened: ReturnType<typeof inputOf> | undefined;
    try {
      opened = inputOf(record.source, options);
      shards = await planShards(opened.input, {
        ...selectionOf(options),
        shardFrames: record.shardFrames,
        ...(options.stream === undefined ? {} : { stream: options.stream }),
        ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(jobSignal ? { signal: jobSignal } : {}),
      });
    } catch (error) {
      if (stopping && token) return handBack(job, token);
      return fail(job, error, record);
    } finally {
      await opened?.close();
    }
    const base = { batch, video, source: record.source, name, out };
    const shardOptions = withoutSelection(options);
    await flows.add({
      name: 'video',
      queueName: QUEUE_NAMES.videos,
      data: { ...base, shards: shards.shards.length } satisfies VideoJobData,
      opts: { jobId: parentId, ...jobRetry(retry) },
      children: shards.shards.map((shard) => ({
        name: 'shard',
        queueName: QUEUE_NAMES.shards,
        data: {
          ...base,
          options: shardOptions,
          shard: shard.index,
          selection: shard.selection,
          ...(shard.partialIndex ? { partialIndex: shard.partialIndex } : {}),
        } satisfies ShardJobData,
        // Failed for good, a shard still lets its video end (as failed); its failure is recorded with its code.
        opts: { jobId: jobIds.shard(batch, video, shard.index), ...jobRetry(retry), ignoreDependencyOnFailure: true },
      })),
    });
    await new BatchRecord(records, batch).planned(video, shards.shards.length);
    onEvent({ type: 'planned', batch, name, shards: shards.shards.length, frames: shards.selected });
    return shards.shards.length;
  };

  const runShard = async (job: Job, token: string | undefined, jobSignal: AbortSignal | undefined): Promise<{ frames: number }> => {
    const record = await recordOf(job, checkJob.shard);
    const destination = await readyDestination(job, token, record.out, (error) => fail(job, error, record, record.shard));
    const batch = new BatchRecord(records, record.batch);
    const stats = new RunStats();
    let pending = 0;
    let written = 0;
    // The counts of the last second go to Redis once a second, and when the shard ends however it ends (awaited
    // then, so that a worker that stops next does not drop them); a count that cannot be sent is only a rate.
    const flush = async () => {
      if (pending === 0) return;
      const count = pending;
      pending = 0;
      await batch.written(count).catch(() => {});
    };
    const timer = setInterval(() => void flush(), 1000);
    let opened: ReturnType<typeof inputOf> | undefined;
    try {
      opened = inputOf(record.source, record.options);
      const frames = await destination.writeVideo(opened.input, record.name, {
        ...record.options,
        ...record.selection,
        ...(record.partialIndex ? { partialIndex: record.partialIndex } : {}),
        ...(jobSignal ? { signal: jobSignal } : {}),
        stats,
        progress: () => {
          pending++;
          written++;
          summary.framesWritten++;
        },
      });
      await flush();
      await batch.shardDone(record.video, record.shard, frames);
      summary.shards++;
      onEvent({ type: 'shard-done', batch: record.batch, name: record.name, shard: record.shard, frames, written });
      return { frames };
    } catch (error) {
      await flush();
      // Another worker that takes it keeps the frames written and writes the rest.
      if (stopping && token) return handBack(job, token);
      return fail(job, error, record, record.shard);
    } finally {
      clearInterval(timer);
      await opened?.close();
    }
  };

  const endVideo = async (job: Job, token: string | undefined): Promise<number> => {
    const record = await recordOf(job, checkJob.video);
    // Its failure is not recorded as the video's: recording it needs this destination.
    const destination = await readyDestination(job, token, record.out, (error) => fail(job, error, null));
    const batch = new BatchRecord(records, record.batch);
    let frames = 0;
    for (const value of Object.values(await job.getChildrenValues<{ frames?: unknown }>())) {
      if (typeof value?.frames === 'number') frames += value.frames;
    }
    const failures = await batch.shardFailures(record.video);
    // A shard that BullMQ failed without running it (its workers died under it more often than maxStalledCount
    // allows) never reached `fail`: it is only among the parent's ignored failures. It failed, and so did its video.
    for (const [key, reason] of Object.entries(await job.getIgnoredChildrenFailures())) {
      const shard = Number(/-s(\d+)$/.exec(key)?.[1]);
      if (!Number.isSafeInteger(shard) || failures.has(shard)) continue;
      const failure = diedFailure(record, reason, shard);
      await batch.failed(record.video, shard, failure);
      failures.set(shard, failure);
    }
    const first = [...failures].sort(([a], [b]) => a - b)[0]?.[1];
    const status = first ? 'failed' : 'done';
    await batch.videoEnded(record, destination, first ? { frames, status, code: first.code } : { frames, status });
    onEvent({ type: 'video-done', batch: record.batch, name: record.name, status, frames });
    return frames;
  };

  // Made first and started together, so that a processor (which may pause them all) never runs before all are made.
  const settings = { lockDuration, stalledInterval, maxStalledCount, autorun: false };
  const workers = [
    new Worker(QUEUE_NAMES.plans, plan, { connection: await connect(true), concurrency: 1, ...settings }),
    new Worker(QUEUE_NAMES.shards, runShard, { connection: await connect(true), concurrency, ...settings }),
    new Worker(QUEUE_NAMES.videos, endVideo, { connection: await connect(true), concurrency: 1, ...settings }),
  ];
  // Failures are handled in the processors; BullMQ's own events would repeat them.
  for (const worker of workers) worker.on('error', () => {});
  // Save a plan that BullMQ failed without running it (its workers died under it more often than maxStalledCount
  // allows): its video has ended, failed, or the batch would never end. (A shard's is found by its video's job.)
  // The job has left `active` before this runs, so the idle check and the shutdown wait for what is still saving.
  const saving = new Set<Promise<void>>();
  workers[0]!.on('failed', (job, error) => {
    if (!job || !isDeferredFailure(error)) return;
    const task = (async () => {
      const record = checkJob.plan(job.data, job.id);
      const batch = new BatchRecord(records, record.batch);
      const failure = diedFailure(record, error.message);
      await batch.failed(record.video, undefined, failure);
      await batch.videoEnded(record, await destinationOf(record.out), { frames: 0, status: 'failed', code: failure.code });
    })().catch(() => {});
    saving.add(task);
    void task.finally(() => saving.delete(task));
  });

  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    stopping = true;
    for (const worker of workers) worker.cancelAllJobs('the worker is stopping');
    await Promise.all(workers.map((worker) => worker.close()));
  };
  const stopped = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  let idleTimer: NodeJS.Timeout | undefined;
  const idleQueues: Array<{ close(): Promise<void> }> = [];
  const idle = new Promise<void>((resolve) => {
    if (!exitWhenIdle) return;
    const queues = Object.values(QUEUE_NAMES).map((name) => new Queue(name, { connection: records }));
    idleQueues.push(...queues);
    let quiet = 0;
    const check = async () => {
      // The worker ended another way (stopped, or its destination unusable) while this check waited.
      if (closing) return;
      let open = 0;
      for (const queue of queues) {
        const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
        for (const count of Object.values(counts)) open += count;
      }
      // Two quiet readings in a row: a job failed by the stall check leaves the counts a moment before its 'failed'
      // event reaches this process.
      quiet = open === 0 && saving.size === 0 ? quiet + 1 : 0;
      if (quiet >= 2) resolve();
      else idleTimer = setTimeout(() => void check().catch(() => (idleTimer = setTimeout(check, 500))), 500);
    };
    idleTimer = setTimeout(() => void check(), 500);
  });
  for (const worker of workers) void worker.run().catch(() => {});
  try {
    await Promise.race([stopped, idle, destinationUnusable]);
  } finally {
    clearTimeout(idleTimer);
    await stop();
    await Promise.all(idleQueues.map((queue) => queue.close().catch(() => {})));
    await Promise.all(saving);
    await flows.close();
    await videos.close();
    for (const redis of connections) redis.disconnect();
    for (const ready of destinations.values()) await ready.then((destination) => destination.close(), () => {});
  }
  return summary;
}
