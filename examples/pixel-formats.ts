/**
 * Pixel formats: `bgr24` for OpenCV, `gray8`, `rgba`, and `rgb48` (16 bits per channel, little-endian, for 10- and
 * 12-bit video; PNG files are then 16-bit). Each `RgbFrame` says its `format`, `channels` and `stride`.
 *
 *   pnpm exec node examples/pixel-formats.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/pixel-formats.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/pixel-formats.ts --video-id N [--out DIR]  a Supervisely video
 */
import { join } from 'node:path';
import { streamVideoFrames, streamVideoFramesToDir } from '@framepipe/core';
import type { PixelFormat } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo();
try {
  const outputDir = await video.outputDir();

  // Grey PNG files (one channel), and 16-bit PNG files.
  const grey = await streamVideoFramesToDir(video.input, join(outputDir, 'gray8'), { end: 4, pixelFormat: 'gray8' });
  console.log(`gray8: ${grey.length} grey PNG files in ${join(outputDir, 'gray8')}`);
  const deep = await streamVideoFramesToDir(video.input, join(outputDir, 'rgb48'), { end: 4, pixelFormat: 'rgb48' });
  console.log(`rgb48: ${deep.length} 16-bit PNG files in ${join(outputDir, 'rgb48')}`);

  // The iterator: one frame in each format, and what it holds.
  for (const pixelFormat of ['rgb24', 'bgr24', 'rgba', 'gray8', 'rgb48'] satisfies PixelFormat[]) {
    for await (const frame of streamVideoFrames(video.input, { start: 10, end: 10, pixelFormat })) {
      const first = [...frame.data.subarray(0, frame.stride / frame.width)].join(', ');
      console.log(`frame ${frame.index} as ${frame.format}: ${frame.channels} channel(s), ${frame.stride} bytes a row, first pixel bytes [${first}]`);
    }
  }
} finally {
  await video.close();
}
