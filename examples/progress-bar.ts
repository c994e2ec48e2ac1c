/**
 * A progress bar fed by the `progress` callback, which is called with 1 after each saved file (Supervisely's
 * tutorial: "Progress bar", where tqdm's `pbar.update` is the callback). On a terminal the bar redraws in place
 * on stderr; in a pipe or a CI log it prints a plain line every 2 s and one at the end.
 *
 *   pnpm exec node examples/progress-bar.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/progress-bar.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/progress-bar.ts --video-id N [--out DIR]  a Supervisely video
 */
import { ProgressBar, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const START = 0;
const END = 49;

const video = await openVideo();
try {
  const outputDir = await video.outputDir();
  const bar = new ProgressBar({ label: 'Streaming frames', total: END - START + 1 });
  let paths: string[];
  try {
    paths = await streamVideoFramesToDir(video.input, outputDir, { start: START, end: END, progress: (n) => bar.tick(n) });
  } finally {
    bar.finish(); // the last line, also when the run failed
  }
  console.log(`Saved ${paths.length} frames of ${video.label} into ${outputDir}`);
} finally {
  await video.close();
}
