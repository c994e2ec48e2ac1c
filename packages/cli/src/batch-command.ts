import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import type { Argv, CommandModule, Options } from 'yargs';
import { BATCH_FILE_NAME, openDestination, runBatch } from '@framepipe/batch';
import type { BatchOptions, BatchProgress, BatchSource, BatchSummary, FrameDestination } from '@framepipe/batch';
import { ErrorCode, FramepipeError, InvalidOptionError, checkInteger, checkPositiveNumber } from '@framepipe/common';
import { ProgressBar } from '@framepipe/core';
import type { SuperviselyApi } from '@framepipe/supervisely';
import { BATCH_FLAGS, BATCH_FRAME_FLAGS, DISPLAY_GROUP, DISPLAY_OPTIONS, SOURCE_FLAGS, STREAM_FLAG, credentialOptions, numberAsText, optionsFromFlags, yargsOptions } from './flags.ts';
import { EXIT, announceRetries, errorLine, plural, reportFailure, round } from './report.ts';
import type { CliIo } from './report.ts';
import { superviselyApi } from './video-source.ts';
import { runVideoCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';

/** The flags of `framepipe batch`. */
export interface BatchArgs {
  sources?: string[] | undefined;
  out: string;
  'from-file'?: string | undefined;
  'dataset-id'?: number | undefined;
  'server-address'?: string | undefined;
  'api-token'?: string | undefined;
  'progress-interval'?: number | undefined;
  quiet: boolean;
  json: boolean;
  verbose: boolean;
  [flag: string]: unknown;
}

const VIDEOS_GROUP = 'Videos (<source>..., --from-file or --dataset-id):';

/** `--from-file`, `--dataset-id` and the Supervisely credentials: the ways other than `<source>...` to give videos. */
export const VIDEO_LIST_OPTIONS: Readonly<Record<string, Options>> = {
  'from-file': {
    type: 'string',
    requiresArg: true,
    describe: 'Read the videos from LIST, one URL or path per line (blank lines and # comments skipped; - reads stdin)',
    group: VIDEOS_GROUP,
  },
  'dataset-id': numberAsText({ type: 'number', requiresArg: true, describe: 'Every video of this Supervisely dataset', group: VIDEOS_GROUP }),
  ...credentialOptions(VIDEOS_GROUP),
};

/** The options of `framepipe batch`, on the yargs of its command. */
export function batchOptions<T>(y: Argv<T>) {
  return y
    .usage(
      [
        'Usage:',
        '  $0 batch <url|path>... --out DIR [options]',
        '  $0 batch --from-file LIST --out DIR [options]',
        '  $0 batch --dataset-id N --out DIR [options]',
        '',
        'Save the frames of many videos, each into DIR/<name>/ as frame_<number:06d>.<ext>: <name> is the file name without its extension, ' +
          `or the Supervisely video id. Run again, it writes only what is missing. At the end DIR/${BATCH_FILE_NAME} has one line per video: ` +
          'source, name, frames, status and error code.',
      ].join('\n'),
    )
    .positional('sources', { type: 'string', array: true, describe: 'http(s) URLs or local paths of the videos' })
    .option('out', {
      alias: 'o',
      type: 'string',
      demandOption: true,
      requiresArg: true,
      describe: 'Output directory (created if missing), or s3://bucket/prefix (endpoint and credentials from the AWS variables)',
      group: 'Frames:',
    })
    .options(VIDEO_LIST_OPTIONS)
    .options(yargsOptions(SOURCE_FLAGS, VIDEOS_GROUP))
    .options(yargsOptions([STREAM_FLAG], VIDEOS_GROUP))
    .options(yargsOptions(BATCH_FRAME_FLAGS.filter((flag) => flag !== STREAM_FLAG)))
    .options(yargsOptions(BATCH_FLAGS))
    .options(DISPLAY_OPTIONS)
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'Print one JSON summary on stdout: {videos, done, failed, framesWritten, framesReused, outputDir, report, seconds, failures}',
      group: DISPLAY_GROUP,
    })
    .epilog(
      [
        'Examples:',
        '  framepipe batch https://example.com/a.mp4 clips/b.mkv -o frames --step 10',
        '  find clips -name "*.mp4" | framepipe batch --from-file - -o frames --ext jpg',
        '  framepipe batch --dataset-id 55846 -o frames --concurrency 4   credentials from ~/supervisely.env',
        '',
        'Exit codes: 0 every video done, 1 a video failed (each one is named on stderr with its error code), 2 bad usage or option, ' +
          '130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Interrupted, the files written are complete and kept: run the same command again to finish.',
      ].join('\n'),
    );
}

/**
 * Checks that the videos are given one way: `<source>...`, `--from-file` or `--dataset-id`, and the Supervisely
 * flags only with a dataset. Returns true, or what is wrong (reported as a usage error).
 */
export function checkBatchArgs(args: BatchArgs): true | string {
  const ways = [
    (args.sources?.length ?? 0) > 0 ? '<source>' : null,
    args['from-file'] !== undefined ? '--from-file' : null,
    args['dataset-id'] !== undefined ? '--dataset-id' : null,
  ].filter((way) => way !== null);
  if (ways.length === 0) return 'Give the videos: <source>... (URLs or paths), --from-file LIST or --dataset-id N';
  if (ways.length > 1) return `Give the videos one way: ${ways.join(' and ')} cannot be used together`;
  if (args['dataset-id'] === undefined && (args['server-address'] !== undefined || args['api-token'] !== undefined)) {
    return '--server-address and --api-token go with --dataset-id';
  }
  return true;
}

/** `framepipe batch`: runs `runBatch` with one progress display for the whole batch, and reports each failure. */
export async function runBatchCommand(args: BatchArgs, io: CliIo): Promise<number> {
  const started = performance.now();
  let ended: number | null = null;
  let destination: FrameDestination | null = null;
  let out = args.out;
  let bar: ProgressBar | null = null;
  let timer: NodeJS.Timeout | null = null;
  let last: BatchProgress | null = null;
  let videos = 0;
  const stopAnnouncing = args.quiet ? () => {} : announceRetries(io);
  try {
    const interval = checkPositiveNumber('progress-interval', args['progress-interval'], true);
    // Opening makes no request and creates nothing; the batch prepares it once every option is checked.
    destination = openDestination(args.out);
    out = destination.location;
    const options: Partial<BatchOptions> = {
      ...optionsFromFlags(SOURCE_FLAGS, args),
      ...optionsFromFlags(BATCH_FRAME_FLAGS, args),
      ...optionsFromFlags(BATCH_FLAGS, args),
    };
    const { sources, api } = await batchSources(args, io, options);
    videos = sources.length;
    // The display appears once the batch runs (its first tick, or a first file), so a batch refused up front (a
    // bad option, two sources with one name) prints its error alone; then the elapsed time moves on a terminal
    // while no file is written (videos opening, a scan).
    const show = () => {
      if (args.quiet) return;
      // The bar counts from the start of the batch, as the summary does, though it appears at the first tick.
      bar ??= new ProgressBar({ label: 'Saving frames', stream: io.stderr, elapsed: took, ...(interval !== undefined ? { interval: interval * 1000 } : {}) });
      bar.detail = videoCounts(videos, last?.videosDone ?? 0, last?.videosFailed ?? 0);
      bar.update(last?.framesWritten ?? 0);
    };
    const running = runBatch(sources, {
      ...options,
      out: destination,
      ...(api ? { api } : {}),
      signal: io.signal,
      onProgress: (progress) => {
        last = progress;
        show();
      },
    });
    timer = setInterval(show, 100);
    timer.unref();
    const summary = await running;
    finish('done');
    return reportSummary(summary);
  } catch (error) {
    finish('stopped');
    const progress = last as BatchProgress | null;
    const framesWritten = progress?.framesWritten ?? 0;
    const interrupted = io.signal?.aborted === true || (error instanceof FramepipeError && error.code === ErrorCode.ABORTED);
    const summary = interrupted
      ? { videos, done: progress?.videosDone ?? 0, failed: progress?.videosFailed ?? 0, framesWritten, outputDir: out, seconds: seconds(), interrupted }
      : undefined;
    const code = reportFailure(error, io, args.json, args, summary);
    if (interrupted && !args.quiet) {
      io.stderr.write(
        framesWritten > 0
          ? `Interrupted: the ${plural(framesWritten, 'frame file')} this run wrote are complete and kept under ${out}; run the same command again to finish\n`
          : 'Interrupted before any frame was saved\n',
      );
    }
    return code;
  } finally {
    stopAnnouncing();
    await destination?.close();
  }

  /** Seconds since the batch started, until it finished. */
  function took(): number {
    return ((ended ?? performance.now()) - started) / 1000;
  }

  function seconds(): number {
    return round(took());
  }

  function finish(outcome: 'done' | 'stopped'): void {
    ended = performance.now();
    if (timer) clearInterval(timer);
    (bar as ProgressBar | null)?.finish(outcome);
  }

  /** Prints how the batch ended; exit 1 when a video failed, naming each with its code. */
  function reportSummary(summary: BatchSummary): number {
    const failures = summary.videos
      .filter((video) => video.status === 'failed')
      .map((video) => ({ name: video.name, source: video.source, ...errorLine(video.error) }));
    if (args.json) {
      const { done, failed, framesWritten, framesReused, report } = summary;
      const json = { videos: summary.videos.length, done, failed, framesWritten, framesReused, outputDir: out, report, seconds: seconds(), failures };
      io.stdout.write(`${JSON.stringify(json)}\n`);
    } else if (!args.quiet) {
      const outcome = summary.failed === 0 ? `${plural(summary.done, 'video')} done` : `${summary.done} of ${plural(summary.videos.length, 'video')} done, ${summary.failed} failed`;
      const kept = summary.framesReused > 0 ? ` (and ${summary.framesReused} kept from an earlier run)` : '';
      io.stdout.write(`${outcome}: ${plural(summary.framesWritten, 'frame')} saved to ${out}${kept} in ${seconds()} s; report in ${summary.report}\n`);
    }
    if (summary.videos.length === 0 && !args.quiet) io.stderr.write(`Note: dataset ${String(args['dataset-id'])} holds no video\n`);
    // One line per failed video, even with --quiet: they are errors.
    for (const failure of failures) io.stderr.write(`${failure.code} ${failure.name}: ${failure.message}\n`);
    return summary.failed > 0 ? EXIT.failed : EXIT.ok;
  }
}

/** `3/5 videos`, and how many failed when some did. */
function videoCounts(total: number, done: number, failed: number): string {
  return `${done + failed}/${total} videos${failed > 0 ? `, ${failed} failed` : ''}`;
}

/** The videos the flags give, and the Supervisely connection that reads them when they are a dataset's. */
export async function batchSources(
  args: Pick<BatchArgs, 'sources' | 'from-file' | 'dataset-id' | 'server-address' | 'api-token'>,
  io: CliIo,
  options: Pick<BatchOptions, 'timeout' | 'retries'>,
): Promise<{ sources: BatchSource[]; api?: SuperviselyApi }> {
  const datasetId = args['dataset-id'];
  if (datasetId !== undefined) {
    checkInteger('datasetId', datasetId, 1);
    const { timeout, retries } = options;
    const api = await superviselyApi(args, timeout);
    const listed = await api.listDatasetVideos(datasetId, { signal: io.signal, ...(retries !== undefined ? { retries } : {}) });
    return { sources: listed.map(({ id }) => ({ videoId: id })), api };
  }
  const list = args['from-file'];
  if (list === undefined) return { sources: args.sources ?? [] };
  const sources = await readList(list, io);
  if (sources.length === 0) {
    throw new InvalidOptionError('fromFile', `${list === '-' ? 'stdin' : list} (--from-file) names no video: put one URL or path per line`);
  }
  return { sources };
}

/** The lines of a list of videos (`-`: stdin), without blank lines and `#` comments. */
async function readList(list: string, io: CliIo): Promise<string[]> {
  let lines: string;
  try {
    lines = list === '-' ? await text(io.stdin ?? process.stdin) : await readFile(list, 'utf8');
  } catch (error) {
    throw new FramepipeError(ErrorCode.FILE_NOT_FOUND, `Cannot read the list of videos ${list} (--from-file): ${(error as Error).message}`, { path: list, cause: error });
  }
  return lines
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The options and handler of `framepipe batch`. */
export function batchCommand(run: CommandRun): Pick<CommandModule<object, BatchArgs>, 'builder' | 'handler'> {
  return {
    builder: (y) => batchOptions(y) as never,
    handler: (args) => runVideoCommand(run, args.verbose, args, () => runBatchCommand(args, run.io), checkBatchArgs),
  };
}
