import { isAbsolute } from 'node:path';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { sourceName } from '@framepipe/batch';
import { FRAME_FORMAT_KEYS, SELECTION_KEYS, Selection, checkDirOptions, framesOfPartialIndex } from '@framepipe/core';
import type { FrameFormatOptions, PartialIndex, SelectionOptions, StreamToDirOptions } from '@framepipe/core';
import { BATCH_ID } from './names.ts';

/**
 * The frame options a queued batch takes: those that can travel in a job record as JSON. Request headers never go
 * into Redis (a worker is given its own, see `WorkerOptions.headers`); `manifest` is left out because the shards of
 * one video write into one directory at the same time.
 */
export type QueueFrameOptions = Pick<
  StreamToDirOptions,
  'start' | 'end' | 'step' | 'frames' | 'timestamps' | 'startTime' | 'endTime' | 'fps' | 'keyframesOnly' | 'ext' | 'maxWriteWorkers' | 'autorotate' | 'strict' | 'stream' | 'timeout' | 'retries' | 'cacheMemory' | 'cacheDisk'
  | keyof FrameFormatOptions
  | 'nameTemplate'
>;

/** The keys of {@link QueueFrameOptions}. */
export const QUEUE_FRAME_KEYS = [
  'start', 'end', 'step', 'frames', 'timestamps', 'startTime', 'endTime', 'fps', 'keyframesOnly', 'ext', 'maxWriteWorkers', 'autorotate', 'strict', 'stream', 'timeout', 'retries', 'cacheMemory', 'cacheDisk',
  'nameTemplate',
  // Size, crop and pixel format: plain JSON values.
  ...FRAME_FORMAT_KEYS,
] as const satisfies ReadonlyArray<keyof QueueFrameOptions>;


/** How a job record names a Supervisely video: `supervisely:video/<id>`, as `batch.jsonl` shows it. */
export const SUPERVISELY_VIDEO = 'supervisely:video/';

/** The id of a Supervisely video a job record names, or undefined for a URL or path. */
export function superviselyVideoId(source: string): number | undefined {
  const match = /^supervisely:video\/(\d{1,15})$/.exec(source);
  return match ? Number(match[1]) : undefined;
}

/** How a shard or plan job is retried after a failure that may pass (a timeout, a server down a while). */
export interface RetrySettings {
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** Milliseconds before the first retry, doubling with each one. */
  readonly backoff: number;
}

/** What every job of a video carries: which batch, which video, where from and where to. */
export interface VideoRecord {
  readonly batch: string;
  /** The video's place in the batch's list of sources, from 0. */
  readonly video: number;
  /**
   * A URL (with the credentials it holds itself, never request headers), an absolute path, or
   * `supervisely:video/<id>` (read with the worker's own Supervisely credentials).
   */
  readonly source: string;
  /** `sourceName(source)`: the directory under `out`. */
  readonly name: string;
  /** The destination: an absolute directory (local or a mount every worker sees), or `s3://bucket/prefix`. */
  readonly out: string;
}

export interface PlanJobData extends VideoRecord {
  readonly options: QueueFrameOptions;
  readonly shardFrames: number;
  readonly retry: RetrySettings;
}

export interface ShardJobData extends VideoRecord {
  /** The frame options without the selection. */
  readonly options: QueueFrameOptions;
  readonly shard: number;
  /** The shard's own selection (see `Shard.selection`). */
  readonly selection: SelectionOptions;
  /**
   * Where the shard starts and how its frames are numbered, for a file without sample tables (see
   * `Shard.partialIndex`). A record without it (an MP4's, or one an older worker planned) is run with a scan.
   */
  readonly partialIndex?: PartialIndex;
}

export interface VideoJobData extends VideoRecord {
  readonly shards: number;
}

/** The frame options without the selection, which each shard brings its own of. */
export function withoutSelection(options: QueueFrameOptions): QueueFrameOptions {
  const rest: Record<string, unknown> = { ...options };
  for (const key of SELECTION_KEYS) delete rest[key];
  return rest as QueueFrameOptions;
}

/** The selection among the frame options. */
export function selectionOf(options: QueueFrameOptions): SelectionOptions {
  return Object.fromEntries(SELECTION_KEYS.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]));
}

/**
 * Checks a job record as read from Redis before a worker acts on it: anyone who can write to the queue can write
 * one. A record that is not what framepipe writes fails with `ERR_FRAMEPIPE_INVALID_JOB`, naming the field.
 */
export const checkJob = {
  plan(data: unknown, id: string | undefined): PlanJobData {
    const record = checkVideoRecord(data, id);
    const shardFrames = integer(record, 'shardFrames', 1, id);
    const retry = field(record, 'retry', id);
    if (typeof retry !== 'object' || retry === null) throw invalidJob(id, 'retry', retry);
    const checked = { attempts: integer(retry, 'attempts', 1, id), backoff: integer(retry, 'backoff', 0, id) };
    return { ...videoRecord(record), options: checkFrameOptions(record, id), shardFrames, retry: checked };
  },
  shard(data: unknown, id: string | undefined): ShardJobData {
    const record = checkVideoRecord(data, id);
    const options = checkFrameOptions(record, id);
    if (SELECTION_KEYS.some((key) => options[key] !== undefined)) throw invalidJob(id, 'options', 'a selection (a shard has its own)');
    const selection = field(record, 'selection', id);
    try {
      Selection.from(selection as SelectionOptions);
    } catch (error) {
      throw invalidJob(id, 'selection', (error as Error).message);
    }
    const partialIndex = record.partialIndex as PartialIndex | undefined;
    try {
      // Checked as the run's option, with the selection it must hold.
      if (partialIndex !== undefined) checkDirOptions(record.out as string, { ...(selection as SelectionOptions), partialIndex, resume: true });
      const frames = partialIndex && framesOfPartialIndex(partialIndex);
      if (frames && !Selection.from(selection as SelectionOptions).liesWithin(frames.first, frames.last)) {
        throw new Error(`it numbers frames ${frames.first}..${frames.last}, and the selection goes outside them`);
      }
    } catch (error) {
      throw invalidJob(id, 'partialIndex', (error as Error).message);
    }
    return { ...videoRecord(record), options, shard: integer(record, 'shard', 0, id), selection: selection as SelectionOptions, ...(partialIndex ? { partialIndex } : {}) };
  },
  video(data: unknown, id: string | undefined): VideoJobData {
    const record = checkVideoRecord(data, id);
    return { ...videoRecord(record), shards: integer(record, 'shards', 1, id) };
  },
};

function videoRecord(record: Record<string, unknown>): VideoRecord {
  const { batch, video, source, name, out } = record as unknown as VideoRecord;
  return { batch, video, source, name, out };
}

function checkVideoRecord(data: unknown, id: string | undefined): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalidJob(id, 'data', data);
  const record = data as Record<string, unknown>;
  const batch = field(record, 'batch', id);
  if (typeof batch !== 'string' || !BATCH_ID.test(batch)) throw invalidJob(id, 'batch', batch);
  integer(record, 'video', 0, id);
  const source = field(record, 'source', id);
  const isUrl = typeof source === 'string' && /^(https?|file):\/\//i.test(source) && URL.canParse(source);
  const videoId = typeof source === 'string' ? superviselyVideoId(source) : undefined;
  if (typeof source !== 'string' || source.length > 16_384 || !(isUrl || isAbsolute(source) || videoId !== undefined)) {
    throw invalidJob(id, 'source', 'not a URL, an absolute path or supervisely:video/<id>');
  }
  const name = field(record, 'name', id);
  // The name is the safe name of the source and nothing else: no record can lead a worker outside `out`.
  let safe: string | undefined;
  try {
    safe = sourceName(videoId === undefined ? source : { videoId });
  } catch {
    safe = undefined;
  }
  if (typeof name !== 'string' || name !== safe) throw invalidJob(id, 'name', name);
  const out = field(record, 'out', id);
  if (typeof out !== 'string' || !(isAbsolute(out) || /^s3:\/\/[^/]+/.test(out))) throw invalidJob(id, 'out', out);
  return record;
}

function checkFrameOptions(record: Record<string, unknown>, id: string | undefined): QueueFrameOptions {
  const options = field(record, 'options', id);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidJob(id, 'options', options);
  const unknown = Object.keys(options).filter((key) => !(QUEUE_FRAME_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) throw invalidJob(id, 'options', `an option a queued run does not take (${unknown.join(', ')})`);
  try {
    checkDirOptions(record.out as string, { ...(options as QueueFrameOptions), resume: true });
  } catch (error) {
    throw invalidJob(id, 'options', (error as Error).message);
  }
  return options as QueueFrameOptions;
}

function field(record: object, key: string, id: string | undefined): unknown {
  if (!Object.hasOwn(record, key)) throw invalidJob(id, key, undefined);
  return (record as Record<string, unknown>)[key];
}

function integer(record: object, key: string, min: number, id: string | undefined): number {
  const value = field(record, key, id);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw invalidJob(id, key, value);
  return value;
}

function invalidJob(id: string | undefined, key: string, value: unknown): FramepipeError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return new FramepipeError(ErrorCode.INVALID_JOB, `Job ${id ?? '(no id)'} is not a job framepipe can run: its ${key} is ${shown.slice(0, 200)}`);
}
