// The whole public API of framepipe in one import. Each name comes from the package that owns it; the scoped
// packages (@framepipe/core, @framepipe/demuxer, ...) stay available to those who want one stage.

// The one-call API: a URL, path or ByteSource, or a Supervisely video by id.
export { streamVideoFrames, streamVideoFramesToDir } from './stream-video-frames.ts';
export { probeVideo, ProgressBar, RunStats } from '@framepipe/core';
// Frames as one byte stream (raw RGB or YUV4MPEG2) for another program: stdout, a child's stdin.
export { pipeVideoFrames } from '@framepipe/core';
export type { PipeOptions, PipeResult, RawVideoFormat, RawVideoInfo } from '@framepipe/core';
export type {
  DecodeOptions,
  IterateOptions,
  ManifestLine,
  ProbeOptions,
  ProgressBarOptions,
  ProgressStream,
  FramesMissing,
  RunStatsSnapshot,
  SourceOptions,
  StreamOptions,
  StreamToDirOptions,
  VideoProbe,
} from '@framepipe/core';
// Size, crop and pixel format of the frames (one option table for every call that converts frames).
export { FRAME_FORMAT_KEYS, checkFrameFormat, converterOptionsOf } from '@framepipe/core';
export type { FrameFormatOptions, FrameFormatSettings } from '@framepipe/core';
export { FITS, PIXEL_FORMATS, SCALE_FILTERS, planGeometry } from '@framepipe/rgb';
export type { Fit, FrameGeometryOptions, GeometryPlan, OutputSize, PixelFormat, Rect, ScaleFilter } from '@framepipe/rgb';

// Random access: a video kept open for frame requests in any order (decord's `vr[i]`, torchcodec's VideoDecoder).
export { openVideo } from '@framepipe/core';
export type { VideoReader, VideoReaderInfo, VideoReaderOptions } from '@framepipe/core';

// Many videos in one call: each into <out>/<name>/, N at a time, resumable, with a batch.jsonl report.
export { BATCH_FILE_NAME, NAME_MAX_BYTES, runBatch, sourceName } from '@framepipe/batch';
export type { BatchOptions, BatchProgress, BatchReportLine, BatchSource, BatchSummary, BatchVideoResult, VideoIdSource } from '@framepipe/batch';
export { DEFAULT_SHARD_FRAMES, planShards } from '@framepipe/batch';
export type { Shard, ShardOptions, ShardPlan } from '@framepipe/batch';

// Many videos on many machines: a BullMQ work queue on Redis, videos split into GOP-aligned shards.
export { DEFAULT_DASHBOARD_PORT, QUEUE_FRAME_KEYS, QUEUE_NAMES, enqueue, queueStatus, runWorker, serveDashboard } from '@framepipe/queue';
export type { BatchStatus, Dashboard, DashboardOptions, EnqueueOptions, QueueFailure, QueueFrameOptions, QueueStatusOptions, StageCounts, WorkerEvent, WorkerOptions, WorkerSummary } from '@framepipe/queue';
// Where a batch writes: a directory, or S3-compatible object storage (`s3://bucket/prefix`).
export { DirDestination, S3Destination, openDestination } from '@framepipe/batch';
export type { DestinationCheckOptions, FrameDestination, S3DestinationOptions, VideoWriteOptions } from '@framepipe/batch';

// Supervisely.
export { SuperviselyApi, SuperviselyVideoSource } from '@framepipe/supervisely';
export type {
  DatasetVideosOptions,
  SuperviselyApiOptions,
  SuperviselyFileMeta,
  SuperviselyFromEnvOptions,
  SuperviselyStreamOptions,
  SuperviselyStreamToDirOptions,
  SuperviselyVideoInfo,
  SuperviselyVideoRef,
  SuperviselyVideoSourceOptions,
  VideoInfoOptions,
} from '@framepipe/supervisely';

// Pipelines of your own: the default path's stages, planned and wired, ending where your Writable starts.
export { openFrameStages, runFrameSink } from '@framepipe/core';
export type { FrameOutput, FrameSinkRun, FrameStages, FrameStagesOptions } from '@framepipe/core';
export { Selection, decodeBytes, framesOfPartialIndex, planByteRanges, planDecode } from '@framepipe/pts-indexer';
export type { DecodePart, DecodePlan, KeyframePosition, PartialIndex, PlannedBytes, PlanStreamInfo, SelectionOptions, StreamTiming, TimeWindow } from '@framepipe/pts-indexer';

// The stages one by one.
export { ByteStream, FileSource, HttpSource, RETRY_CHANNEL, ReadCache, isByteSource, openByteSource } from '@framepipe/http-source';
export type {
  ByteSource,
  ByteSourceInput,
  ByteStreamOptions,
  HttpAgents,
  HttpSourceInput,
  HttpSourceOptions,
  PlanOptions,
  PlannedRange,
  ReadCacheOptions,
  RetryEvent,
} from '@framepipe/http-source';
export { Demuxer } from '@framepipe/demuxer';
export type { DemuxerInfo, DemuxerOptions } from '@framepipe/demuxer';
export { FrameSelector, Mp4SampleTable, PtsIndex, PtsIndexer, SAMPLE_DISCARD, SAMPLE_KEYFRAME, SCAN_MARGIN, readMp4SampleTable } from '@framepipe/pts-indexer';
export type {
  ContainerStreamInfo,
  FrameSelectorOptions,
  Mp4Sample,
  NumberedFrame,
  PtsContainerOptions,
  PtsIndexerOptions,
  PtsIndexStrategy,
  PtsScanOptions,
  ReadMp4SampleTableOptions,
} from '@framepipe/pts-indexer';
export { Decoder } from '@framepipe/decoder';
export type { DecoderOptions } from '@framepipe/decoder';
export { RAW_VIDEO_FORMATS, RawVideoSink, RgbConverter } from '@framepipe/rgb';
export type { NumberedFrameInput, RawVideoSinkOptions, RgbConverterOptions, RgbFrame } from '@framepipe/rgb';
export { DEFAULT_NAME_TEMPLATE, FrameDirSink, FrameEncoder, IMAGE_EXTENSIONS, MANIFEST_FILE_NAME, NameTemplate, clearFrameFiles, findFrameFiles, frameFileName, listFrameFiles, removeStaleTemporaries } from '@framepipe/sink';
export type { AdoptedFrame, FrameDirSinkOptions, FrameEncoderOptions, FrameFile, ImageExtension, ImageWriter, ImageWriterOptions, SinkFrame } from '@framepipe/sink';

// Shared by every stage: errors with stable codes, the frame budget, the buffer pool, and what a stage of your own
// between them needs (the jump marker to pass on, the bookkeeping that frees what a destroyed stage still holds).
export {
  AbortError,
  BufferPool,
  DISCONTINUITY,
  ErrorCode,
  FrameBudget,
  FramepipeError,
  InvalidOptionError,
  ResumeMismatchError,
  StageBuffers,
  isAbortError,
  isDiscontinuity,
  naming,
  objectStreamOptions,
} from '@framepipe/common';
export type { BufferedRelease, FfmpegStatus, FrameBudgetOptions, FramepipeErrorDetails, InvalidOptionDetails, OptionText, ResumeMismatchDetails } from '@framepipe/common';
