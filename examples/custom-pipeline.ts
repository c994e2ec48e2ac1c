/**
 * Composing the stages yourself, for what the one-call API does not do: here, a stage of our own at the end that
 * prints each frame's mean brightness instead of writing files. This is what `streamVideoFrames` wires for a range
 * that starts at frame 0:
 *
 *   byte source ─▶ Demuxer ─▶ PtsIndexer ─▶ Decoder ─▶ FrameSelector ─▶ RgbConverter ─▶ BrightnessMeter (ours)
 *
 *   pnpm exec node examples/custom-pipeline.ts               the embedded sample
 *   pnpm exec node examples/custom-pipeline.ts <url|path>    your video
 *   pnpm exec node examples/custom-pipeline.ts --video-id N  a Supervisely video
 */
import { Writable, pipelinePromise } from 'streamx';
import { FrameBudget } from '@framepipe/common';
import { Decoder } from '@framepipe/decoder';
import { Demuxer } from '@framepipe/demuxer';
import { openByteSource } from '@framepipe/http-source';
import { FrameSelector, PtsIndexer } from '@framepipe/pts-indexer';
import { RgbConverter } from '@framepipe/rgb';
import type { RgbFrame } from '@framepipe/rgb';
import { openVideo } from './lib/source.ts';

const START = 0;
const END = 14;

/** The last stage: a Writable that takes RGB frames, prints their mean brightness and gives their unit back. */
class BrightnessMeter extends Writable {
  #budget: FrameBudget;
  frames = 0;

  constructor(budget: FrameBudget) {
    super();
    this.#budget = budget;
  }

  override _write(frame: RgbFrame, cb: (error: Error | null) => void): void {
    const { data } = frame;
    let sum = 0;
    // Rec. 601 luma weights, on every pixel.
    for (let i = 0; i < data.length; i += 3) sum += 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    console.log(`frame ${frame.index}: mean brightness ${(sum / (data.length / 3)).toFixed(1)}`);
    this.frames++;
    // The frame's life ends here: its budget unit goes back, so the decoder may make the next one.
    this.#budget.release();
    cb(null);
  }
}

const video = await openVideo();
// Random-access bytes: an HttpSource (closed Range requests) for a URL, a FileSource for a path, a ByteSource as
// it is. The demuxer only borrows it, so closing it is our job.
const source = openByteSource(video.input);
try {
  // Reads the container through the source (an MP4 whose index is at the end is read from the end first) and
  // emits the packets of its first video stream. open() tells what the stream is before anything flows.
  const demuxer = new Demuxer(source);
  const info = await demuxer.open();
  console.log(`${video.label}: ${info.codec} ${info.width}×${info.height}, B-frames: ${info.hasBFrames}`);

  // At most 4 decoded frames alive at once, wherever they wait in the chain: the decoder takes a unit per frame
  // and whoever ends a frame's life gives it back (the selector when it drops one, our meter otherwise). The
  // stages run without one too, but then only their buffers bound memory, each on its own.
  const budget = new FrameBudget(4);
  // Gives frame numbers as packets pass (Supervisely's rule: the rank of the pts): one pass, no scan, which is
  // right for a range that starts at 0. For a later start, core first builds the index with PtsIndex.scan() and
  // seeks a second demuxer to index.keyframeFor(start) with seekKeyframe().
  const indexer = new PtsIndexer(info);
  // Packets to decoded frames (native memory), in display order, flushed at the end.
  const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, budget });
  // Numbers each decoded frame and keeps those in [START, END]; the others are freed.
  const selector = new FrameSelector(indexer.index, { start: START, end: END, budget });
  // Once the range is complete, end the input: the decoder flushes, the pipeline ends, no more bytes are fetched.
  selector.once('done', () => demuxer.stop());
  // Native frames to packed RGB24 in ordinary JS memory, with the colours the frame is tagged with.
  const converter = new RgbConverter({ timeBase: info.timeBase, budget });
  const meter = new BrightnessMeter(budget);

  // One pipeline: if any stage fails, every stage is destroyed and frees its native memory; never bare .pipe().
  await pipelinePromise(demuxer, indexer, decoder, selector, converter, meter);
  console.log(`${meter.frames} frames measured; ${decoder.framesDecoded} decoded from ${demuxer.packetsRead} packets`);
  console.log(`${source.bytesRead} bytes read from ${source.description}`);
} finally {
  await source.close();
  await video.close();
}
