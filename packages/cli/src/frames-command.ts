import { resolve } from 'node:path';
import { ErrorCode, FramepipeError, MANIFEST_FILE_NAME, ProgressBar, RunStats, pipeVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { checkPositiveNumber } from '@framepipe/common';
import type { CommandModule, Options } from 'yargs';
import type { RawVideoFormat, RawVideoInfo, StreamToDirOptions } from '@framepipe/core';
import { DISPLAY_GROUP, DISPLAY_OPTIONS, FRAME_FLAGS, optionsFromFlags, yargsOptions } from './flags.ts';
import { runVideoCommand } from './command-run.ts';
import type { CommandRun } from './command-run.ts';
import { EXIT, announceRetries, missingNote, missingSummary, plural, reportFailure, round } from './report.ts';
import type { CliIo } from './report.ts';
import { checkSourceArgs, chooseVideo, sourceOptions } from './video-source.ts';
import type { SourceArgs } from './video-source.ts';

/** The flags of `framepipe frames`: those of the table in flags.ts, and the command's own. */
export interface FramesArgs extends SourceArgs {
  out?: string | undefined;
  'to-stdout'?: RawVideoFormat | undefined;
  'progress-interval'?: number | undefined;
  quiet: boolean;
  json: boolean;
}

/** A success with no file deserves a word: the range was empty, or no decoded frame could be numbered. */
function whyNoFrames(stats: RunStats): string {
  if (stats.framesDecoded > 0 && stats.framesUnnumbered === stats.framesDecoded) {
    return `Note: none of the ${stats.framesDecoded} decoded frames has a timestamp the frame-number rule can use (packets without pts, e.g. raw H.264 or AVI), so no frame has a number.`;
  }
  return 'Note: the requested frames are not in the video (run framepipe probe to see its frame count).';
}

/** Damaged data that the run skipped, in words, or null when there was none. */
function skippedData(stats: RunStats): string | null {
  const parts: string[] = [];
  if (stats.corruptFrames > 0) parts.push(plural(stats.corruptFrames, 'corrupt frame'));
  if (stats.rejectedPackets > 0) parts.push(`${plural(stats.rejectedPackets, 'packet')} the decoder rejected as invalid data`);
  if (parts.length === 0) return null;
  return `Note: skipped ${parts.join(' and ')}; the frames they hold have no file (--strict makes this an error).`;
}

/**
 * What the run found in the output directory and did with it, in words, or null when the directory held no frame
 * file (or `--resume` reused every one of them).
 */
function usedDirectory(stats: RunStats, outputDir: string, options: Partial<StreamToDirOptions>): string | null {
  const { filesFound, filesReplaced, filesInOtherFormats, filesCleared } = stats;
  const files = (n: number) => plural(n, 'frame file');
  if (filesCleared > 0) return `Note: --overwrite first removed ${files(filesCleared)} from ${outputDir}.`;
  const ext = (options.ext ?? 'png').toLowerCase();
  if (options.resume) {
    if (filesInOtherFormats === 0) return null;
    const redone = stats.framesDelivered > 0 ? `; the ${stats.framesDelivered} frames without one were decoded and written as .${ext}` : '';
    return `Note: --resume reuses only .${ext} files: ${files(filesInOtherFormats)} of other formats in ${outputDir} were not reused and stay beside them${redone} (--overwrite clears the directory first).`;
  }
  if (filesFound === 0) return null;
  const left = filesFound - filesReplaced;
  return `Note: ${outputDir} already held ${files(filesFound)}: this run replaced ${filesReplaced} (same names) and left ${left} as they were (--overwrite clears them first, --resume keeps them and writes only the missing frames).`;
}

// -- --to-stdout (issue 16, stdout-naming) --
/** `--to-stdout raw|y4m`: the frames as one byte stream on stdout instead of files. */
export const TO_STDOUT_OPTION: Options = {
  type: 'string',
  choices: ['raw', 'y4m'],
  requiresArg: true,
  describe: 'Write the frames to stdout instead of files: raw pixels of --pixel-format (size, format and the ffmpeg command that reads them on stderr) or a YUV4MPEG2 stream; -o - is --to-stdout raw',
  group: 'Frames:',
};

/** Flags that only mean something for files, refused with --to-stdout. */
const FILE_ONLY_FLAGS = ['ext', 'resume', 'overwrite', 'manifest', 'name-template', 'max-write-workers', 'json'] as const;

/** The byte format when the frames go to stdout (`--to-stdout`, or `-o -` for raw), else null. */
function stdoutFormat(args: FramesArgs): RawVideoFormat | null {
  return args['to-stdout'] ?? (args.out === '-' ? 'raw' : null);
}

/** What is wrong with the arguments of `framepipe frames`, if anything: the video, and where the frames go. */
export function checkFramesArgs(args: FramesArgs): true | string {
  const video = checkSourceArgs(args);
  if (video !== true) return video;
  if (args['to-stdout'] === undefined && args.out !== '-') {
    return args.out === undefined || args.out === '' ? 'Give where the frames go: --out DIR, or --to-stdout raw|y4m' : true;
  }
  if (args.out !== undefined && args.out !== '-') return `--to-stdout writes no files: --out ${args.out} cannot be used with it`;
  const refused = FILE_ONLY_FLAGS.filter((flag) => args[flag] !== undefined && args[flag] !== false).map((flag) => `--${flag}`);
  if (refused.length > 0) return `--to-stdout writes no files: ${refused.join(', ')} ${refused.length === 1 ? 'means' : 'mean'} nothing with it`;
  return true;
}

/**
 * The line on stderr before the first frame: what the bytes on stdout are, and how ffmpeg reads them. For raw bytes
 * it is the only place that says so, and is printed even with --quiet; a y4m header says it itself.
 */
function describeStream(info: RawVideoInfo): string {
  const { num, den } = info.frameRate;
  const rate = den === 1 ? `${num}` : `${num}/${den}`;
  const yuv = info.streamPixelFormat.startsWith('yuv') ? ', BT.601' : '';
  const what = info.format === 'raw' ? `raw ${info.pixelFormat} frames` : `YUV4MPEG2 (${info.streamPixelFormat}, full range${yuv})`;
  const label = info.evenlySpaced ? '' : " (the video's rate as a label: the frames picked are not evenly spaced in time, and play at that pace whatever their times)";
  return `Writing ${what}, ${info.width}x${info.height} at ${rate} fps${label}, to stdout; read it with: ffmpeg ${info.ffmpegInput} …\n`;
}

/** `framepipe frames --to-stdout`: the frames on stdout, progress and notes on stderr. */
async function runFramesToStdout(args: FramesArgs, format: RawVideoFormat, io: CliIo): Promise<number> {
  const stats = new RunStats();
  // The line that says what the bytes are comes first on stderr, the bar after it.
  let described = false;
  const progress = framesProgress(args, io, stats, 'Writing frames', () => described);
  // Nothing but frame bytes goes to stdout, and a reader that went away may still fail a write under way: its
  // EPIPE is the end of the run, never a crash.
  io.stdout.on('error', () => {});
  let video: Awaited<ReturnType<typeof chooseVideo>> | undefined;
  const stopAnnouncing = args.quiet ? () => {} : announceRetries(io);
  try {
    const options = optionsFromFlags(FRAME_FLAGS, args);
    video = await chooseVideo(args);
    const result = await pipeVideoFrames(video.input, io.stdout, {
      ...options,
      ...video.options,
      format,
      showDecodingProgress: options.showDecodingProgress === true && !args.quiet,
      progress: progress.tick,
      onStart: (info) => {
        described = true;
        if (!args.quiet || info.format === 'raw') io.stderr.write(describeStream(info));
      },
      signal: io.signal,
      stats,
    });
    progress.finish(result.readerClosed ? 'stopped' : 'done');
    if (!args.quiet) {
      const ended = result.readerClosed ? ' (the reader closed stdout, so the run stopped there)' : '';
      io.stderr.write(`Wrote ${plural(result.frames, 'frame')} (${result.bytes} bytes) to stdout in ${round(stats.seconds)} s${ended}\n`);
      const skipped = skippedData(stats);
      if (skipped) io.stderr.write(`${skipped}\n`);
      const missing = missingNote(stats.framesMissing);
      if (missing) io.stderr.write(`${missing}\n`);
      if (result.frames === 0 && !missing && !result.readerClosed) io.stderr.write(`${whyNoFrames(stats)}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    progress.finish('stopped');
    return reportFailure(error, io, false, args);
  } finally {
    stopAnnouncing();
    await video?.close();
  }
}

/**
 * The progress display of a run: a bar on stderr that appears once the run knows what to expect (or a first frame
 * is done) and `ready` says so, so a run that fails to start prints its error alone; until then a timer keeps the
 * elapsed time moving.
 */
function framesProgress(args: FramesArgs, io: CliIo, stats: RunStats, label: string, ready: () => boolean = () => true) {
  let bar: ProgressBar | null = null;
  const show = (done: number) => {
    bar ??= new ProgressBar({
      label,
      stream: io.stderr,
      // The whole run, as the summary counts it, though the bar appears once the run knows what to expect.
      elapsed: () => stats.seconds,
      ...(args['progress-interval'] !== undefined ? { interval: args['progress-interval'] * 1000 } : {}),
    });
    if (bar.total === null) bar.total = stats.framesTotal;
    bar.tick(done);
  };
  const timer = args.quiet ? null : setInterval(() => ready() && (stats.framesTotal !== null || bar) && show(0), 100);
  timer?.unref();
  return {
    tick: args.quiet ? undefined : show,
    finish(outcome: 'done' | 'stopped'): void {
      if (timer) clearInterval(timer);
      const shown = bar as ProgressBar | null;
      // Frames that complete while an interrupted run winds down get no progress call: count them.
      if (shown && stats.framesDelivered > shown.count) shown.update(stats.framesDelivered);
      shown?.finish(outcome);
    },
  };
}
// -- end --to-stdout --

/** `framepipe frames`: saves a range of frames as files, with a progress bar, and reports how it went. */
export async function runFrames(args: FramesArgs, io: CliIo): Promise<number> {
  try {
    checkPositiveNumber('progress-interval', args['progress-interval'], true);
  } catch (error) {
    return reportFailure(error, io, args.json, args);
  }
  const format = stdoutFormat(args);
  if (format) return runFramesToStdout(args, format, io);
  const out = args.out!;
  const stats = new RunStats();
  const bar = framesProgress(args, io, stats, 'Saving frames');
  const progress = bar.tick;
  let video: Awaited<ReturnType<typeof chooseVideo>> | undefined;
  let options: Partial<StreamToDirOptions> = {};
  const stopAnnouncing = args.quiet ? () => {} : announceRetries(io);
  try {
    options = optionsFromFlags(FRAME_FLAGS, args);
    video = await chooseVideo(args);
    const paths = await streamVideoFramesToDir(video.input, out, {
      ...options,
      ...video.options,
      showDecodingProgress: options.showDecodingProgress === true && !args.quiet,
      progress,
      signal: io.signal,
      stats,
    });
    finishProgress('done');
    const outputDir = resolve(out);
    const { framesReused } = stats;
    if (args.json) {
      io.stdout.write(`${JSON.stringify(summary(paths.length))}\n`);
    } else if (!args.quiet) {
      const reused = framesReused > 0 ? ` (${framesReused} of them already there)` : '';
      io.stdout.write(`Saved ${plural(paths.length, 'frame')} to ${outputDir}${reused} in ${round(stats.seconds)} s\n`);
    }
    if (stats.retries > 0 && !args.quiet && !args.json) {
      io.stderr.write(`Note: ${stats.retries} HTTP request${stats.retries === 1 ? ' was' : 's were'} retried after network failures; every frame is complete.\n`);
    }
    if (stats.truncated && !args.quiet) io.stderr.write(`Note: the frames asked for lie before the cut, but ${stats.truncated}.\n`);
    const skipped = skippedData(stats);
    if (skipped && !args.quiet) io.stderr.write(`${skipped}\n`);
    const used = usedDirectory(stats, outputDir, options);
    if (used && !args.quiet) io.stderr.write(`${used}\n`);
    // Frames without numbers are not in the selection at all: the note on timestamps says why.
    const unnumbered = stats.framesDecoded > 0 && stats.framesUnnumbered === stats.framesDecoded;
    const missing = unnumbered ? null : missingNote(stats.framesMissing);
    if (missing && !args.quiet) io.stderr.write(`${missing}\n`);
    if (paths.length === 0 && !missing && !args.quiet) io.stderr.write(`${whyNoFrames(stats)}\n`);
    return EXIT.ok;
  } catch (error) {
    finishProgress('stopped');
    const kept = stats.framesDelivered + stats.framesReused;
    // An interrupted run has kept complete files: --json says which run they came from, as a finished one does.
    const interrupted = io.signal?.aborted === true || (error instanceof FramepipeError && error.code === ErrorCode.ABORTED);
    const code = reportFailure(error, io, args.json, args, interrupted ? { ...summary(kept), interrupted } : undefined);
    if (interrupted && !args.quiet) {
      const listed = options.manifest && kept > 0 ? `, listed in ${MANIFEST_FILE_NAME}` : '';
      io.stderr.write(
        kept > 0
          ? `Interrupted: ${plural(kept, 'complete frame file')} kept in ${resolve(out)}${listed}\n`
          : 'Interrupted before any frame was saved\n',
      );
    }
    return code;
  } finally {
    stopAnnouncing();
    await video?.close();
  }

  /** The JSON summary of a run that kept `frames` files. */
  function summary(frames: number): Record<string, unknown> {
    const { corruptFrames, rejectedPackets, framesReused, filesFound, filesReplaced, filesInOtherFormats, filesCleared } = stats;
    return {
      frames,
      outputDir: resolve(out),
      seconds: round(stats.seconds),
      bytesRead: stats.bytesRead,
      ...(stats.retries > 0 ? { retries: stats.retries } : {}),
      ...(options.resume ? { reused: framesReused } : {}),
      ...(corruptFrames > 0 ? { corruptFrames } : {}),
      ...(rejectedPackets > 0 ? { rejectedPackets } : {}),
      ...(filesFound > 0 ? { filesFound, filesReplaced, filesInOtherFormats } : {}),
      ...(filesCleared > 0 ? { filesCleared } : {}),
      ...(stats.truncated ? { truncated: stats.truncated } : {}),
      ...missingSummary(stats.framesMissing),
    };
  }

  function finishProgress(outcome: 'done' | 'stopped'): void {
    bar.finish(outcome);
  }
}

/** The options and handler of `framepipe frames`. */
export function framesCommand(run: CommandRun): Pick<CommandModule<object, FramesArgs>, 'builder' | 'handler'> {
  return {
    builder: (y) =>
      sourceOptions(y)
        .usage('Usage:\n  $0 frames <url|path> --out DIR [options]\n  $0 frames --video-id N --out DIR [options]\n  $0 frames <url|path> --to-stdout raw|y4m [options] | ffmpeg ...\n\nSave frames <start>..<end> as frame_<number:06d>.<ext> in DIR, or write them to stdout. Frame numbers follow Supervisely\'s rule, so they match annotations made there.')
        .option('out', { alias: 'o', type: 'string', requiresArg: true, describe: 'Output directory (created if missing); - writes raw frames to stdout', group: 'Frames:' })
        .option('to-stdout', TO_STDOUT_OPTION)
        .options(yargsOptions(FRAME_FLAGS))
        .options(DISPLAY_OPTIONS)
        .option('json', { type: 'boolean', default: false, describe: 'Print one JSON summary on stdout: {frames, outputDir, seconds, bytesRead, ...}', group: DISPLAY_GROUP })
        .epilog(
          [
            'Examples:',
            '  framepipe frames https://example.com/clip.mp4 -o frames --end 9   frames 0-9 as PNG',
            '  framepipe frames clip.mp4 -o frames --ext jpg                     every frame as JPEG',
            '  framepipe frames clip.mp4 -o frames --timestamps 0,30,60          the frames at 0, 30 and 60 s',
            '  framepipe frames clip.mp4 -o frames --start-time 60 --fps 1       from 60 s on, the frame shown each second',
            '  framepipe frames clip.mp4 -o frames --keyframes-only              the keyframes (nothing else decoded)',
            '  framepipe frames clip.mp4 --to-stdout y4m | ffmpeg -f yuv4mpegpipe -i - out.mp4',
            '                    the frames to another program, no files',
            '  framepipe frames --video-id 12345 -o frames --start 100 --end 149',
            '                    a Supervisely video; credentials from ~/supervisely.env',
          ].join('\n'),
        ) as never,
    handler: (args) => runVideoCommand(run, args.verbose as boolean, args, () => runFrames(args, run.io), checkFramesArgs),
  };
}
