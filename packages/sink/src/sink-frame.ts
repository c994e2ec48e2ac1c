/**
 * The frame the sink writes: packed RGB24 with its number (what `RgbConverter` emits). `pts`, `time` and `keyframe`
 * only go into the manifest; a frame without them gets null there.
 */
export interface SinkFrame {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
  readonly pts?: bigint | undefined;
  readonly time?: number | undefined;
  readonly keyframe?: boolean | undefined;
}
