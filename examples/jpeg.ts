/**
 * Frames 0–49 as JPEG files (quality 95, as OpenCV writes them) with `ext: 'jpg'` (Supervisely's tutorial:
 * "JPEG output"). `'png'` is the default; `'jpeg'` and `'webp'` work too.
 *
 *   pnpm exec node examples/jpeg.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/jpeg.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/jpeg.ts --video-id N [--out DIR]  a Supervisely video
 *   ... --start N --end N --ext jpeg                         other frames or extension, as with `framepipe frames`
 */
import { stat } from 'node:fs/promises';
import { streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo({ start: 0, end: 49, ext: 'jpg' });
try {
  const outputDir = await video.outputDir();
  const paths = await streamVideoFramesToDir(video.input, outputDir, video.options);
  const sizes = await Promise.all(paths.map(async (path) => (await stat(path)).size));
  const kib = sizes.reduce((sum, size) => sum + size, 0) / 1024;
  console.log(`Saved ${paths.length} JPEG files of ${video.label} into ${outputDir} (${kib.toFixed(0)} KiB in all)`);
  console.log(`First ${paths[0] ?? '-'}, last ${paths.at(-1) ?? '-'}`);
} finally {
  await video.close();
}
