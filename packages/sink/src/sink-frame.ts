import type { PixelFormat } from '@framepipe/common';

/**
 * The frame the sink writes: packed pixels with its number (what `RgbConverter` emits). `pts`, `time` and `keyframe`
 * only go into the manifest; a frame without them gets null there.
 */
export interface SinkFrame {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
  /** The layout of `data`'s pixels; absent means `rgb24`. */
  readonly format?: PixelFormat | undefined;
  readonly pts?: bigint | undefined;
  readonly time?: number | undefined;
  readonly keyframe?: boolean | undefined;
}
