/**
 * Choosing frames by time: the frames shown in a time window (`startTime`, `endTime`, in seconds from the first
 * frame), one frame per tick of a clock (`fps`, as ffmpeg's fps filter), or only the keyframes (`keyframesOnly`:
 * nothing else is decoded, and an MP4 over HTTP costs only the keyframes' bytes). Frames keep their own numbers.
 *
 *   pnpm exec node examples/time-sampling.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/time-sampling.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/time-sampling.ts --video-id N [--out DIR]  a Supervisely video
 */
import { join } from 'node:path';
import { RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();

  // Two frames a second between 2 s and 3 s: the frame shown at 2.0, 2.5 and 3.0 s.
  const ticks = await streamVideoFramesToDir(video.input, join(outputDir, 'two-per-second'), { startTime: 2, endTime: 3, fps: 2 });
  console.log(`2 fps from 2 s to 3 s: ${ticks.length} files in ${join(outputDir, 'two-per-second')}`);

  // Keyframes only, as JPEG: a quick overview of a long video; the decoder sees no other packet.
  const stats = new RunStats();
  const keyframes = await streamVideoFramesToDir(video.input, join(outputDir, 'keyframes'), { keyframesOnly: true, ext: 'jpg', stats });
  console.log(`keyframes: ${keyframes.length} files; ${stats.packetsDecoded} packets decoded, ${stats.bytesRead} bytes read`);

  // Every frame shown from 1 s to 1.2 s (both ends in), with the iterator.
  for await (const frame of streamVideoFrames(video.input, { startTime: 1, endTime: 1.2 })) {
    console.log(`frame ${frame.index} at ${frame.time.toFixed(2)} s`);
  }
} finally {
  await video.close();
}
