import { ErrorCode } from '@framepipe/common';
import { notVisible, postApi, type ApiConnection } from './api-call.ts';

/**
 * What the server measured of the file (the SDK's `file_meta`). The server fills it once it has processed the
 * video; fields may be missing before that, or for a video added by link.
 */
export interface SuperviselyFileMeta {
  /** MIME type, e.g. `video/mp4`. */
  mime?: string;
  /** Size in bytes; the server sends it as a string. */
  size?: string | number;
  /** Duration in seconds. */
  duration?: number;
  /** Frame count as the server counted it (what the SDK reads as `frames_count`). */
  framesCount?: number;
  /** Frame width in pixels. */
  width?: number;
  /** Frame height in pixels. */
  height?: number;
  /** Codec, e.g. `h264`. */
  codecName?: string;
  /** Container as FFmpeg names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  formatName?: string;
  /** Rotation in degrees. */
  rotation?: number;
  /** Time of each frame, in seconds. */
  framesToTimecodes?: number[];
  /** Any other field the server sends. */
  [field: string]: unknown;
}

/**
 * The answer of `videos.info`, with the fields framepipe uses typed; every other field the server sends is kept
 * and reachable by name.
 *
 * @example
 * const info = await api.videoInfo(12345);
 * console.log(info.name, info.fileMeta?.framesCount, info.fileMeta?.duration, info['customData']);
 */
export interface SuperviselyVideoInfo {
  /** The video id. */
  id: number;
  /** The file name, e.g. `clip.mp4`. */
  name: string;
  /** base64 of the SHA-256 of the file, for files stored by Supervisely. */
  hash?: string | null;
  /** The source URL of a video added by link, else null. */
  link?: string | null;
  teamId?: number;
  workspaceId?: number;
  projectId?: number;
  datasetId?: number;
  /** The storage path of the file, e.g. `/h5un6…-public/videos/Z/d/HD/….mp4`. */
  pathOriginal?: string;
  /**
   * The absolute URL of the stored file. Absent while the video is uploading or being processed. Its host is the
   * one the server knows itself by; {@link SuperviselyVideoSource} reads the same path from the server address.
   */
  fullStorageUrl?: string;
  /** What the server measured of the file: frame count, duration, size, size in pixels. */
  fileMeta?: SuperviselyFileMeta;
  /** Metadata attached to the video by users and apps. */
  meta?: Record<string, unknown>;
  createdAt?: string;
  updatedAt?: string;
  /** Any other field the server sends. */
  [field: string]: unknown;
}

/** What a `videos.info` call needs; the API class fills it in. */
export interface VideoInfoRequest extends ApiConnection {
  videoId: number;
  /** `<apiServerAddress>/v3/videos.info` */
  url: string;
}

/**
 * `POST <url>` with `{ id, forceMetadataForLinks: false }`, turned into a {@link SuperviselyVideoInfo} or a
 * {@link FramepipeError} that says what to do (see `postApi`).
 */
export async function fetchVideoInfo(request: VideoInfoRequest): Promise<SuperviselyVideoInfo> {
  const { videoId, serverAddress } = request;
  return await postApi<SuperviselyVideoInfo>({
    ...request,
    method: 'videos.info',
    body: { id: videoId, forceMetadataForLinks: false },
    subject: `video ${videoId}`,
    expected: { what: 'a video description (no numeric id)', test: (answer) => typeof answer['id'] === 'number' },
    notFound: notVisible(ErrorCode.VIDEO_NOT_FOUND, 'video', videoId, serverAddress),
  });
}
