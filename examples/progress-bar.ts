/**
 * A progress bar fed by the `progress` callback, which is called with 1 after each saved file (Supervisely's
 * tutorial: "Progress bar", where tqdm's `pbar.update` is the callback). On a terminal the bar redraws in place
 * on stderr; in a pipe or a CI log it prints a plain line every 2 s and one at the end.
 *
 *   pnpm exec node examples/progress-bar.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/progress-bar.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/progress-bar.ts --video-id N [--out DIR]  a Supervisely video
 *   ... --start N --end N                                              another range, as with `framepipe frames`
 */
import { ProgressBar, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo({ start: 0, end: 49 });
try {
  const { start, end } = video.options;
  const outputDir = await video.outputDir();
  const bar = new ProgressBar({ label: 'Streaming frames', total: end - start + 1 });
  let paths: string[];
  try {
    paths = await streamVideoFramesToDir(video.input, outputDir, { ...video.options, progress: (n) => bar.tick(n) });
    bar.finish(); // the last line: "done in …"
  } catch (error) {
    bar.finish('stopped'); // "stopped after …": the run failed or was interrupted
    throw error;
  }
  console.log(`Saved ${paths.length} frames of ${video.label} into ${outputDir}`);
} finally {
  await video.close();
}
