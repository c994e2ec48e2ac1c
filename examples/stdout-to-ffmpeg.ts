/**
 * Frames 0–9 handed to another program as a byte stream, with no file in between: `pipeVideoFrames` writes them as
 * YUV4MPEG2 into the stdin of `ffmpeg -f yuv4mpegpipe -i -`, which here saves them as PNG (any ffmpeg output would
 * do: an encoder, a filter, a stream). The same as `framepipe frames <video> --to-stdout y4m | ffmpeg -f yuv4mpegpipe
 * -i - …`. Needs `ffmpeg` on the PATH.
 *
 *   pnpm exec node examples/stdout-to-ffmpeg.ts                           the embedded sample, into a new temp directory
 *   pnpm exec node examples/stdout-to-ffmpeg.ts <url|path> [--out DIR]    your video
 *   pnpm exec node examples/stdout-to-ffmpeg.ts --start 100 --end 109     other frames, as with `framepipe frames`
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeVideoFrames } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

const video = await openVideo({ start: 0, end: 9 });
try {
  const out = await video.outputDir();
  await mkdir(out, { recursive: true });
  const start = video.options.start ?? 0;
  // ffmpeg numbers its images from `-start_number`: the files carry the frame numbers.
  const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-f', 'yuv4mpegpipe', '-i', '-', '-start_number', String(start), join(out, 'frame_%06d.png')], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  const exited = once(ffmpeg, 'close');
  const result = await pipeVideoFrames(video.input, ffmpeg.stdin, {
    ...video.options,
    format: 'y4m',
    // What the reader must know, before the first frame; for y4m the stream's header says it too.
    onStart: (info) => console.log(`${info.width}x${info.height} at ${info.frameRate.num}/${info.frameRate.den} fps, read with: ffmpeg ${info.ffmpegInput}`),
  });
  // The stream is the caller's to end: ffmpeg finishes once its stdin does.
  ffmpeg.stdin.end();
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`ffmpeg exited with ${code}`);
  console.log(`Piped ${result.frames} frames of ${video.label} (${result.bytes} bytes) into ffmpeg, which saved them in ${out}`);
} finally {
  await video.close();
}
