import { resolve } from 'node:path';
import { MANIFEST_FILE_NAME, ProgressBar, RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { checkPositiveNumber } from '@framepipe/common';
import type { StreamToDirOptions } from '@framepipe/core';
import { FRAME_FLAGS, optionsFromFlags } from './flags.ts';
import { EXIT, announceRetries, reportFailure, round } from './report.ts';
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
  if (stats.framesDecoded > 0) {
    return `Note: none of the ${stats.framesDecoded} decoded frames has a timestamp the frame-number rule can use (packets without pts, e.g. raw H.264 or AVI), so no frame has a number.`;
  }
  return 'Note: the requested frames are not in the video (run framepipe probe to see its frame count).';
}

/** Damaged data that the run skipped, in words, or null when there was none. */
function skippedData(stats: RunStats): string | null {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (stats.corruptFrames > 0) parts.push(plural(stats.corruptFrames, 'corrupt frame'));
  if (stats.rejectedPackets > 0) parts.push(`${plural(stats.rejectedPackets, 'packet')} the decoder rejected as invalid data`);
  if (parts.length === 0) return null;
  return `Note: skipped ${parts.join(' and ')}; the frames they hold have no file (--strict makes this an error).`;
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
    finishProgress();
    const outputDir = resolve(args.out);
    const { corruptFrames, rejectedPackets, framesReused } = stats;
    if (args.json) {
      const summary = {
        frames: paths.length,
        outputDir,
        seconds: round(stats.seconds),
        bytesRead: stats.bytesRead,
        ...(stats.retries > 0 ? { retries: stats.retries } : {}),
        ...(options.resume ? { reused: framesReused } : {}),
        ...(corruptFrames > 0 ? { corruptFrames } : {}),
        ...(rejectedPackets > 0 ? { rejectedPackets } : {}),
      };
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    } else if (!args.quiet) {
      const reused = framesReused > 0 ? ` (${framesReused} of them already there)` : '';
      io.stdout.write(`Saved ${paths.length} frames to ${outputDir}${reused} in ${round(stats.seconds)} s\n`);
    }
    if (stats.retries > 0 && !args.quiet && !args.json) {
      io.stderr.write(`Note: ${stats.retries} HTTP request${stats.retries === 1 ? ' was' : 's were'} retried after network failures; every frame is complete.\n`);
    }
    const skipped = skippedData(stats);
    if (skipped && !args.quiet) io.stderr.write(`${skipped}\n`);
    if (paths.length === 0 && !args.quiet) io.stderr.write(`${whyNoFrames(stats)}\n`);
    return EXIT.ok;
  } catch (error) {
    finishProgress();
    const code = reportFailure(error, io, args.json, args);
    if (code === EXIT.interrupted && !args.quiet) {
      const kept = stats.framesDelivered + stats.framesReused;
      const listed = options.manifest && kept > 0 ? `, listed in ${MANIFEST_FILE_NAME}` : '';
      io.stderr.write(`Interrupted: ${kept} complete frame files kept in ${resolve(args.out)}${listed}\n`);
    }
    return code;
  } finally {
    stopAnnouncing();
    await video?.close();
  }

  function finishProgress(): void {
    if (timer) clearInterval(timer);
    const shown = bar as ProgressBar | null;
    // Writes that complete while an interrupted run winds down are kept but get no progress call: count them.
    if (shown && stats.framesDelivered > shown.count) shown.update(stats.framesDelivered);
    shown?.finish();
  }
}
