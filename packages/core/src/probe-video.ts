import { AbortError, assertKnownKeys, assertOptionsObject, checkBoolean, checkInteger, throwIfAborted } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import type { DemuxerInfo } from '@framepipe/demuxer';
import { isByteSource, openByteSource } from '@framepipe/http-source';
import type { ByteSourceInput } from '@framepipe/http-source';
import { PtsIndex } from '@framepipe/pts-indexer';
import { closed, readContainerIndex } from './frame-pipeline.ts';
import { checkSourceOptions, httpOptionsOf } from './options.ts';
import type { SourceOptions } from './options.ts';

/** Options of {@link probeVideo}: how to reach the video (as for a run), and whether to count its frames. */
export interface ProbeOptions extends SourceOptions {
  /**
   * Count the frames exactly, with the rule that numbers frames, so `frameCount` is one more than the last frame
   * number. An MP4/MOV's sample tables give every timestamp without reading media data; other containers have every
   * packet's timestamp read (no decoding), which reads the whole file. Without it the count is the container's own
   * figure, or an estimate from duration × frame rate.
   * @default false
   */
  countFrames?: boolean | undefined;
  /**
   * Which video stream to describe, counted from 0 among the file's video streams, as the `stream` option of a run.
   * @default 0
   */
  stream?: number | undefined;
}

/** What a user needs to know about a video before choosing a range. */
export interface VideoProbe {
  /** The URL (without credentials) or path. */
  source: string;
  /** Size of the file in bytes. */
  bytes: number;
  /** The container format as FFmpeg names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  format: string;
  /** Codec of the video stream, e.g. `h264`. */
  codec: string;
  /** Pixel format before decoding, e.g. `yuv420p`; null if the container does not say. */
  pixelFormat: string | null;
  /** Width in pixels as stored (before rotation). */
  width: number;
  /** Height in pixels as stored (before rotation). */
  height: number;
  /** Average frames per second, or null if unknown. */
  fps: number | null;
  /**
   * Number of frames, those the frame-number rule numbers (and a player shows); see {@link VideoProbe.frameCountFrom}
   * for how sure it is. Null if unknown. An MP4's own figure counts the samples an edit list hides before frame 0
   * too: they are left out here, and counted in {@link VideoProbe.framesHidden}.
   */
  frameCount: number | null;
  /**
   * Frames in an MP4 that its edit list hides before frame 0 (a cut made with `ffmpeg -ss … -c copy` keeps the GOP
   * before its start so that its first frames can be decoded): they are decoded but not shown, and have no number.
   * 0 when there are none, or the container is not an MP4/MOV.
   */
  framesHidden: number;
  /**
   * Why the file looks cut short, when its index lists data past its last byte (an incomplete download or copy):
   * the frames before the cut can be read, a run that needs one after it fails with `ERR_FRAMEPIPE_TRUNCATED`. Null
   * when the index does not show a cut (an MP4 whose sample tables fit the file, or another container).
   */
  truncated: string | null;
  /**
   * Where `frameCount` comes from: `counted` (every packet, or every sample of a fragmented MP4's fragments, read:
   * exact), `container` (the container's own figure), `estimate` (duration × frame rate), or null when there is no
   * count.
   */
  frameCountFrom: 'counted' | 'container' | 'estimate' | null;
  /** Duration of the video stream in seconds, or null if unknown. */
  duration: number | null;
  /** True when the codec reorders frames (B-frames). */
  hasBFrames: boolean;
  /**
   * How far a player turns the picture to show it upright, in degrees counter-clockwise, from 0 up to (not
   * including) 360: the display matrix's angle as FFmpeg computes it, made non-negative. ffprobe shows the same
   * angle between -180 and 180, and phones write the clockwise turn as the `rotate` tag: a phone video tagged
   * `rotate=90` has `rotation` 270, which ffprobe shows as -90. `autorotate` turns frames by this angle; without it
   * frames are saved as stored.
   */
  rotation: number;
  /** The video stream described, counted from 0 among the file's video streams (the `stream` option). */
  stream: number;
  /** How many video streams the file has (cover pictures not counted); a run reads the first unless `stream`. */
  videoStreams: number;
}

const KNOWN_OPTIONS = ['countFrames', 'stream', 'signal', 'headers', 'timeout', 'retries'];

/**
 * Opens a video and tells its codec, size, frame count, frame rate, duration, B-frames and rotation. It reads
 * the container's header only (for an MP4 with its index at the end: the end of the file), unless
 * `countFrames` asks for an exact count.
 *
 * @example
 * const info = await probeVideo('https://example.com/clip.mp4');
 * console.log(`${info.codec} ${info.width}×${info.height}, ${info.frameCount} frames at ${info.fps} fps`);
 */
export async function probeVideo(input: ByteSourceInput, options?: ProbeOptions): Promise<VideoProbe> {
  const opts = assertOptionsObject(options, 'probeVideo');
  assertKnownKeys(opts, KNOWN_OPTIONS, 'probeVideo');
  const countFrames = checkBoolean('countFrames', opts.countFrames, false);
  const stream = checkInteger('stream', opts.stream ?? 0, 0);
  const settings = checkSourceOptions(opts);
  const { signal } = settings;
  const source = openByteSource(input, httpOptionsOf(settings));
  const demuxer = new Demuxer(source, { stream });
  const onAbort = () => demuxer.destroy(new AbortError(signal?.reason));
  try {
    throwIfAborted(signal);
    signal?.addEventListener('abort', onAbort, { once: true });
    const info = await demuxer.open();
    const { fps } = describeStream(info);
    // The sample tables FFmpeg parsed, read again from memory: what the edit list hides, and whether the file is whole.
    const header = await readContainerIndex(demuxer.headerSource, info, signal);
    let frameCount = info.frameCount === null ? null : info.frameCount - header.hidden;
    let frameCountFrom: VideoProbe['frameCountFrom'] = frameCount === null ? null : 'container';
    if (countFrames) {
      if (header.truncated) throw header.truncated;
      const index = header.index ?? (await PtsIndex.scan(demuxer));
      frameCount = index.size;
      throwIfAborted(signal);
      frameCountFrom = 'counted';
    } else if (frameCount === null && header.index) {
      // A fragmented MP4 states no count, but its fragments' index, read while opening, has every frame.
      frameCount = header.index.size;
      frameCountFrom = 'counted';
    } else if (frameCount === null && fps !== null && info.duration !== null) {
      frameCount = Math.round(info.duration * fps);
      frameCountFrom = 'estimate';
    }
    return {
      source: source.description,
      bytes: source.size,
      ...describeStream(info),
      frameCount,
      frameCountFrom,
      framesHidden: header.hidden,
      truncated: header.truncated?.message ?? null,
      stream,
      videoStreams: info.videoStreams,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await closed(demuxer);
    if (!isByteSource(input)) await source.close();
  }
}

/** What the demuxer's stream info says of a video, as {@link VideoProbe} says it (for `VideoReader.info` too). */
export function describeStream(
  info: DemuxerInfo,
): Pick<VideoProbe, 'format' | 'codec' | 'pixelFormat' | 'width' | 'height' | 'fps' | 'duration' | 'hasBFrames' | 'rotation'> {
  const { formatName: format, codec, pixelFormat, width, height, duration, hasBFrames, rotation, frameRate } = info;
  const fps = frameRate && frameRate.den > 0 ? frameRate.num / frameRate.den : null;
  return { format, codec, pixelFormat, width, height, fps, duration, hasBFrames, rotation };
}
