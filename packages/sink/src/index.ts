export { FrameDirSink, IMAGE_EXTENSIONS } from './frame-dir-sink.ts';
export type { AdoptedFrame, FrameDirSinkOptions, ImageExtension, ImageWriter, ImageWriterOptions, SinkFrame } from './frame-dir-sink.ts';
export { findFrameFiles, frameFileName, removeStaleTemporaries } from './output-dir.ts';
export { MANIFEST_FILE_NAME } from './manifest.ts';
export type { ManifestLine, ManifestOptions, ManifestValue } from './manifest.ts';
