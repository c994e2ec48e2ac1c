/**
 * `showDecodingProgress: true` draws the low-level phases on stderr, counted in packets (Supervisely's tutorial:
 * "Decoding progress"). A range that starts after frame 0 needs a scan first: packet timestamps are read up to
 * `end` + 64 packets, without decoding, to number the frames; then decoding seeks to the keyframe before `start`.
 * A range from frame 0 needs no scan: it is decoded from the start, with a "Decoding from start" bar, as is any
 * range of a B-frame stream without composition offsets.
 *
 *   pnpm exec node examples/decoding-progress.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/decoding-progress.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/decoding-progress.ts --video-id N [--out DIR]  a Supervisely video
 */
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();
  const stats = new RunStats();
  const paths = await streamVideoFramesToDir(video.input, outputDir, { start: 40, end: 49, showDecodingProgress: true, stats });
  console.log(`Saved ${paths.length} frames (40-49) of ${video.label} into ${outputDir}`);
  // `scan` numbered the frames first; `seek` decoded from the keyframe before frame 40, not from the start.
  console.log(`Strategy: ${stats.strategy}, ${stats.packetsScanned} packets scanned; decoding: ${stats.decodePath}`);
  console.log(`${stats.packetsRead} packets read and ${stats.framesDecoded} frames decoded for ${stats.framesDelivered} files`);
} finally {
  await video.close();
}
