/**
 * Frame by frame, as they are decoded: `streamVideoFrames` is an async iterable of RGB frames (Supervisely's
 * tutorial: "Async version", the frame-by-frame generator). `frame.data` is packed RGB24, height × width × 3
 * bytes, row by row. Leaving the loop with `break` stops every stage: nothing more is read or decoded.
 *
 *   pnpm exec node examples/async-iteration.ts               the embedded sample
 *   pnpm exec node examples/async-iteration.ts <url|path>    your video
 *   pnpm exec node examples/async-iteration.ts --video-id N  a Supervisely video
 *   ... --start N --end N                                    another first range, as with `framepipe frames`
 */
import { streamVideoFrames } from '@framepipe/core';
import type { RgbFrame } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

/** The mean of each channel, e.g. "(118.2, 118.2, 118.2)". */
function meanRgb({ data }: RgbFrame): string {
  const sums = [0, 0, 0];
  for (let i = 0; i < data.length; i += 3) {
    sums[0]! += data[i]!;
    sums[1]! += data[i + 1]!;
    sums[2]! += data[i + 2]!;
  }
  const pixels = data.length / 3;
  return `(${sums.map((sum) => (sum / pixels).toFixed(1)).join(', ')})`;
}

const video = await openVideo({ start: 0, end: 9 });
try {
  console.log(`Frames ${video.options.start}-${video.options.end} of ${video.label}:`);
  for await (const frame of streamVideoFrames(video.input, video.options)) {
    const { index, time, width, height, data } = frame;
    console.log(`frame ${index} at ${time.toFixed(2)} s: ${width}×${height}, ${data.length} bytes, mean RGB ${meanRgb(frame)}`);
  }

  console.log('From frame 30 on, leaving the loop after 3 frames:');
  let taken = 0;
  for await (const frame of streamVideoFrames(video.input, { start: 30 })) {
    console.log(`frame ${frame.index} at ${frame.time.toFixed(2)} s`);
    if (++taken === 3) break;
  }
} finally {
  await video.close();
}
