import { resolve } from 'node:path';
import { ErrorCode, FramepipeError, MANIFEST_FILE_NAME, ProgressBar, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { checkPositiveNumber } from '@framepipe/common';
import type { StreamToDirOptions } from '@framepipe/core';
import { FRAME_FLAGS, optionsFromFlags } from './flags.ts';
import { EXIT, announceRetries, missingNote, missingSummary, plural, reportFailure, round } from './report.ts';
import type { CliIo } from './report.ts';
import { chooseVideo } from './video-source.ts';
import type { SourceArgs } from './video-source.ts';

/** The flags of `framepipe frames`: those of the table in flags.ts, and the command's own. */
export interface FramesArgs extends SourceArgs {
  out: string;
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

/** `framepipe frames`: saves a range of frames as files, with a progress bar, and reports how it went. */
export async function runFrames(args: FramesArgs, io: CliIo): Promise<number> {
  try {
    checkPositiveNumber('progress-interval', args['progress-interval'], true);
  } catch (error) {
    return reportFailure(error, io, args.json, args);
  }
  const stats = new RunStats();
  // The bar appears once the run knows what to expect (or saves a first frame), so a run that fails to start
  // prints its error alone. Until the first file, the timer keeps the elapsed time moving.
  let bar: ProgressBar | null = null;
  const showProgress = (saved: number) => {
    bar ??= new ProgressBar({
      label: 'Saving frames',
      stream: io.stderr,
      ...(args['progress-interval'] !== undefined ? { interval: args['progress-interval'] * 1000 } : {}),
    });
    if (bar.total === null) bar.total = stats.framesTotal;
    bar.tick(saved);
  };
  const timer = args.quiet ? null : setInterval(() => (stats.framesTotal !== null || bar) && showProgress(0), 100);
  timer?.unref();
  const progress = args.quiet ? undefined : showProgress;
  let video: ReturnType<typeof chooseVideo> | undefined;
  let options: Partial<StreamToDirOptions> = {};
  const stopAnnouncing = args.quiet ? () => {} : announceRetries(io);
  try {
    options = optionsFromFlags(FRAME_FLAGS, args);
    video = chooseVideo(args);
    const paths = await streamVideoFramesToDir(video.input, args.out, {
      ...options,
      ...video.options,
      showDecodingProgress: options.showDecodingProgress === true && !args.quiet,
      progress,
      signal: io.signal,
      stats,
    });
    finishProgress('done');
    const outputDir = resolve(args.out);
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
          ? `Interrupted: ${plural(kept, 'complete frame file')} kept in ${resolve(args.out)}${listed}\n`
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
      outputDir: resolve(args.out),
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
    if (timer) clearInterval(timer);
    const shown = bar as ProgressBar | null;
    // Writes that complete while an interrupted run winds down are kept but get no progress call: count them.
    if (shown && stats.framesDelivered > shown.count) shown.update(stats.framesDelivered);
    shown?.finish(outcome);
  }
}
