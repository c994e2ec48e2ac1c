/**
 * Random access with `openVideo`: the video stays open (its connection, read cache, index, demuxer and decoder), and
 * frames are asked for in any order, as an annotation tool does when a user jumps around the timeline.
 *
 *   pnpm exec node examples/video-reader.ts                           the embedded sample, over HTTP
 *   pnpm exec node examples/video-reader.ts <url|path>                your video
 *   pnpm exec node examples/video-reader.ts --video-id N              a Supervisely video
 */
import { RunStats, openVideo } from '@framepipe/core';
import { openVideo as openExample } from './lib/source.ts';

const video = await openExample();
try {
  const stats = new RunStats();
  // Closed at the end of the block, even if a call fails.
  await using reader = await openVideo(video.input, { stats });
  const { codec, width, height, fps } = reader.info;
  console.log(`${video.label}: ${reader.frameCount} frames, ${codec} ${width}×${height} at ${fps} fps; keyframes ${reader.keyframes().join(', ')}`);

  // Frame 100, then 105: the second is decoded on from the first, without a seek or a byte fetched again.
  for (const n of [100, 105]) {
    const frame = await reader.getFrame(n);
    console.log(`frame ${frame.index} at ${frame.time.toFixed(2)} s: ${frame.width}×${frame.height}, ${frame.data.length} bytes of RGB`);
  }
  console.log(`frames 100 and 105: ${stats.seeks} seek, ${stats.framesDecoded} frames decoded`);

  // A batch in any order, repeats included: the frames come back in the order asked.
  for (const frame of await reader.getFrames([140, 3, 77, 3])) console.log(`frame ${frame.index} (batch)`);

  // The frame shown at 2.5 s, as the `timestamps` option selects it.
  const shown = await reader.getFrameAt(2.5);
  console.log(`frame ${shown.index} is shown at 2.5 s (from ${shown.time.toFixed(2)} s)`);
} finally {
  await video.close();
}
