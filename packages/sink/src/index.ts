export { FrameDirSink, IMAGE_EXTENSIONS, frameFileName } from './frame-dir-sink.ts';
export type { FrameDirSinkOptions, ImageExtension, ImageWriter, SinkFrame } from './frame-dir-sink.ts';
export { MANIFEST_FILE_NAME } from './manifest.ts';
export type { ManifestLine, ManifestOptions, ManifestValue } from './manifest.ts';
