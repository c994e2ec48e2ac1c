import { Transform } from 'streamx';
import type { Packet } from 'node-av/lib';
import {
  DISCONTINUITY,
  ErrorCode,
  FramepipeError,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  isDiscontinuity,
  StageBuffers,
} from '@framepipe/common';
import { PtsIndex } from './pts-index.ts';

/** Options of {@link PtsIndexer}. */
export interface PtsIndexerOptions {
  /**
   * Packets that may wait in the indexer's output buffer. The demuxer already buffers a few; more here would
   * only be decoded in vain once the wanted range is complete.
   * @default 1
   */
  highWaterMark?: number;
}

/**
 * The *stream* strategy: packets pass through unchanged while their timestamps are added to {@link PtsIndexer.index}.
 * No pre-scan, one pass. A decoder emits frames in pts order, so by the time a frame comes out every smaller pts
 * has already passed through here and the frame's rank is final. Use it for ranges that start at frame 0.
 *
 * @example
 * const indexer = new PtsIndexer({ hasBFrames: info.hasBFrames });
 * pipeline(demuxer, indexer, decoder, new FrameSelector(indexer.index, { start: 0, end: 99 }), ...);
 */
export class PtsIndexer extends Transform {
  /** The map being built; it grows as packets pass. */
  readonly index: PtsIndex;
  readonly #buffered: StageBuffers<Packet | typeof DISCONTINUITY, Packet>;

  constructor(stream: { hasBFrames: boolean }, options: PtsIndexerOptions = {}) {
    const opts = assertOptionsObject(options, 'PtsIndexer');
    assertKnownKeys(opts, ['highWaterMark'], 'PtsIndexer');
    const buffered = new StageBuffers<Packet | typeof DISCONTINUITY, Packet>();
    super(buffered.options(checkInteger('highWaterMark', opts.highWaterMark ?? 1, 1)));
    const free = (packet: Packet | typeof DISCONTINUITY) => isDiscontinuity(packet) || packet.free();
    this.#buffered = buffered.attach(this, { input: free, output: free });
    this.index = new PtsIndex('stream', stream.hasBFrames);
  }

  override _transform(packet: Packet | typeof DISCONTINUITY, cb: (err: Error | null, data?: unknown) => void): void {
    this.#buffered.take(packet);
    if (isDiscontinuity(packet)) {
      // Frame numbers counted as packets pass are wrong as soon as some packets are skipped.
      return cb(new FramepipeError(ErrorCode.INVALID_OPTION, 'PtsIndexer needs every packet of the stream; number a demuxer that jumps with a scanned PtsIndex', { option: 'jump' }));
    }
    this.index.addPacket(packet);
    cb(null, packet);
  }

  override _flush(cb: (err: Error | null) => void): void {
    this.index.markComplete();
    cb(null);
  }

  /** streamx drops, without freeing, what is written to a stream being destroyed: free such packets here. */
  override write(packet: Packet | typeof DISCONTINUITY): boolean {
    return this.#buffered.admit(packet) && super.write(packet);
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    cb(null);
  }
}
