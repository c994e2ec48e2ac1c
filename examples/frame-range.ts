/**
 * Frames 0–9 saved as PNG files, named frame_<index:06d>.png (Supervisely's tutorial: "Frame range (PNG)").
 *
 *   pnpm exec node examples/frame-range.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/frame-range.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/frame-range.ts --video-id N [--out DIR]  a Supervisely video
 *   pnpm exec node examples/frame-range.ts --start 100 --end 109     other frames, as with `framepipe frames`
 */
import { streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo({ start: 0, end: 9 });
try {
  // The directory is created if it does not exist; `end` is inclusive.
  const paths = await streamVideoFramesToDir(video.input, await video.outputDir(), video.options);
  console.log(`Saved ${paths.length} frames of ${video.label}:`);
  for (const path of paths) console.log(path);
} finally {
  await video.close();
}
