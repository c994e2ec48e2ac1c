import { WriteStream } from 'node:fs';
import { Socket } from 'node:net';
import { Writable } from 'streamx';
import { FFmpegError, Frame, SoftwareScaleContext, avImageCopyToBuffer, avImageGetBufferSize } from 'node-av/lib';
import {
  AVCOL_RANGE_JPEG,
  AVCOL_SPC_BT470BG,
  AVCOL_SPC_RGB,
  AV_PIX_FMT_BGR24,
  AV_PIX_FMT_GRAY8,
  AV_PIX_FMT_RGB24,
  AV_PIX_FMT_RGB48LE,
  AV_PIX_FMT_RGBA,
  AV_PIX_FMT_YUV444P,
  AV_PIX_FMT_YUV444P16LE,
} from 'node-av/constants';
import type { AVPixelFormat } from 'node-av/constants';
import { BufferPool, ErrorCode, FramepipeError, StageBuffers, checkBoolean, checkBudget, checkPool, checkOneOf, assertKnownKeys, assertOptionsObject, invalidOption } from '@framepipe/common';
import { PIXEL_LAYOUT } from '@framepipe/common';
import type { FrameBudget, PixelFormat } from '@framepipe/common';
import type { RgbFrame } from './rgb-converter.ts';

/** The byte streams {@link RawVideoSink} writes: bare frames one after another, or a YUV4MPEG2 stream. */
export const RAW_VIDEO_FORMATS = ['raw', 'y4m'] as const;
export type RawVideoFormat = (typeof RAW_VIDEO_FORMATS)[number];

/**
 * What each pixel format of a frame becomes on the way out, in one place: the name ffmpeg gives it (`-pix_fmt`), and
 * for y4m the colour space tag and the YUV format swscale converts it to (the y4m formats are YUV or grey), with
 * ffmpeg's name for that. RGB goes to full-range BT.601 4:4:4, which ffmpeg's y4m reader takes as `yuv444p` with
 * `XCOLORRANGE=FULL` (FFmpeg 5.1 honours it) and converts back to RGB with BT.601, its default for an unknown
 * matrix: no chroma is subsampled and no level is squeezed into 16..235, so each colour comes back within a level or
 * two. Gray needs no conversion.
 */
const OUTPUT_FORMATS: Readonly<Record<PixelFormat, OutputFormat>> = {
  rgb24: { ffmpeg: 'rgb24', av: AV_PIX_FMT_RGB24, y4m: 'C444 XCOLORRANGE=FULL', yuv: AV_PIX_FMT_YUV444P, yuvName: 'yuv444p' },
  bgr24: { ffmpeg: 'bgr24', av: AV_PIX_FMT_BGR24, y4m: 'C444 XCOLORRANGE=FULL', yuv: AV_PIX_FMT_YUV444P, yuvName: 'yuv444p' },
  // y4m has no alpha that ffmpeg reads back as such: it is dropped.
  rgba: { ffmpeg: 'rgba', av: AV_PIX_FMT_RGBA, y4m: 'C444 XCOLORRANGE=FULL', yuv: AV_PIX_FMT_YUV444P, yuvName: 'yuv444p' },
  gray8: { ffmpeg: 'gray', av: AV_PIX_FMT_GRAY8, y4m: 'Cmono XCOLORRANGE=FULL', yuv: AV_PIX_FMT_GRAY8, yuvName: 'gray' },
  rgb48: { ffmpeg: 'rgb48le', av: AV_PIX_FMT_RGB48LE, y4m: 'C444p16 XCOLORRANGE=FULL', yuv: AV_PIX_FMT_YUV444P16LE, yuvName: 'yuv444p16le' },
};

interface OutputFormat {
  readonly ffmpeg: string;
  readonly av: AVPixelFormat;
  readonly y4m: string;
  readonly yuv: AVPixelFormat;
  readonly yuvName: string;
}

const FRAME_HEADER = Buffer.from('FRAME\n');

/** What a {@link RawVideoSink} writes, known at its first frame: what a reader of the bytes must be told. */
export interface RawVideoInfo {
  readonly format: RawVideoFormat;
  readonly width: number;
  readonly height: number;
  /** The pixel format of the frames, as ffmpeg names it (`rgb24`). */
  readonly pixelFormat: string;
  /**
   * The pixel format of the bytes written, as ffmpeg names it: `pixelFormat` for raw; for y4m the full-range YUV
   * (or gray) format they were converted to (`yuv444p`), which the stream's header also says.
   */
  readonly streamPixelFormat: string;
  /** Frames per second the stream is stamped with. */
  readonly frameRate: { readonly num: number; readonly den: number };
  /**
   * False when the frames were picked one by one (a list of frames or times, keyframes only): they are not evenly
   * spaced in time, so `frameRate` is only a label and a player shows them at that pace, whatever their times.
   */
  readonly evenlySpaced: boolean;
  /** The ffmpeg input options that read the bytes from stdin, e.g. `-f rawvideo -pix_fmt rgb24 -s 320x240 -r 25 -i -`. */
  readonly ffmpegInput: string;
}

/** Options of {@link RawVideoSink}. */
export interface RawVideoSinkOptions {
  /**
   * `raw`: each frame's pixels as they are, in its `format`, rows without padding, one frame after another (ffmpeg's
   * `rawvideo`). `y4m`: a YUV4MPEG2 stream (`YUV4MPEG2 W H F Ip A1:1 C444 XCOLORRANGE=FULL`, then `FRAME` and the
   * planes of each frame), converted with swscale to full-range BT.601 4:4:4 (`rgb48`: 16-bit, `C444p16`; `gray8`
   * frames as they are, `Cmono`; the alpha of `rgba` dropped), which `ffmpeg -f yuv4mpegpipe -i -` reads with its
   * size, rate and colours.
   * @default 'raw'
   */
  format?: RawVideoFormat | undefined;
  /**
   * Frames per second to stamp the stream with (y4m's header, the ffmpeg command line of `raw`). Read at the first
   * frame, so it may be set once the video is open.
   * @default 25/1
   */
  frameRate?: { num: number; den: number } | undefined;
  /**
   * False when the frames are not evenly spaced in time (picked one by one), so the rate is only a label: said in
   * {@link RawVideoInfo.evenlySpaced}. Read at the first frame, as `frameRate`.
   * @default true
   */
  evenlySpaced?: boolean | undefined;
  /** Called once, before the first frame's bytes are written, with what a reader must be told. */
  onStart?: ((info: RawVideoInfo) => void) | undefined;
  /** Called with `1` after each frame's bytes are handed to the output. */
  progress?: ((count: number) => void) | undefined;
  /** The budget the frames were counted against; each frame gives its unit back once written. */
  budget?: FrameBudget | undefined;
  /** Where the frames' `data` came from: each buffer is given back once the output has taken its bytes. */
  pool?: BufferPool | undefined;
  /**
   * Frames that may wait for the output.
   * @default 1
   */
  highWaterMark?: number | undefined;
}

const KNOWN_OPTIONS = ['format', 'frameRate', 'evenlySpaced', 'onStart', 'progress', 'budget', 'pool', 'highWaterMark'] as const;

/**
 * Writes frames as one byte stream into a Node Writable (`process.stdout`, a child process's stdin, a socket), in the
 * order they arrive, for another program to read: bare frames (`raw`) or YUV4MPEG2 (`y4m`). It waits for the output
 * to drain whenever a write fills it, so a slow reader holds back decoding and memory stays bounded; once the input
 * ends, it waits until the output has taken every byte, and leaves it open (it is the caller's).
 *
 * A reader that goes away (EPIPE: `| head -c N`, a closed pipe) destroys the sink with `ERR_FRAMEPIPE_WRITE_FAILED`
 * and sets {@link RawVideoSink.readerClosed}: a caller that streams to stdout takes that for the end of the run. Any
 * other failure of the output is `ERR_FRAMEPIPE_WRITE_FAILED` with the output's error as `cause`.
 *
 * @example
 * const sink = new RawVideoSink(process.stdout, { format: 'y4m', frameRate: { num: 25, den: 1 }, budget: stages.budget });
 * await pipelinePromise(...stages.streams, sink); // | ffmpeg -f yuv4mpegpipe -i - out.mp4
 */
export class RawVideoSink extends Writable {
  readonly format: RawVideoFormat;
  /** Frames per second the stream is stamped with; read at the first frame. */
  frameRate: { num: number; den: number };
  /** False when the frames are not evenly spaced in time, so `frameRate` is only a label; read at the first frame. */
  evenlySpaced: boolean;
  /** What the stream holds, once the first frame has come; null before. */
  info: RawVideoInfo | null = null;
  /** Frames whose bytes were handed to the output. */
  framesWritten = 0;
  /** Bytes handed to the output (headers included). */
  bytesWritten = 0;
  /** True once the output's reader has gone away (EPIPE or the output closed). */
  readerClosed = false;
  readonly #output: NodeJS.WritableStream;
  /** Whether the output is done with a chunk when its write calls back, so that the chunk's memory may be reused. */
  readonly #recycles: boolean;
  readonly #onStart: ((info: RawVideoInfo) => void) | undefined;
  readonly #progress: ((count: number) => void) | undefined;
  readonly #budget: FrameBudget | undefined;
  readonly #pool: BufferPool | undefined;
  readonly #buffered: StageBuffers<RgbFrame>;
  /** swscale, for y4m: one context for this sink, freed when it closes. */
  #scaler: SoftwareScaleContext | null = null;
  #source: Frame | null = null;
  #target: Frame | null = null;
  /** The target frame's planes, as read once (see {@link #sendYuv}). */
  #targetPlanes: { data: Buffer[]; linesize: number[] } | null = null;
  /** The buffers that carry the y4m planes to the output. */
  readonly #yuv = new BufferPool(4);
  /** Settles the wait for a drain when the output fails or closes. */
  #wake: (() => void) | null = null;
  readonly #onError = (error: Error) => this.#failed(error);
  readonly #onClose = () => this.#failed(Object.assign(new Error('the output was closed'), { code: 'ERR_STREAM_DESTROYED' }));

  constructor(output: NodeJS.WritableStream, options: RawVideoSinkOptions = {}) {
    const opts = assertOptionsObject(options, 'RawVideoSink');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'RawVideoSink');
    const buffered = new StageBuffers<RgbFrame>();
    const highWaterMark = opts.highWaterMark ?? 1;
    super(buffered.options(highWaterMark));
    this.#buffered = buffered.attach(this, { input: () => this.#budget?.release() });
    if (output === null || typeof output !== 'object' || typeof output.write !== 'function') throw invalidOption('output', 'a Node Writable', output);
    this.#output = output;
    this.#recycles = outputCopiesChunks(output);
    this.format = checkOneOf('format', opts.format ?? 'raw', RAW_VIDEO_FORMATS);
    this.frameRate = opts.frameRate ?? { num: 25, den: 1 };
    this.evenlySpaced = checkBoolean('evenlySpaced', opts.evenlySpaced, true);
    this.#onStart = opts.onStart;
    this.#progress = opts.progress;
    this.#budget = checkBudget(opts.budget);
    this.#pool = checkPool(opts.pool);
  }

  override _open(cb: (err: Error | null) => void): void {
    this.#output.on('error', this.#onError);
    this.#output.on('close', this.#onClose);
    cb(null);
  }

  override write(frame: RgbFrame): boolean {
    return this.#buffered.admit(frame) && super.write(frame);
  }

  override _write(frame: RgbFrame, cb: (err: Error | null) => void): void {
    this.#buffered.take(frame);
    this.#writeFrame(frame).then(
      () => cb(null),
      (error: Error) => cb(error),
    );
  }

  override _final(cb: (err: Error | null) => void): void {
    // An empty write's callback runs once every byte before it has left: the run ends with the stream delivered.
    if (this.readerClosed) return cb(null);
    this.#output.write(Buffer.alloc(0), () => cb(null));
  }

  override _predestroy(): void {
    this.#wake?.();
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    this.#output.removeListener('error', this.#onError);
    this.#output.removeListener('close', this.#onClose);
    this.#source?.free();
    this.#target?.free();
    this.#scaler?.freeContext();
    this.#source = this.#target = this.#scaler = null;
    this.#targetPlanes = null;
    cb(null);
  }

  #failed(error: Error & { code?: string }): void {
    if (this.destroying) return;
    const gone = error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED' || error.code === 'ECONNRESET';
    if (gone) this.readerClosed = true;
    const message = gone ? 'The reader of the output went away before the last frame' : `Cannot write to the output: ${error.message}`;
    this.destroy(new FramepipeError(ErrorCode.WRITE_FAILED, message, { cause: error }));
  }

  async #writeFrame(frame: RgbFrame): Promise<void> {
    try {
      const described = OUTPUT_FORMATS[frame.format];
      if (!this.info) this.#start(frame, described);
      else if (frame.width !== this.info.width || frame.height !== this.info.height || described.ffmpeg !== this.info.pixelFormat) {
        // The reader was told one size and format: a frame of another would shift every byte after it.
        const shape = `${frame.width}x${frame.height} ${described.ffmpeg}`;
        const stream = `${this.info.width}x${this.info.height} ${this.info.pixelFormat}`;
        throw new FramepipeError(ErrorCode.WRITE_FAILED, `Cannot write frame ${frame.index}: it is ${shape}, and a ${this.format} stream holds frames of one size and format (${stream})`);
      }
      let more: boolean;
      if (this.format === 'y4m') {
        const header = this.#send(FRAME_HEADER);
        more = (await this.#sendYuv(frame, described)) && header;
      } else {
        const pixels = packedRows(frame);
        const pool = this.#pool;
        // The frame's own bytes go back to the pool once the output has taken them; a copy's source at once.
        const shared = pixels.buffer === frame.data.buffer;
        if (!shared) pool?.give(frame.data);
        more = this.#send(pixels, shared && pool ? () => pool.give(frame.data) : undefined);
      }
      this.framesWritten++;
      this.#progress?.(1);
      if (!more) await this.#drained();
    } finally {
      this.#budget?.release();
    }
  }

  /** The header (y4m) and the info of the stream, from its first frame. */
  #start(frame: RgbFrame, described: OutputFormat): void {
    const { width, height } = frame;
    const pixelFormat = described.ffmpeg;
    const streamPixelFormat = this.format === 'raw' ? pixelFormat : described.yuvName;
    const { num, den } = this.frameRate;
    const rate = den === 1 ? String(num) : `${num}/${den}`;
    const ffmpegInput =
      this.format === 'raw' ? `-f rawvideo -pix_fmt ${pixelFormat} -s ${width}x${height} -r ${rate} -i -` : '-f yuv4mpegpipe -i -';
    const { evenlySpaced } = this;
    this.info = { format: this.format, width, height, pixelFormat, streamPixelFormat, frameRate: { num, den }, evenlySpaced, ffmpegInput };
    this.#onStart?.(this.info);
    if (this.format === 'y4m') {
      const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${num}:${den} Ip A1:1 ${described.y4m}\n`);
      this.#send(header);
    }
  }

  /** Hands `chunk` to the output; false when the output asks to wait for a drain. */
  #send(chunk: Buffer, taken?: () => void): boolean {
    this.bytesWritten += chunk.length;
    // An output of unknown kind may keep the chunk itself (a Writable that collects them): its buffer is then never
    // given back, and the next frame gets one of its own.
    return taken && this.#recycles ? this.#output.write(chunk, taken) : this.#output.write(chunk);
  }

  /**
   * Sends the frame's planes in the y4m format of its pixel format, converted by swscale (gray as it is, the frame's
   * own bytes). The converted planes are copied out of the reused target frame into a buffer of {@link #yuv}, which
   * comes back once the output has taken it: no fresh frame-sized buffer per frame.
   */
  async #sendYuv(frame: RgbFrame, described: OutputFormat): Promise<boolean> {
    const packed = packedRows(frame);
    const pool = this.#pool;
    if (described.av === described.yuv) {
      const shared = packed.buffer === frame.data.buffer;
      if (!shared) pool?.give(frame.data);
      return this.#send(packed, shared && pool ? () => pool.give(frame.data) : undefined);
    }
    const { width, height } = frame;
    const source = this.#frame('source', width, height, described.av, AVCOL_SPC_RGB);
    const target = this.#frame('target', width, height, described.yuv, AVCOL_SPC_BT470BG);
    // The frame's buffer goes back only once swscale has read it.
    try {
      check(source.makeWritable(), `Cannot fill a ${width}x${height} frame`);
      check(source.fromBuffer(packed), `Cannot fill a ${width}x${height} frame`);
      if (!this.#scaler) {
        this.#scaler = new SoftwareScaleContext();
        this.#scaler.allocContext();
        // Exact rounding: the colours should come back as they went in.
        check(this.#scaler.setOption('sws_flags', 'bicubic+accurate_rnd+full_chroma_int'), 'Cannot set swscale flags');
      }
      check(await this.#scaler.scaleFrame(target, source), `Cannot convert frame ${frame.index} to YUV`);
    } finally {
      pool?.give(frame.data);
    }
    // The planes are read once per target frame: node-av wraps them in new Buffers at every `data` read.
    this.#targetPlanes ??= { data: target.data ?? [], linesize: target.linesize };
    const size = avImageGetBufferSize(described.yuv, width, height, 1);
    const planes = this.#yuv.take(size);
    check(avImageCopyToBuffer(planes, size, this.#targetPlanes.data, this.#targetPlanes.linesize, described.yuv, width, height, 1), `Cannot copy frame ${frame.index}`);
    return this.#send(planes, () => this.#yuv.give(planes));
  }

  /** The reused source or target frame of the conversion, rebuilt when the size or format changes. */
  #frame(which: 'source' | 'target', width: number, height: number, format: AVPixelFormat, space: typeof AVCOL_SPC_RGB): Frame {
    const current = which === 'source' ? this.#source : this.#target;
    if (current && current.width === width && current.height === height && current.format === format) return current;
    current?.free();
    const frame = new Frame();
    frame.alloc();
    frame.format = format;
    frame.width = width;
    frame.height = height;
    frame.colorRange = AVCOL_RANGE_JPEG;
    frame.colorSpace = space;
    check(frame.getBuffer(32), `Cannot allocate a ${width}x${height} frame`);
    if (which === 'source') this.#source = frame;
    else {
      this.#target = frame;
      this.#targetPlanes = null;
    }
    return frame;
  }

  /** Resolves when the output drains, fails or closes, or the sink is being destroyed. */
  #drained(): Promise<void> {
    if (this.destroying) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#output.removeListener('drain', done);
        this.#wake = null;
        resolve();
      };
      this.#wake = done;
      this.#output.on('drain', done);
    });
  }
}

/**
 * The frame's pixels with rows of exactly `width × bytes per pixel`: the frame's own buffer, or a copy row by row of a
 * frame whose rows are padded (`stride`).
 */
function packedRows(frame: RgbFrame): Buffer {
  const row = frame.width * PIXEL_LAYOUT[frame.format].bytesPerPixel;
  const { stride } = frame;
  if (stride === row) return frame.data.length === row * frame.height ? frame.data : frame.data.subarray(0, row * frame.height);
  const packed = Buffer.allocUnsafe(row * frame.height);
  for (let y = 0; y < frame.height; y++) frame.data.copy(packed, y * row, y * stride, y * stride + row);
  return packed;
}

function check(ret: number, what: string): void {
  if (ret < 0) throw new FramepipeError(ErrorCode.WRITE_FAILED, `${what} (FFmpeg: ${FFmpegError.strerror(ret)})`, { ffmpeg: { code: ret, text: FFmpegError.strerror(ret) } });
}

/**
 * Whether `output` is done with a chunk's memory once its write calls back: a file (`fs.WriteStream`), a socket, a
 * pipe or a terminal (`net.Socket`, which `process.stdout` and a child's stdin are), or stdout/stderr written to a file.
 */
function outputCopiesChunks(output: NodeJS.WritableStream): boolean {
  return output instanceof Socket || output instanceof WriteStream || output === process.stdout || output === process.stderr;
}
