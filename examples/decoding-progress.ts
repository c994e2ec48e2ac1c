/**
 * `showDecodingProgress: true` draws the low-level phases on stderr, counted in packets (Supervisely's tutorial:
 * "Decoding progress"). A range from frame 0 is decoded from the start, in one pass, with a "Decoding from start"
 * bar (as is any range of a B-frame stream without composition offsets). A range that starts later needs the
 * frame numbers first: an MP4/MOV has them in its sample tables, read without the media data, so there is nothing to
 * show; other containers (WebM, MPEG-TS, MKV) get a "Scanning packets" bar while packet timestamps are read up to
 * `end` + 64 packets. Either way, decoding then seeks to the keyframe before `start`.
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
  for (const [start, end] of [
    [0, 9],
    [40, 49],
  ] as const) {
    const stats = new RunStats();
    const paths = await streamVideoFramesToDir(video.input, outputDir, { start, end, showDecodingProgress: true, stats });
    console.log(`Saved ${paths.length} frames (${start}-${end}) of ${video.label} into ${outputDir}`);
    // How the frames were numbered (stream, container or scan), and decoded (from the start, or from a seek).
    console.log(`Strategy: ${stats.strategy}, ${stats.packetsScanned} packets scanned; decoding: ${stats.decodePath}`);
    console.log(`${stats.packetsRead} packets read and ${stats.framesDecoded} frames decoded for ${stats.framesDelivered} files`);
  }
} finally {
  await video.close();
}
