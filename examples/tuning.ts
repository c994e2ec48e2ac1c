/**
 * Tuning parallelism and memory (Supervisely's tutorial: "Tuning parallelism and memory"):
 * - `maxWriteWorkers` (default 4): files encoded and written at the same time; more helps on fast storage;
 * - `queueMaxSize` (default 32): decoded frames that may wait for a writer; less lowers peak memory.
 * Peak frame memory is at most (queueMaxSize + maxWriteWorkers + 1) × width × height × 3 bytes, plus the
 * decoder's reference frames. A `RunStats` passed as `stats` reports how the run went.
 *
 *   pnpm exec node examples/tuning.ts                           the whole embedded sample, into a new temp directory
 *   pnpm exec node examples/tuning.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/tuning.ts --video-id N [--out DIR]  a Supervisely video
 *   ... --max-write-workers 2 --queue-maxsize 4                other values, as with `framepipe frames`
 */
import { RunStats, probeVideo, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const size = (bytes: number) => (bytes < 2 ** 20 ? `${(bytes / 2 ** 10).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

const video = await openVideo({ maxWriteWorkers: 8, queueMaxSize: 16 });
try {
  const { maxWriteWorkers, queueMaxSize } = video.options;
  // The frame size, from the container's header, to state the bound before the run.
  const { width, height } = await probeVideo(video.input);
  const frameBytes = width * height * 3;
  const bound = (queueMaxSize + maxWriteWorkers + 1) * frameBytes;
  console.log(`${video.label}: ${width}×${height}, ${frameBytes} bytes per RGB frame`);
  console.log(`Peak frame memory: (${queueMaxSize} + ${maxWriteWorkers} + 1) × ${frameBytes} = ${bound} bytes (${size(bound)})`);

  const outputDir = await video.outputDir();
  const stats = new RunStats();
  const paths = await streamVideoFramesToDir(video.input, outputDir, { ...video.options, stats });
  const rate = stats.seconds > 0 ? stats.framesDelivered / stats.seconds : 0;
  console.log(`Saved ${paths.length} frames into ${outputDir} in ${stats.seconds.toFixed(2)} s (${rate.toFixed(0)} frames/s)`);
  console.log(`Decoded ${stats.framesDecoded} frames from ${stats.packetsRead} packets; read ${size(stats.bytesRead)}`);
} finally {
  await video.close();
}
