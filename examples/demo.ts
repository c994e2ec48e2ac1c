/**
 * framepipe demo: streams frames 0–9 of a video behind an HTTP URL into PNG files, and says what it took.
 *
 *   pnpm demo                                  the embedded sample, served on 127.0.0.1, into a temporary directory
 *   pnpm demo [<url|path>] [-o DIR]            your own video, and/or your own output directory
 *   pnpm demo clip.mp4 --start 100 --end 109   other frames (--ext jpg for JPEG), as with `pnpm framepipe frames`
 */
import { RunStats, streamVideoFramesToDir } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo({ start: 0, end: 9, ext: 'png' });
try {
  const { start, end } = video.options;
  const outputDir = await video.outputDir();
  const stats = new RunStats();
  console.log(`Streaming frames ${start}-${end} of ${video.label}`);
  const paths = await streamVideoFramesToDir(video.input, outputDir, { ...video.options, stats });
  console.log(`Saved ${paths.length} frames:`);
  for (const path of paths) console.log(path);
  console.log(`${stats.bytesRead} bytes read, ${stats.seconds.toFixed(2)} s`);
  const extra = stats.framesDecoded - stats.framesDelivered;
  if (extra > 0) {
    // Decoding cannot start at any frame, nor stop exactly at the last one: say where the other frames came from.
    const before =
      stats.decodePath === 'seek'
        ? `decoding starts at the keyframe at or before frame ${start} (a frame can only be decoded from its keyframe on), so the frames between that keyframe and frame ${start} were decoded only to reach the range`
        : `decoding runs from the first frame of the video${start! > 0 ? `, so the frames before ${start} were decoded only to reach the range` : ''}`;
    console.log(
      `${stats.framesDecoded} frames decoded for ${stats.framesDelivered} saved: ${before}; and the decoder works ahead ` +
        `(B-frames need later frames first), so some frames past ${end} were decoded before the run could stop. ` +
        `The ${extra} frames outside ${start}-${end} were not saved.`,
    );
  }
} finally {
  await video.close();
}
