/**
 * Composing a pipeline yourself, for what the one-call API does not do: here, a last stage of our own that writes
 * each frame as a binary PPM file (netpbm), a format the built-in writer does not have. `openFrameStages` does
 * what `streamVideoFramesToDir` does before its last stage, for any selection:
 *
 *   openFrameStages: byte source ─▶ Demuxer ─▶ Decoder ─▶ FrameSelector ─▶ RgbConverter ─┐
 *     (opens the video, numbers its frames, plans the seek, the GOPs to jump                │
 *      and the frames the decoder may skip)                                    PpmWriter (ours) ◀┘
 *
 *   pnpm exec node examples/custom-pipeline.ts               the embedded sample, into a new temp directory
 *   pnpm exec node examples/custom-pipeline.ts <url|path>    your video
 *   pnpm exec node examples/custom-pipeline.ts --video-id N  a Supervisely video
 *   ... --out DIR                                            where the range/ and list/ directories go
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, pipelinePromise } from 'streamx';
import { openFrameStages } from '@framepipe/core';
import type { ByteSourceInput, FrameBudget, RgbFrame, SelectionOptions } from '@framepipe/core';
import { openVideo } from './lib/source.ts';

/** The last stage: each RGB frame into `<dir>/frame_<index:06d>.ppm`, then its budget unit goes back. */
class PpmWriter extends Writable {
  readonly dir: string;
  readonly budget: FrameBudget;

  constructor(dir: string, budget: FrameBudget) {
    super();
    this.dir = dir;
    this.budget = budget;
  }

  override _write(frame: RgbFrame, cb: (error: Error | null) => void): void {
    const header = Buffer.from(`P6\n${frame.width} ${frame.height}\n255\n`, 'ascii');
    const path = join(this.dir, `frame_${String(frame.index).padStart(6, '0')}.ppm`);
    writeFile(path, Buffer.concat([header, frame.data])).then(() => {
      console.log(`frame ${frame.index} -> ${path}`);
      // The frame's life ends here: its unit goes back, so the decoder may make the next one. A stage that
      // forgot would stop the run with ERR_FRAMEPIPE_STALLED after `stallTimeout`, not hang it.
      this.budget.release();
      cb(null);
    }, cb);
  }
}

/** Writes the frames of `selection` as PPM files into `dir`, with at most 4 decoded frames alive at once. */
async function writePpm(input: ByteSourceInput, selection: SelectionOptions, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stages = await openFrameStages(input, selection, { budget: 4 });
  try {
    // One pipeline: if any stage fails, every stage is destroyed and frees its native memory.
    await pipelinePromise(...stages.streams, new PpmWriter(dir, stages.budget));
    const { plan, index } = stages;
    console.log(`${JSON.stringify(selection)}: ${plan.total} frames, numbered by the ${index?.strategy} index, ${plan.parts.length || 1} part(s) decoded from a keyframe`);
  } finally {
    await stages.close();
  }
}

const video = await openVideo();
try {
  const out = await video.outputDir();
  await writePpm(video.input, { start: 100, end: 109 }, join(out, 'range'));
  await writePpm(video.input, { frames: [140, 3, 77, 3] }, join(out, 'list'));
  console.log(`PPM files of ${video.label} in ${out}`);
} finally {
  await video.close();
}
