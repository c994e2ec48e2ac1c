/**
 * Every frame of a video: no `start`, no `end` (Supervisely's tutorial: "All frames").
 *
 *   pnpm exec node examples/all-frames.ts                           the embedded sample (150 frames), into a new temp directory
 *   pnpm exec node examples/all-frames.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/all-frames.ts --video-id N [--out DIR]  a Supervisely video
 */
import { streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();
  const paths = await streamVideoFramesToDir(video.input, outputDir);
  console.log(`Total frames saved: ${paths.length}`);
  console.log(`From ${video.label} into ${outputDir}: ${paths[0] ?? '-'} ... ${paths.at(-1) ?? '-'}`);
} finally {
  await video.close();
}
