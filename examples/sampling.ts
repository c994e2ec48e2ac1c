/**
 * Choosing frames beyond a plain range: every n-th frame (`step`), a list of frame numbers (`frames`), or the
 * frames shown at given times (`timestamps`, in seconds from the first frame). Output always comes in frame order,
 * each frame once, named by its frame number.
 *
 *   pnpm exec node examples/sampling.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/sampling.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/sampling.ts --video-id N [--out DIR]  a Supervisely video
 */
import { join } from 'node:path';
import { RunStats, streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();

  // A contact sheet: one frame in 25 (one a second at 25 fps), as JPEG.
  const sheet = await streamVideoFramesToDir(video.input, join(outputDir, 'every-25th'), { step: 25, ext: 'jpg' });
  console.log(`every 25th frame: ${sheet.length} files in ${join(outputDir, 'every-25th')}`);

  // Frames picked by number, e.g. the ones an annotation refers to; order and duplicates do not matter.
  const stats = new RunStats();
  const picked = await streamVideoFramesToDir(video.input, join(outputDir, 'picked'), { frames: [60, 7, 33, 7], stats });
  console.log(`frames [60, 7, 33, 7]: ${picked.length} files; ${stats.framesDecoded} frames decoded, decoding by ${stats.decodePath}`);

  // The frames shown at these moments, without saving: the iterator gives their numbers and pictures.
  for await (const frame of streamVideoFrames(video.input, { timestamps: [0.5, 1, 2.5] })) {
    console.log(`frame ${frame.index} is shown at ${frame.time.toFixed(2)} s (${frame.width}×${frame.height})`);
  }
} finally {
  await video.close();
}
