import { Readable } from 'streamx';
import { FFmpegError, FormatContext, IOContext, InputFormat, Packet, avGetCodecName, avGetMediaTypeString, avGetPixFmtName } from 'node-av/lib';
import type { CodecParameters, Rational } from 'node-av/lib';
import {
  AVDISCARD_ALL,
  AVERROR_EOF,
  AVERROR_INVALIDDATA,
  AVERROR_EXIT,
  AVFMT_FLAG_CUSTOM_IO,
  AVMEDIA_TYPE_VIDEO,
  AVSEEK_CUR,
  AVSEEK_END,
  AVSEEK_FLAG_BACKWARD,
  AVSEEK_FLAG_BYTE,
  AVSEEK_SET,
  AVSEEK_SIZE,
  AV_CODEC_ID_NONE,
  AV_DISPOSITION_ATTACHED_PIC,
  AV_NOPTS_VALUE,
  AV_PKT_DATA_DISPLAYMATRIX,
  AV_PKT_FLAG_CORRUPT,
} from 'node-av/constants';
import type { AVSeekWhence } from 'node-av/constants';
import {
  AbortError,
  DISCONTINUITY,
  ErrorCode,
  FramepipeError,
  InFlight,
  InvalidOptionError,
  isDiscontinuity,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  StageBuffers,
} from '@framepipe/common';
import { withRead } from '@framepipe/http-source';
import type { ByteSource } from '@framepipe/http-source';
import { truncatedIndex, walkTopLevel } from './mp4-boxes.ts';

/** What the demuxer learned about the video stream when it opened the container. */
export interface DemuxerInfo {
  /** The container format as FFmpeg names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  readonly formatName: string;
  /** Index of the video stream inside the container (among all its streams). */
  readonly streamIndex: number;
  /** The video streams the container has (cover pictures not counted); `stream` picks one of them. */
  readonly videoStreams: number;
  /** Codec name, e.g. `h264`, `hevc`, `vp9`. */
  readonly codec: string;
  readonly width: number;
  readonly height: number;
  /** Pixel format name as FFmpeg reports it before decoding, e.g. `yuv420p`; null if unknown. */
  readonly pixelFormat: string | null;
  /** Time base of packet and frame timestamps: a pts of `n` is `n * num / den` seconds. */
  readonly timeBase: { readonly num: number; readonly den: number };
  /** Average frame rate if the container states or FFmpeg estimated one, else null. */
  readonly frameRate: { readonly num: number; readonly den: number } | null;
  /** True when the codec reorders frames (B-frames): decode order differs from display order. */
  readonly hasBFrames: boolean;
  /** Frame count as the container states it, or null when it does not say (e.g. MPEG-TS, WebM). */
  readonly frameCount: number | null;
  /** Stream duration in seconds, or null if unknown. */
  readonly duration: number | null;
  /**
   * Rotation in degrees from the stream's display matrix, counter-clockwise, in [0, 360) (0, 90, 180, 270, or
   * another angle); 0 when the stream has none. ffprobe shows the same angle between -180 and 180 (270 is its -90),
   * and a phone's `rotate` tag is the clockwise turn (`rotate=90` is 270 here). Frames are decoded as stored, not
   * rotated.
   */
  readonly rotation: number;
  /** The native codec parameters, for the decoder. Valid while this demuxer is open. */
  readonly codecParameters: CodecParameters;
}

/** Options of {@link Demuxer}. */
export interface DemuxerOptions {
  /**
   * How many packets may wait in the demuxer's output buffer. Packets are small; the byte source does the
   * read-ahead that hides network latency, so a short buffer only limits work done after a range is complete.
   * @default 4
   */
  highWaterMark?: number;
  /**
   * Size of the buffer FFmpeg reads the source through, in bytes.
   * @default 65536
   */
  ioBufferSize?: number;
  /**
   * Which video stream to read, counted from 0 among the container's video streams (cover pictures not counted).
   * A number past the last one fails the open with `ERR_FRAMEPIPE_INVALID_OPTION`, saying how many there are.
   * @default 0: the first, as Supervisely reads it
   */
  stream?: number;
}

const KNOWN_OPTIONS = ['highWaterMark', 'ioBufferSize', 'stream'] as const;
/** How far FFmpeg's I/O goes forward by reading rather than seeking, past its buffer (its SHORT_SEEK_THRESHOLD). */
const SHORT_SEEK = 32 * 1024;
// A seek to a time before every packet: FFmpeg's MP4 reader then goes to the first sample, others to the first packet.
const REWIND = -(1n << 62n);
/**
 * Containers whose packets' byte positions are where reading can start and end cleanly: MPEG-TS, whose 188-byte
 * packets each say what they carry. Matroska's blocks sit inside clusters that a reader must enter from their start
 * (its timestamp seek finds the cluster in its cues), and a file that ends inside a cluster makes FFmpeg warn.
 */
const BYTE_SEEK_FORMATS = new Set(['mpegts']);

/**
 * True when the container (a {@link DemuxerInfo.formatName}) can be read from a packet's byte position, as
 * {@link Demuxer.seekKeyframe} does with `pos`, and ended there cleanly with {@link Demuxer.endAt}.
 */
export function readsAtPacketPositions(formatName: string): boolean {
  return BYTE_SEEK_FORMATS.has(formatName);
}
// FFmpeg ORs this into `whence` when it wants a seek even if costly; it does not change the target.
const AVSEEK_FORCE = 0x20000;

/**
 * Reads a container from a {@link ByteSource} through FFmpeg custom I/O and emits the packets of one video stream
 * (its first, or the one the `stream` option picks) as node-av `Packet`s in a streamx Readable. Every packet emitted belongs to the consumer, who must
 * `free()` it. Packets of other streams are dropped inside the demuxer.
 *
 * The source is only borrowed: the demuxer never closes it, so two demuxers can read one source in turn.
 *
 * @example
 * const demuxer = new Demuxer(new FileSource('clip.mp4'));
 * const info = await demuxer.open();
 * console.log(info.codec, info.width, info.height);
 * for await (const packet of demuxer) {
 *   console.log(packet.pts, packet.isKeyframe);
 *   packet.free();
 * }
 */
export class Demuxer extends Readable {
  readonly source: ByteSource;
  /** The video stream read, counted from 0 among the container's video streams. */
  readonly stream: number;
  #ioBufferSize: number;
  #format: FormatContext | null = null;
  #io: IOContext | null = null;
  #info: DemuxerInfo | null = null;
  #opening: Promise<DemuxerInfo> | null = null;
  #position = 0;
  #seekedPastEnd = false;
  /** The furthest byte FFmpeg has read up to. */
  #furthest = 0;
  #ioError: unknown = null;
  #reading = false;
  #stopped = false;
  /** Where the source ends for FFmpeg, once {@link Demuxer.endAt} has said: no byte from there on is read. */
  #endAt = Infinity;
  /** The parts still to read after the current one (see {@link Demuxer.route}), and how many have been started. */
  #route: Array<{ pts: bigint; dts: bigint; end: number; packetsEnd: number }> = [];
  /** No packet of the video stream that starts at or past this byte is given out (see {@link Demuxer.route}). */
  #packetsEnd = Infinity;
  #partsStarted = 0;
  /** A packet read while checking a seek, to be emitted first. */
  #held: Packet | null = null;
  /** Where to continue from at the next read: a keyframe, or the first packet of the stream. */
  #jump: { pts: bigint; dts: bigint } | 'start' | null = null;
  #packetsRead = 0;
  /** True once a seek moved the reading: the packets read are then not the stream from its start. */
  #seeked = false;
  /** Packets gone out since the last seek or jump. */
  #sinceSeek = 0;
  #endHold: Promise<unknown> | null = null;
  /** What FFmpeg read while parsing the container header, while it does so (then merged into {@link #header}). */
  #headerReads: Array<{ offset: number; data: Buffer }> | null = null;
  /** The byte ranges FFmpeg read while parsing the container header, merged where they touch. */
  #header: Array<{ offset: number; data: Buffer }> = [];
  #inFlight = new InFlight();
  #abort = new AbortController();
  readonly #buffered: StageBuffers<never, Packet | typeof DISCONTINUITY>;

  constructor(source: ByteSource, options: DemuxerOptions = {}) {
    const opts = assertOptionsObject(options, 'Demuxer');
    assertKnownKeys(opts, KNOWN_OPTIONS, 'Demuxer');
    const highWaterMark = checkInteger('highWaterMark', opts.highWaterMark ?? 4, 1);
    const buffered = new StageBuffers<never, Packet | typeof DISCONTINUITY>();
    super(buffered.options(highWaterMark));
    this.#buffered = buffered.attach(this, { output: (packet) => isDiscontinuity(packet) || packet.free() });
    this.source = source;
    this.#ioBufferSize = checkInteger('ioBufferSize', opts.ioBufferSize ?? 65536, 4096);
    this.stream = checkInteger('stream', opts.stream ?? 0, 0);
  }

  /** Stream info; throws before {@link Demuxer.open} has resolved. */
  get info(): DemuxerInfo {
    if (!this.#info) throw new Error('Demuxer.info is available after open() has resolved');
    return this.#info;
  }

  /**
   * The source as read through the bytes FFmpeg already read while parsing the container header after
   * {@link Demuxer.open}: reads those bytes cover are served from memory, others go to the source. An MP4's box
   * headers and its whole `moov` are among them, so the sample-table reader (`readMp4SampleTable`) can read the
   * index again without fetching a byte of it twice. Only an MP4/MOV's header bytes are kept: for other containers
   * every read goes to the source.
   */
  get headerSource(): ByteSource {
    const source = this.source;
    const header = () => this.#header;
    return withRead(source, (offset, length, signal) => {
      const end = Math.min(offset + length, source.size);
      const held = header().find((r) => r.offset <= offset && r.offset + r.data.length >= end);
      if (held) return Promise.resolve(Buffer.from(held.data.subarray(offset - held.offset, Math.max(offset, end) - held.offset)));
      return source.read(offset, length, signal);
    });
  }

  /** Packets of the video stream emitted so far. */
  get packetsRead(): number {
    return this.#packetsRead;
  }

  /**
   * Opens the source and the container and finds the video stream. Called by the stream machinery on first read;
   * call it yourself to learn the {@link DemuxerInfo} before reading or to {@link Demuxer.seek} first.
   */
  open(): Promise<DemuxerInfo> {
    this.#opening ??= this.#inFlight.track(
      this.#openContainer().catch(async (error: unknown) => {
        // A failed open leaves nothing native behind, even if the caller never destroys the stream.
        await this.#close();
        throw error;
      }),
    );
    return this.#opening;
  }

  /**
   * Moves to the keyframe at or before `pts` (in the stream's time base), like FFmpeg's backward seek. Only before
   * the first packet has been read: packets already buffered would otherwise come from the old position.
   */
  async seek(pts: bigint): Promise<void> {
    await this.open();
    if (this.#reading) throw new Error('Demuxer.seek() must be called before reading starts');
    await this.#seekFrame(pts);
  }

  /**
   * Moves to the keyframe that has presentation timestamp `pts` and decode timestamp `dts` (as an earlier scan of
   * this container reported them), or to a position before it. Containers disagree on what a seek timestamp means:
   * MP4 and Matroska look it up in their index by presentation time, MPEG-TS binary-searches by decode time and
   * would land after the keyframe (mid-GOP) when given its pts. So this seeks by `pts`, checks that the first
   * packet is a keyframe at or before `pts`, and otherwise seeks again by `dts`, which lands at or before it.
   *
   * With `pos`, the byte where the keyframe's packet starts (as a scan's packets gave it), an MPEG-TS stream is
   * read from that byte instead: its timestamp seek is a binary search that reads the file at a dozen places. The
   * first packet must then be that keyframe; otherwise the seek goes by time after all.
   */
  async seekKeyframe(pts: bigint, dts: bigint, pos?: number): Promise<void> {
    await this.open();
    if (this.#reading) throw new Error('Demuxer.seekKeyframe() must be called before reading starts; use jump()');
    if (pos !== undefined && BYTE_SEEK_FORMATS.has(this.info.formatName) && (await this.#seekByte(pts, pos))) return;
    await this.#seekKeyframeNow(pts, dts);
  }

  /** Reads on from byte `pos`; true when the first packet there is the keyframe shown at `pts` (then held for output). */
  async #seekByte(pts: bigint, pos: number): Promise<boolean> {
    this.#throwIfStopping();
    this.#held?.free();
    this.#held = null;
    this.#sinceSeek = 0;
    this.#seeked = true;
    const ret = await this.#inFlight.track(this.#format!.seekFrame(this.info.streamIndex, BigInt(pos), AVSEEK_FLAG_BYTE));
    if (ret < 0) return false;
    const first = await this.#inFlight.track(this.#readVideoPacket());
    if (first && first.isKeyframe && first.pts === pts) {
      this.#held = first;
      return true;
    }
    first?.free();
    return false;
  }

  /**
   * While reading: continues from the keyframe `pts`/`dts` (found as {@link Demuxer.seekKeyframe} does) once the
   * packets already buffered have gone out, and emits the {@link DISCONTINUITY} marker just before the first packet
   * from there, so that a decoder drains and starts afresh. For skipping what lies between two wanted parts of a
   * stream. Ignored after {@link Demuxer.stop}.
   */
  jump(pts: bigint, dts: bigint): void {
    this.#jump = { pts, dts };
  }

  /**
   * While reading: continues from the first packet of the stream, as {@link Demuxer.jump} does from a keyframe (the
   * {@link DISCONTINUITY} marker comes first). For a decode that must start over: no keyframe the container lists
   * can serve.
   */
  rewind(): void {
    this.#jump = 'start';
  }

  /**
   * Every call into FFmpeg starts here first: once the stream is being destroyed, none may start, since teardown
   * frees the container as soon as the calls already running have returned.
   */
  #throwIfStopping(): void {
    if (this.#abort.signal.aborted) throw new AbortError(this.#abort.signal.reason);
  }

  async #seekFrame(pts: bigint): Promise<void> {
    this.#throwIfStopping();
    this.#seeked = true;
    // FFmpeg goes a short way forward by reading, and refuses to once its I/O has met the end of the file, without
    // asking the source again: after the end of a part (see Demuxer.route) the seek would then land on a keyframe
    // just past that end and find no packet there. A seek to where the I/O stands falls inside its buffer: it reads
    // nothing and clears that end. (Asking FFmpeg whether it is at the end would read, so this is done every time.)
    await this.#inFlight.track(this.#io!.seek(BigInt(this.#position), AVSEEK_SET));
    // Teardown may have begun while it ran.
    this.#throwIfStopping();
    const ret = await this.#inFlight.track(this.#format!.seekFrame(this.info.streamIndex, pts, AVSEEK_FLAG_BACKWARD));
    if (ret < 0) throw this.#failure(ret, `Cannot seek in ${this.source.description} to pts ${pts}`);
  }

  async #seekKeyframeNow(pts: bigint, dts: bigint): Promise<void> {
    this.#held?.free();
    this.#held = null;
    this.#sinceSeek = 0;
    if (pts === REWIND) return this.#seekFrame(REWIND);
    await this.#seekFrame(pts);
    const first = await this.#inFlight.track(this.#readVideoPacket());
    if (first && first.isKeyframe && first.pts !== AV_NOPTS_VALUE && first.pts <= pts) {
      this.#held = first;
      return;
    }
    first?.free();
    await this.#seekFrame(dts === AV_NOPTS_VALUE ? pts : dts);
  }

  /**
   * Keeps the output from ending at the end of the container until `until` settles, when a packet has gone out
   * since the last seek or jump: a {@link Demuxer.jump} or {@link Demuxer.rewind} asked for by then is followed
   * instead. For a consumer that checks the packet a seek landed on (see the Decoder's `checkStart`) and may send
   * the demuxer back, even when that packet is one of the last. One hold at a time; {@link Demuxer.stop} ends
   * without waiting.
   */
  holdEnd(until: Promise<unknown>): void {
    this.#endHold = until;
  }

  /** At the end of the container: waits for a held end, then tells whether a jump is to be followed. */
  async #jumpsAtEnd(): Promise<boolean> {
    if (this.#stopped || this.#abort.signal.aborted) return false;
    // A jump already asked for is followed at once, and the hold kept for after it: it may wait on those packets.
    if (this.#jump !== null) return true;
    const hold = this.#endHold;
    this.#endHold = null;
    if (hold && this.#sinceSeek > 0) {
      const signal = this.#abort.signal;
      await Promise.race([hold.catch(() => {}), new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
    }
    return this.#jump !== null && !this.#stopped && !this.#abort.signal.aborted;
  }

  /**
   * From now on, FFmpeg sees the source end at byte `offset`: no byte at or past it is read, and the packets end
   * where the file would end there. For a decode whose plan needs nothing past that byte (see `planByteRanges`):
   * the decoder then flushes at once, instead of the demuxer reading on while the last frames come out. A file cut
   * short is still told by its real end, not by this one.
   */
  endAt(offset: number): void {
    checkInteger('offset', offset, 0);
    this.#endAt = offset;
    this.#packetsEnd = offset;
  }

  /**
   * From now on, a packet of the stream that starts at or past byte `offset` ends the stream, as the end of the file
   * would; the bytes are still read as far as FFmpeg needs. Unlike {@link Demuxer.endAt}, the packet before that
   * byte comes out whole even when its data runs on into the packet that starts there (MPEG-TS allows a PES packet
   * to begin with the tail of the picture before).
   */
  endPacketsAt(offset: number): void {
    checkInteger('offset', offset, 0);
    this.#packetsEnd = offset;
  }

  /**
   * Reads parts of the stream one after another, each from its keyframe (at byte `start`) up to byte `end`, where
   * FFmpeg sees the file end ({@link Demuxer.endAt}): there the demuxer jumps to the next part's keyframe by itself, as
   * {@link Demuxer.jump} does (a {@link DISCONTINUITY} lets the decoder drain the part's last frames), and emits
   * `'part'` with the position of the part it starts; it ends after the last part. The first part is read from where
   * the demuxer stands (sought to its keyframe, whose position is not used). For a sparse selection whose bytes the
   * sample tables give (`planByteRanges`): no packet past what a part needs is read or decoded.
   *
   * @example
   * demuxer.route(plan.parts.map((part, i) => ({ keyframe: part.keyframe, ...bytes.ranges[i] })));
   * demuxer.on('part', (n) => console.log('now reading part', n));
   */
  route(parts: ReadonlyArray<{ readonly keyframe: { readonly pts: bigint; readonly dts: bigint }; readonly start: number; readonly end: number }>): void {
    if (parts.length === 0) return;
    // FFmpeg goes a short way forward by reading, not seeking (up to its buffer plus 32 KiB), and a read that met
    // the end of a part would end the next one too: the file ends at the next part's start then, and the packets of
    // this part end where it ends, by their position.
    const reach = this.#ioBufferSize + SHORT_SEEK;
    const ends = parts.map((part, i) => {
      const next = parts[i + 1]?.start;
      return next !== undefined && next >= part.end && next - part.end <= reach ? next : part.end;
    });
    this.endAt(ends[0]!);
    this.#packetsEnd = parts[0]!.end;
    this.#route = parts.slice(1).map((part, i) => ({ pts: part.keyframe.pts, dts: part.keyframe.dts, end: ends[i + 1]!, packetsEnd: part.end }));
    this.#partsStarted = 1;
  }

  /** At the end of a part of a {@link Demuxer.route}: jumps on to the next one; false after the last. */
  #nextPart(): boolean {
    const next = this.#route.shift();
    if (!next || this.#stopped || this.#abort.signal.aborted) return false;
    this.#endAt = next.end;
    this.#packetsEnd = next.packetsEnd;
    this.emit('part', this.#partsStarted++);
    this.#jump = { pts: next.pts, dts: next.dts };
    return true;
  }

  /** Ends the output after the packet being read, as if the container ended there. Buffered packets still flow. */
  stop(): void {
    this.#stopped = true;
  }

  override _open(cb: (err: Error | null) => void): void {
    this.open().then(() => cb(null), cb);
  }

  override _read(cb: (err: Error | null) => void): void {
    this.#reading = true;
    const jump = this.#stopped ? null : this.#jump;
    this.#jump = null;
    if (jump) {
      const to = jump === 'start' ? { pts: REWIND, dts: REWIND } : jump;
      this.#inFlight.track(this.#seekKeyframeNow(to.pts, to.dts)).then(
        () => {
          this.push(DISCONTINUITY);
          cb(null);
        },
        (error: Error) => cb(error),
      );
      return;
    }
    this.#inFlight.track(this.#readVideoPacket()).then(
      async (packet) => {
        // At the end, a held end may still turn into a jump: read on from there.
        if (packet === null && ((await this.#jumpsAtEnd()) || this.#nextPart())) return this._read(cb);
        // streamx drops, without freeing, what reaches a stream being destroyed.
        if (this.destroying) {
          packet?.free();
        } else {
          this.push(packet);
          if (packet) this.#sinceSeek++;
        }
        cb(null);
      },
      (error: Error) => cb(error),
    );
  }

  /** Iterates the emitted packets; each belongs to the caller, who must `free()` it. */
  declare [Symbol.asyncIterator]: () => AsyncIterator<Packet>;

  override _predestroy(): void {
    // A read callback waiting on the network would keep FFmpeg (and this stream's teardown) waiting.
    this.#abort.abort(new AbortError());
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    // FFmpeg may still be inside readFrame/openInput on its thread; free the context only after it has returned.
    this.#inFlight
      .settled()
      .then(async () => {
        this.#held?.free();
        this.#held = null;
        this.#header = [];
        await this.#close();
      })
      .then(() => cb(null), cb);
  }

  async #openContainer(): Promise<DemuxerInfo> {
    const signal = this.#abort.signal;
    await this.source.open(signal);
    const format = new FormatContext();
    format.allocContext();
    const io = new IOContext();
    io.allocContextWithCallbacks(
      this.#ioBufferSize,
      0,
      (size) => this.#readCallback(size),
      null,
      (offset, whence) => this.#seekCallback(offset, whence),
    );
    format.pb = io;
    format.setFlags(AVFMT_FLAG_CUSTOM_IO);
    this.#format = format;
    this.#io = io;

    this.#headerReads = [];
    let ret = await format.openInput('', null, null);
    // Only an MP4's header is read again (its sample tables); other containers' bytes need not stay in memory.
    this.#header = isMp4Family(format.iformat?.name) ? mergeReads(this.#headerReads) : [];
    this.#headerReads = null;
    if (ret < 0) throw await this.#openFailure(ret);
    ret = await format.findStreamInfo(null);
    if (ret < 0) throw this.#failure(ret, `Cannot read the streams of ${this.source.description}`);

    const streams = format.streams;
    const videos = streams.filter((s) => s.codecpar.codecType === AVMEDIA_TYPE_VIDEO && !s.hasDisposition(AV_DISPOSITION_ATTACHED_PIC));
    const mp4 = isMp4Family(format.iformat?.name);
    if (videos.length === 0) {
      // An MP4 whose index was cut inside its first track reads as a container without streams.
      throw (mp4 && (await this.#cutShort())) ||
        new FramepipeError(ErrorCode.NO_VIDEO_STREAM, `No video stream in ${this.source.description}: it holds ${describeStreams(streams)}, so there are no frames to read`, {
          source: this.source.description,
        });
    }
    const video = videos[this.stream];
    if (!video) {
      const has = videos.length === 1 ? 'has 1 video stream (0)' : `has ${videos.length} video streams (0-${videos.length - 1})`;
      throw new InvalidOptionError('stream', `There is no video stream ${this.stream} in ${this.source.description}: it ${has}`);
    }
    // An MP4 index cut inside the video track's tables leaves a stream without codec or samples: FFmpeg opens it
    // and the run would find no frame (or "no decoder for codec 0"). Complete MP4s state both, except fragmented
    // ones, which have no count: those are walked only if FFmpeg read to the end, as it does when the index is cut.
    const uncounted = video.nbFrames <= 0n && this.#furthest >= this.source.size;
    if (mp4 && (video.codecpar.codecId === AV_CODEC_ID_NONE || uncounted)) {
      const cut = await this.#cutShort();
      if (cut) throw cut;
    }
    // FFmpeg still reads the bytes of other streams (they are interleaved) but no longer builds packets for them.
    for (const stream of streams) if (stream.index !== video.index) stream.discard = AVDISCARD_ALL;

    const par = video.codecpar;
    const tb = video.timeBase;
    const rate = video.avgFrameRate;
    this.#info = Object.freeze({
      formatName: format.iformat?.name ?? 'unknown',
      streamIndex: video.index,
      videoStreams: videos.length,
      codec: avGetCodecName(par.codecId) ?? `codec ${par.codecId}`,
      width: par.width,
      height: par.height,
      pixelFormat: par.format >= 0 ? avGetPixFmtName(par.format as never) : null,
      timeBase: { num: tb.num, den: tb.den },
      frameRate: rate.num > 0 && rate.den > 0 ? { num: rate.num, den: rate.den } : null,
      hasBFrames: par.videoDelay > 0,
      frameCount: video.nbFrames > 0n ? Number(video.nbFrames) : null,
      duration: durationSeconds(video.duration, tb, format.duration),
      rotation: rotationOf(par.getCodedSideData(AV_PKT_DATA_DISPLAYMATRIX)),
      codecParameters: par,
    });
    return this.#info;
  }

  async #readVideoPacket(): Promise<Packet | null> {
    if (this.#held) {
      const held = this.#held;
      this.#held = null;
      return held;
    }
    if (this.#stopped) return null;
    const format = this.#format!;
    const streamIndex = this.info.streamIndex;
    const packet = new Packet();
    packet.alloc();
    try {
      for (;;) {
        this.#throwIfStopping();
        const ret = await format.readFrame(packet);
        // A read that failed for good ends the stream with its error, whatever FFmpeg made of it (a packet it marks
        // corrupt, a resync further on): no packet read after it goes out.
        if (this.#ioError) throw this.#ioError;
        if (ret === AVERROR_EOF) {
          if (this.#seekedPastEnd) throw this.#truncated();
          const cut = await this.#endedEarly();
          if (cut) throw cut;
          packet.free();
          return null;
        }
        if (ret < 0) throw this.#failure(ret, `Cannot read a packet from ${this.source.description}: its data is damaged`);
        // A sample cut off by the end of the file comes out short and flagged corrupt; the next read is a plain EOF.
        if (packet.hasFlags(AV_PKT_FLAG_CORRUPT) && packet.pos >= 0n && packet.pos + BigInt(packet.size) >= BigInt(this.source.size)) {
          throw this.#truncated();
        }
        if (packet.streamIndex === streamIndex) {
          // Bytes FFmpeg had buffered before endAt() may hold packets past it: the end is where they start.
          if (Number(packet.pos) >= this.#packetsEnd) {
            packet.free();
            return null;
          }
          this.#packetsRead++;
          return packet;
        }
        packet.unref();
      }
    } catch (error) {
      packet.free();
      throw error;
    }
  }

  async #readCallback(size: number): Promise<Buffer | number> {
    // Once a read has failed for good, FFmpeg gets no more bytes: it would take the gap for damaged data and go on
    // from wherever the next read landed, giving frames that are garbled or numbered wrong.
    if (this.#abort.signal.aborted || this.#ioError) return AVERROR_EXIT;
    try {
      const length = Math.min(size, this.#endAt - this.#position);
      if (length <= 0) return AVERROR_EOF;
      const bytes = await this.source.read(this.#position, length, this.#abort.signal);
      if (bytes.length === 0) return AVERROR_EOF;
      this.#headerReads?.push({ offset: this.#position, data: bytes });
      this.#position += bytes.length;
      this.#furthest = Math.max(this.#furthest, this.#position);
      return bytes;
    } catch (error) {
      // FFmpeg only sees a number; keep the real error to throw once FFmpeg gives up.
      this.#ioError ??= error;
      return AVERROR_EXIT;
    }
  }

  #seekCallback(offset: bigint, whence: AVSeekWhence): bigint {
    const size = this.source.size;
    const mode = whence & ~AVSEEK_FORCE;
    if (mode === AVSEEK_SIZE) return BigInt(size);
    let target: number;
    if (mode === AVSEEK_SET) target = Number(offset);
    else if (mode === AVSEEK_CUR) target = this.#position + Number(offset);
    else if (mode === AVSEEK_END) target = size + Number(offset);
    else return -1n;
    if (target < 0) return -1n;
    // A container whose index points past the last byte was cut short.
    if (target > size) this.#seekedPastEnd = true;
    this.#position = target;
    return BigInt(target);
  }

  /**
   * FFmpeg says only "invalid data" when a container's header cannot be parsed. If the bytes do start like a
   * known container and FFmpeg read all the way to the end looking for the rest (an MP4 cut before its `moov`),
   * the file was cut short; otherwise it is not a video file we can read, and the first bytes may say what it is.
   */
  async #openFailure(ret: number): Promise<Error> {
    if (this.#ioError || this.#abort.signal.aborted || this.#seekedPastEnd) return this.#failure(ret, '');
    const head = await this.source.read(0, 65536).catch(() => null);
    const format = head && head.length > 0 ? InputFormat.probe(head) : null;
    // An MP4 cut inside its media data, before a `moov` at the end: FFmpeg sees the box too long and stops there.
    const cut = format && isMp4Family(format.name) ? await this.#cutShort() : null;
    if (cut) return cut;
    if (format && this.#furthest >= this.source.size) {
      return truncatedIndex(this.source, `it starts as a ${format.name} file but ends before its container is complete`);
    }
    const known = ret === AVERROR_INVALIDDATA ? 'FFmpeg found no container format it knows in it' : `FFmpeg could not open it`;
    return this.#failure(ret, `${this.source.description} is not a video framepipe can read: ${known}${whatItIs(head)}. Check that it is the video file itself (MP4, MOV, MKV, WebM, …) and complete`);
  }

  /**
   * At the end of an MP4 read from its start: fewer packets than the track has samples may mean an index cut
   * inside its tables (the samples it still lists have no place in the file), which the walk confirms.
   */
  async #endedEarly(): Promise<FramepipeError | null> {
    const info = this.#info!;
    if (this.#seeked || this.#endAt < this.source.size || !isMp4Family(info.formatName) || info.frameCount === null || this.#packetsRead >= info.frameCount) return null;
    return this.#cutShort();
  }

  /** The MP4 top-level box that runs past the end of the file, as a TRUNCATED error; null if there is none. */
  async #cutShort(): Promise<FramepipeError | null> {
    const top = await walkTopLevel(this.source, this.#abort.signal).catch(() => null);
    if (!top?.cut) return null;
    const box = top.cut === top.moov ? "index ('moov' box)" : top.cut.type === 'mdat' ? "media data ('mdat' box)" : `'${top.cut.type}' box`;
    return truncatedIndex(this.source, `its ${box} ends past the end of the file`);
  }

  #truncated(): FramepipeError {
    return truncatedIndex(this.source, 'the container refers to data past its last byte');
  }

  /**
   * An FFmpeg call that failed: the real cause if it was reading the source, else INVALID_DATA saying `what` in
   * words (a default naming the input if empty), ending with FFmpeg's own text; its code is kept in `ffmpeg`.
   */
  #failure(ret: number, what: string): Error {
    if (this.#ioError) return this.#ioError as Error;
    if (this.#abort.signal.aborted) return new AbortError();
    if (this.#seekedPastEnd) return this.#truncated();
    const text = FFmpegError.strerror(ret);
    const said = what || `Cannot read ${this.source.description}: its data is damaged or not in a format FFmpeg knows`;
    return new FramepipeError(ErrorCode.INVALID_DATA, `${said} (FFmpeg: ${text})`, {
      source: this.source.description,
      ffmpeg: { code: ret, text },
    });
  }

  async #close(): Promise<void> {
    const format = this.#format;
    const io = this.#io;
    this.#format = null;
    this.#io = null;
    if (format) {
      // Detach our I/O first: closing the input must not free a context FFmpeg did not allocate.
      format.pb = null;
      await format.closeInput();
      format.freeContext();
    }
    io?.freeContext();
  }
}

/** Byte ranges read, in order of offset, those that overlap or touch joined into one. */
function mergeReads(reads: ReadonlyArray<{ offset: number; data: Buffer }>): Array<{ offset: number; data: Buffer }> {
  const merged: Array<{ offset: number; parts: Buffer[]; end: number }> = [];
  for (const read of [...reads].sort((a, b) => a.offset - b.offset)) {
    const last = merged[merged.length - 1];
    const end = read.offset + read.data.length;
    if (last && read.offset <= last.end) {
      if (end > last.end) last.parts.push(read.data.subarray(last.end - read.offset));
      last.end = Math.max(last.end, end);
    } else {
      merged.push({ offset: read.offset, parts: [read.data], end });
    }
  }
  return merged.map((r) => ({ offset: r.offset, data: r.parts.length === 1 ? r.parts[0]! : Buffer.concat(r.parts) }));
}

/** Formats whose demuxer is FFmpeg's `mov` (MP4, MOV, 3GP, …), whose top-level boxes can be walked. */
function isMp4Family(formatName: string | null | undefined): boolean {
  return formatName?.split(',').includes('mp4') === true;
}

/** `2 audio streams`, `no streams at all`: what a container without video holds. */
function describeStreams(streams: ReadonlyArray<{ codecpar: { codecType: number } }>): string {
  if (streams.length === 0) return 'no streams at all';
  const kinds = new Map<string, number>();
  for (const stream of streams) {
    const kind = avGetMediaTypeString(stream.codecpar.codecType as never) ?? 'other';
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].map(([kind, n]) => `${n} ${kind} stream${n === 1 ? '' : 's'}`).join(' and ');
}

/** What the first bytes of a file that is no video look like, as `; it …` for a message, or nothing. */
function whatItIs(head: Buffer | null): string {
  if (!head || head.length === 0) return '; it is empty';
  const start = head.subarray(0, 512).toString('latin1');
  if (/^\s*<(!doctype html|html|head|body)\b/i.test(start)) return '; it is an HTML page (a login or error page?), not a video';
  if (/^\s*[{[]/.test(start) && /^[\x09\x0a\x0d\x20-\x7e]*$/.test(start)) return '; it is JSON text, not a video';
  if (/^[\x09\x0a\x0d\x20-\x7e]+$/.test(start)) {
    const line = start.trim().split('\n')[0]!.slice(0, 40);
    return `; it is text, starting ${JSON.stringify(line)}`;
  }
  return '';
}

function durationSeconds(streamDuration: bigint, tb: Rational, formatDuration: bigint): number | null {
  if (streamDuration > 0n && streamDuration !== AV_NOPTS_VALUE && tb.den > 0) {
    return (Number(streamDuration) * tb.num) / tb.den;
  }
  // The format's duration is in AV_TIME_BASE (microseconds).
  if (formatDuration > 0n && formatDuration !== AV_NOPTS_VALUE) return Number(formatDuration) / 1e6;
  return null;
}

/** The display matrix is nine 32-bit integers, the first two columns in 16.16 fixed point. */
function rotationOf(matrix: Buffer | null): number {
  if (!matrix || matrix.length < 36) return 0;
  const m = (i: number) => matrix.readInt32LE(i * 4) / 65536;
  const scaleX = Math.hypot(m(0), m(3));
  const scaleY = Math.hypot(m(1), m(4));
  if (scaleX === 0 || scaleY === 0) return 0;
  const degrees = -(Math.atan2(m(1) / scaleY, m(0) / scaleX) * 180) / Math.PI;
  const normalized = ((Math.round(degrees * 100) / 100) % 360 + 360) % 360;
  return normalized === 360 ? 0 : normalized;
}
