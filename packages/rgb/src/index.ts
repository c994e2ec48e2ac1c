export { RgbConverter } from './rgb-converter.ts';
export type { RgbFrame, NumberedFrameInput, RgbConverterOptions } from './rgb-converter.ts';
export { PIXEL_FORMATS, PIXEL_LAYOUT } from '@framepipe/common';
export type { PixelFormat } from '@framepipe/common';
export { FITS, SCALE_FILTERS, checkCrop, checkGeometry, checkSize, checkSizeOrMaxSide, planGeometry, storedRect } from './frame-geometry.ts';
export type { Fit, FrameGeometryOptions, FrameGeometrySettings, GeometryPlan, OutputSize, Rect, ScaleFilter } from './frame-geometry.ts';
export { RAW_VIDEO_FORMATS, RawVideoSink } from './raw-video-sink.ts';
export type { RawVideoFormat, RawVideoInfo, RawVideoSinkOptions } from './raw-video-sink.ts';
