/**
 * Smaller frames in the decode pass: `size` (one side keeps the aspect ratio), `maxSide`, `crop` and `fit`, all done
 * by the same swscale pass that converts the colours, so a 224×224 frame costs a fraction of a full-size one.
 *
 *   pnpm exec node examples/geometry.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/geometry.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/geometry.ts --video-id N [--out DIR]  a Supervisely video
 */
import { join } from 'node:path';
import { streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();

  // Half width, the height by the aspect ratio (area filter: it shrinks).
  const half = await streamVideoFramesToDir(video.input, join(outputDir, 'width-160'), { end: 9, size: { width: 160 } });
  console.log(`width 160: ${half.length} files in ${join(outputDir, 'width-160')}`);

  // Thumbnails whose longer side is at most 100 pixels, one a second.
  const thumbs = await streamVideoFramesToDir(video.input, join(outputDir, 'thumbnails'), { step: 25, maxSide: 100, ext: 'jpg' });
  console.log(`thumbnails: ${thumbs.length} files in ${join(outputDir, 'thumbnails')}`);

  // Model input: the centre square, 224×224 (a crop before the scale, in the same pass).
  for await (const frame of streamVideoFrames(video.input, { end: 2, size: { width: 224, height: 224 }, fit: 'cover' })) {
    console.log(`frame ${frame.index}: ${frame.width}×${frame.height}, ${frame.data.length} bytes (cover)`);
  }

  // A region of the picture as shown (upright with autorotate), then scaled: here the top left quarter, doubled.
  for await (const frame of streamVideoFrames(video.input, { start: 3, end: 4, crop: { x: 0, y: 0, width: 160, height: 120 }, size: { width: 320 }, scaleFilter: 'lanczos' })) {
    console.log(`frame ${frame.index}: ${frame.width}×${frame.height} from the crop 160x120+0+0 (lanczos)`);
  }
} finally {
  await video.close();
}
