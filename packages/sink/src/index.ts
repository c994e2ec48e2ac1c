export { FrameDirSink } from './frame-dir-sink.ts';
export type { FrameDirSinkOptions, ImageWriter, ImageWriterOptions } from './frame-dir-sink.ts';
export { FrameEncoder, IMAGE_EXTENSIONS } from './frame-encoder.ts';
export type { FrameEncoderOptions, ImageExtension } from './frame-encoder.ts';
export type { AdoptedFrame } from './kept-frames.ts';
export type { SinkFrame } from './sink-frame.ts';
export { findFrameFiles, frameFileName, removeStaleTemporaries } from './output-dir.ts';
export { MANIFEST_FILE_NAME } from './manifest.ts';
export type { ManifestLine, ManifestOptions, ManifestValue } from './manifest.ts';
