import { availableParallelism } from 'node:os';
import { ErrorCode, FramepipeError, assertKnownKeys, assertOptionsObject, checkOptions, invalidOption, rules, throwIfAborted } from '@framepipe/common';
import type { RuleTable } from '@framepipe/common';
import { OPTION_KEYS, RunStats, checkDirOptions } from '@framepipe/core';
import type { ByteSourceInput, SourceOptions, StreamToDirOptions } from '@framepipe/core';
import { isByteSource } from '@framepipe/http-source';
import { SuperviselyApi } from '@framepipe/supervisely';
import type { SuperviselyVideoSourceOptions } from '@framepipe/supervisely';
import type { FrameDestination } from './destination.ts';
import { openDestination } from './open-destination.ts';
import { isVideoIdSource, shownSource, sourceName } from './source-name.ts';
import type { BatchSource } from './source-name.ts';

/** The report a batch writes into its `out` directory once every video has ended. */
export const BATCH_FILE_NAME = 'batch.jsonl';

/** The code a video's failure is recorded with when the error is not one of framepipe's (a bug). */
const UNEXPECTED = 'ERR_FRAMEPIPE_UNEXPECTED';

/**
 * Options of {@link runBatch}: where, how many at once, and every option of `streamVideoFramesToDir` but those the
 * batch sets for each video: `resume` always (a batch run again does only what is missing), hence never `overwrite`;
 * `progress` and `stats`, which count one video (see `onProgress` and the summary); and `partialIndex`, which
 * describes a range of one video (a shard's).
 */
export interface BatchOptions extends Omit<StreamToDirOptions, 'resume' | 'overwrite' | 'progress' | 'stats' | 'partialIndex'> {
  /**
   * Where the videos go, each into `<out>/<name>/` (see `sourceName`): a directory (created if missing),
   * `s3://bucket/prefix` (S3-compatible object storage, with the endpoint and credentials of the standard AWS
   * environment variables; see `S3Destination`), or a `FrameDestination` of your own making (an `S3Destination`
   * with a client you configured, say), which the batch leaves open.
   */
  out: string | FrameDestination;
  /**
   * Videos read at the same time.
   * @default os.availableParallelism()
   */
  concurrency?: number | undefined;
  /**
   * Called after each frame file a video writes, and when a video ends (or stops, when the batch is aborted), with
   * the counts of the whole batch.
   */
  onProgress?: ((progress: BatchProgress) => void) | undefined;
  /**
   * The Supervisely instance `{ videoId }` sources are read from. `headers`, `timeout`, `retries` and the cache
   * limits apply to their reads too. Its token goes nowhere but into the requests to that instance: not into
   * `batch.jsonl`, results or messages.
   * @default SuperviselyApi.fromEnv() (SERVER_ADDRESS and API_TOKEN from the environment, ./local.env or
   * ~/supervisely.env), looked up before any video is read, and only when a source has a videoId
   */
  api?: SuperviselyApi | undefined;
}

/** Where a batch stands, as {@link BatchOptions.onProgress} receives it. */
export interface BatchProgress {
  /** The video the call is about. */
  readonly video: {
    /** Its place in the list of sources, from 0. */
    readonly index: number;
    readonly name: string;
    /** Frame files it has written so far in this run. */
    readonly framesWritten: number;
    /** `stopped`: the batch was aborted while the video ran; the files it wrote are complete and stay. */
    readonly status: 'running' | 'done' | 'failed' | 'stopped';
  };
  readonly videos: number;
  readonly videosDone: number;
  readonly videosFailed: number;
  /** Frame files written so far by every video of this run (files kept from an earlier run not counted). */
  readonly framesWritten: number;
}

/** How one video of a batch ended. */
export interface BatchVideoResult {
  /** The source as `shownSource` shows it: URLs without credentials, never request headers or a Supervisely token. */
  readonly source: string;
  readonly name: string;
  /** Where its frames are: `<out>/<name>`, an absolute path, or `s3://bucket/prefix/<name>` for object storage. */
  readonly dir: string;
  /** Frame files (or objects) of its selection in `dir` once it ended: written now or kept from an earlier run. */
  readonly frames: number;
  readonly status: 'done' | 'failed';
  /** Why it failed: the error's `code`, `ERR_FRAMEPIPE_UNEXPECTED` for an error that is not framepipe's. */
  readonly code?: string;
  /** The error it failed with. */
  readonly error?: unknown;
  /** Frame files written by this run. */
  readonly framesWritten: number;
  /** Frame files of an earlier run kept as they were. */
  readonly framesReused: number;
}

/** What {@link runBatch} resolves with. */
export interface BatchSummary {
  /** One result per source, in the order of the sources. */
  readonly videos: readonly BatchVideoResult[];
  readonly done: number;
  readonly failed: number;
  readonly framesWritten: number;
  readonly framesReused: number;
  /** Where the `batch.jsonl` was written: its path, or its `s3://` URL. */
  readonly report: string;
}

/** One line of `batch.jsonl`, as `JSON.parse` reads it back. */
export interface BatchReportLine {
  readonly source: string;
  readonly name: string;
  readonly frames: number;
  readonly status: 'done' | 'failed';
  readonly code?: string;
}

const BATCH_RULES = {
  out: { check: (value: unknown, name: string) => checkOut(name, value) },
  concurrency: { ...rules.integer(1), fallback: () => Math.max(1, availableParallelism()) },
  onProgress: rules.function<(progress: BatchProgress) => void>(),
  api: rules.instance(SuperviselyApi, 'a SuperviselyApi (new SuperviselyApi({ serverAddress, token }) or SuperviselyApi.fromEnv())'),
} satisfies RuleTable<Pick<BatchOptions, 'out' | 'concurrency' | 'onProgress' | 'api'>>;

/** The options of `streamVideoFramesToDir` that {@link BatchOptions} leaves out. */
const PER_VIDEO: readonly string[] = ['resume', 'overwrite', 'progress', 'stats', 'partialIndex'] satisfies Array<keyof StreamToDirOptions>;

/** The options that say how a video's bytes are fetched: a Supervisely video's source takes them, not the run. */
const TRANSPORT = ['headers', 'timeout', 'retries', 'cacheMemory', 'cacheDisk'] as const satisfies ReadonlyArray<keyof SourceOptions & keyof SuperviselyVideoSourceOptions>;

/**
 * Extracts the frames of many videos, `concurrency` at a time, each into `<out>/<name>/` as `frame_<index:06d>.<ext>`
 * (`<name>` from {@link sourceName}), with the same frame options for all. Every video runs as
 * `streamVideoFramesToDir` with `resume: true`: a batch run again (after a crash, Ctrl-C, a failed video) keeps
 * the complete files and writes only the missing ones.
 *
 * Before any video is read, the options are checked and every source is named: a source with no name fails with
 * `ERR_FRAMEPIPE_INVALID_NAME`, two sources with one name (or names that differ only in case) with
 * `ERR_FRAMEPIPE_DUPLICATE_NAME`. A video that fails (a 404, a file with no video) does not stop the others: its
 * result has `status: 'failed'` and the error's `code`. A Supervisely video `{ videoId }` is read through `api` (by
 * default `SuperviselyApi.fromEnv()`, which fails with `ERR_FRAMEPIPE_MISSING_CREDENTIALS` before any video is read
 * when it finds no credentials) and named by its id. Once every video has ended, `<out>/batch.jsonl` holds one
 * {@link BatchReportLine} per source, in their order, written whole or not at all; it never holds request headers
 * or the credentials of a URL. `signal` stops every video (no partial file is left) and rejects with
 * `ERR_FRAMEPIPE_ABORTED`, without writing `batch.jsonl`.
 *
 * @example
 * const summary = await runBatch(['https://example.com/a.mp4', '/data/b.mkv'], { out: '/tmp/frames', step: 10 });
 * console.log(`${summary.done} done, ${summary.failed} failed`); // frames in /tmp/frames/a/ and /tmp/frames/b/
 *
 * @example
 * // Every video of a Supervisely dataset, each into /tmp/frames/<video id>/:
 * const api = SuperviselyApi.fromEnv();
 * const videos = await api.listDatasetVideos(55846);
 * await runBatch(videos.map(({ id }) => ({ videoId: id })), { out: '/tmp/frames', api, ext: 'jpg' });
 */
export async function runBatch(sources: readonly BatchSource[], options: BatchOptions): Promise<BatchSummary> {
  if (!Array.isArray(sources)) throw invalidOption('sources', 'an array of URLs, paths, { url, headers } or { videoId }', sources);
  const given = assertOptionsObject(options, 'runBatch') as Record<string, unknown>;
  const batchKeys = Object.keys(BATCH_RULES);
  const runKeys = OPTION_KEYS.dir.filter((key) => !PER_VIDEO.includes(key));
  assertKnownKeys(given, [...batchKeys, ...runKeys], 'runBatch');
  if (given.out === undefined) throw invalidOption('out', 'a non-empty path, s3://bucket/prefix or a FrameDestination', given.out);
  const settings = checkOptions(BATCH_RULES, Object.fromEntries(batchKeys.map((key) => [key, given[key]])), 'runBatch');
  const runOptions = Object.fromEntries(runKeys.filter((key) => given[key] !== undefined).map((key) => [key, given[key]])) as StreamToDirOptions;
  const ownsDestination = typeof settings.out === 'string';
  const destination = typeof settings.out === 'string' ? openDestination(settings.out) : settings.out!;
  try {
    return await runVideos(sources, destination, settings, runOptions);
  } finally {
    if (ownsDestination) await destination.close();
  }
}

async function runVideos(
  sources: readonly BatchSource[],
  destination: FrameDestination,
  settings: { concurrency: number; onProgress?: ((progress: BatchProgress) => void) | undefined; api?: SuperviselyApi | undefined },
  runOptions: StreamToDirOptions,
): Promise<BatchSummary> {
  // The frame options of every video, checked once here rather than failing each video alike.
  checkDirOptions(destination.location, { ...runOptions, resume: true });
  const { signal } = runOptions;
  const videos = namedVideos(sources);
  // Credentials are looked up once, before any video is read, and only when a video needs them.
  const api = videos.some((video) => isVideoIdSource(video.source)) ? (settings.api ?? SuperviselyApi.fromEnv()) : undefined;
  const transport = Object.fromEntries(TRANSPORT.filter((key) => runOptions[key] !== undefined).map((key) => [key, runOptions[key]])) as SuperviselyVideoSourceOptions;
  throwIfAborted(signal);

  await destination.prepare(runOptions);
  const results: BatchVideoResult[] = new Array(videos.length);
  const totals = { done: 0, failed: 0, framesWritten: 0 };
  const report = (index: number, name: string, framesWritten: number, status: BatchProgress['video']['status']) =>
    settings.onProgress?.({
      video: { index, name, framesWritten, status },
      videos: videos.length,
      videosDone: totals.done,
      videosFailed: totals.failed,
      framesWritten: totals.framesWritten,
    });

  const runVideo = async (index: number): Promise<void> => {
    const { source, name } = videos[index]!;
    const dir = destination.videoLocation(name);
    const stats = new RunStats();
    let written = 0;
    let reused = 0;
    const progress = () => {
      written++;
      totals.framesWritten++;
      report(index, name, written, 'running');
    };
    const shown = shownSource(source);
    // A Supervisely video is read through its own source, which takes the options of how bytes are fetched.
    const supervisely = isVideoIdSource(source) ? api!.videoSource(source.videoId, transport) : undefined;
    const input: ByteSourceInput = supervisely ?? (source as Exclude<BatchSource, { videoId: number }>);
    try {
      const frames = await destination.writeVideo(input, name, { ...runOptions, stats, progress, reused: (count) => (reused = count) });
      results[index] = { source: shown, name, dir, frames, status: 'done', framesWritten: written, framesReused: reused };
      totals.done++;
    } catch (error) {
      if (signal?.aborted) {
        report(index, name, written, 'stopped');
        throw error;
      }
      const code = error instanceof FramepipeError ? error.code : UNEXPECTED;
      const frames = written + reused;
      results[index] = { source: shown, name, dir, frames, status: 'failed', code, error, framesWritten: written, framesReused: reused };
      totals.failed++;
    } finally {
      await supervisely?.close();
    }
    report(index, name, written, results[index].status);
  };

  // `concurrency` lanes, each taking the next video in the order of the sources.
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < videos.length && !signal?.aborted) await runVideo(next++);
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(settings.concurrency, videos.length) }, lane));
  // Every lane has settled, so no video still writes: an abort leaves only complete files.
  throwIfAborted(signal);
  const failure = lanes.find((lane) => lane.status === 'rejected');
  if (failure) throw failure.reason;

  const path = await destination.writeReport(BATCH_FILE_NAME, results.map((result) => `${JSON.stringify(reportLine(result))}\n`).join(''));
  let framesReused = 0;
  for (const result of results) framesReused += result.framesReused;
  return { videos: results, done: totals.done, failed: totals.failed, framesWritten: totals.framesWritten, framesReused, report: path };
}

/**
 * Names every source of a batch ({@link sourceName}) and refuses, before anything runs, a source with no name
 * (`ERR_FRAMEPIPE_INVALID_NAME`), one named as the report (`batch.jsonl`), and two that would share a directory
 * (`ERR_FRAMEPIPE_DUPLICATE_NAME`, names that differ only in case included).
 *
 * @example
 * namedVideos(['https://h/a.mp4', '/data/b.mkv']); // [{ source: 'https://h/a.mp4', name: 'a' }, { source: '/data/b.mkv', name: 'b' }]
 */
export function namedVideos(sources: readonly BatchSource[]): Array<{ source: BatchSource; name: string }> {
  const byKey = new Map<string, { source: BatchSource; name: string }>();
  return sources.map((source) => {
    if (isByteSource(source)) throw invalidOption('sources', 'URLs, paths, { url, headers } or { videoId } (a ByteSource has no name to file its frames under)', source);
    const name = sourceName(source);
    if (name.toLowerCase() === BATCH_FILE_NAME) {
      throw new FramepipeError(
        ErrorCode.INVALID_NAME,
        `${shownSource(source)} would write into ${JSON.stringify(name)}, the name of the batch's report: rename the file, or run it on its own`,
        { source: shownSource(source) },
      );
    }
    // Case-insensitive file systems (macOS, Windows, some shared mounts) would put both in one directory.
    const key = name.toLowerCase();
    const earlier = byKey.get(key);
    if (earlier) {
      const how = earlier.name === name ? `the name ${JSON.stringify(name)}` : `the names ${JSON.stringify(earlier.name)} and ${JSON.stringify(name)}, which differ only in case`;
      throw new FramepipeError(
        ErrorCode.DUPLICATE_NAME,
        `${shownSource(earlier.source)} and ${shownSource(source)} would both write into the same directory (${how}): rename one, or run them as two batches`,
        { source: shownSource(source) },
      );
    }
    const video = { source, name };
    byKey.set(key, video);
    return video;
  });
}

function reportLine(result: BatchVideoResult): BatchReportLine {
  const { source, name, frames, status, code } = result;
  return code === undefined ? { source, name, frames, status } : { source, name, frames, status, code };
}

function checkOut(name: string, value: unknown): string | FrameDestination {
  if (typeof value === 'string' && value.length > 0) return value;
  const destination = value as Partial<FrameDestination> | null;
  if (typeof destination === 'object' && destination !== null && typeof destination.writeVideo === 'function' && typeof destination.writeReport === 'function') {
    return destination as FrameDestination;
  }
  throw invalidOption(name, 'a non-empty path, s3://bucket/prefix or a FrameDestination', value);
}
