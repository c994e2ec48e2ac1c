import http from 'node:http';
import got from 'got';
import { AbortError, ErrorCode, FramepipeError } from '@framepipe/common';
import { PassingFailure, hideRequestOptions, isPassingNetworkError, isPassingStatus, pauseBeforeRetry, retriesSpent } from '@framepipe/http-source';

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
export interface VideoInfoRequest {
  videoId: number;
  /** `<apiServerAddress>/v3/videos.info` */
  url: string;
  /** The address to name in messages: the one API calls go to, as configured. */
  serverAddress: string;
  /** True when API calls go to `SUPERVISELY_API_SERVER_ADDRESS` rather than to `SERVER_ADDRESS`. */
  internalAddress: boolean;
  headers: Record<string, string>;
  timeout: number;
  /** Retries after a failure that may pass (a broken connection, a timeout, 408/429/5xx). */
  retries: number;
  /** Milliseconds before the first retry, doubling after that. */
  retryDelay: number;
  signal: AbortSignal | undefined;
}

const TOKEN_HELP = 'Copy a valid token from Account settings > API token in Supervisely and set API_TOKEN in ~/supervisely.env';

/**
 * `POST <url>` with `{ id, forceMetadataForLinks: false }`, turned into a {@link SuperviselyVideoInfo} or a
 * {@link FramepipeError} that says what to do. Redirects are not followed: the request carries the token, which
 * must not travel to another host, and a redirect usually means the address should be written differently.
 */
export async function fetchVideoInfo(request: VideoInfoRequest): Promise<SuperviselyVideoInfo> {
  const failures: FramepipeError[] = [];
  for (;;) {
    try {
      return await fetchOnce(request);
    } catch (error) {
      if (!(error instanceof PassingFailure)) throw error;
      failures.push(error.error);
      if (failures.length > request.retries) throw retriesSpent(failures);
      await pauseBeforeRetry(error, failures.length, request.retryDelay, request.signal, request.retries);
    }
  }
}

async function fetchOnce(request: VideoInfoRequest): Promise<SuperviselyVideoInfo> {
  const { videoId, url, timeout, signal } = request;
  if (signal?.aborted) throw new AbortError(signal.reason);
  let response;
  try {
    response = await got.post(url, {
      json: { id: videoId, forceMetadataForLinks: false },
      headers: { ...request.headers, accept: 'application/json' },
      responseType: 'text',
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      timeout: { socket: timeout },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    const failure = connectionError(request, hideRequestOptions(error));
    throw failure.code !== ErrorCode.ABORTED && isPassingNetworkError(error) ? new PassingFailure(failure) : failure;
  }
  const status = response.statusCode;
  const body = response.body;
  const type = String(response.headers['content-type'] ?? '');
  if (status >= 200 && status < 300) return parseAnswer(request, body, type, status);
  const failure = statusError(request, status, response.statusMessage, body, type, response.headers.location);
  throw isPassingStatus(status) ? new PassingFailure(failure, response.headers['retry-after']) : failure;
}

function parseAnswer(request: VideoInfoRequest, body: string, type: string, status: number): SuperviselyVideoInfo {
  const { videoId, url, serverAddress } = request;
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch (error) {
    throw new FramepipeError(
      ErrorCode.INVALID_DATA,
      `${serverAddress} answered videos.info for video ${videoId} with something that is not JSON (${describeBody(body, type)}): ` +
        `is ${addressVariables(request)} the address of a Supervisely instance?`,
      { source: url, status, cause: error },
    );
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer) || typeof (answer as { id?: unknown }).id !== 'number') {
    throw new FramepipeError(
      ErrorCode.INVALID_DATA,
      `${serverAddress} answered videos.info for video ${videoId} with JSON that is not a video description (no numeric id)`,
      { source: url, status, cause: new Error(`Unexpected answer: ${snippet(body)}`) },
    );
  }
  return answer as SuperviselyVideoInfo;
}

function statusError(
  request: VideoInfoRequest,
  status: number,
  statusMessage: string | undefined,
  body: string,
  type: string,
  location: string | undefined,
): FramepipeError {
  const { videoId, url, serverAddress } = request;
  const reason = statusMessage || http.STATUS_CODES[status] || '';
  const said = serverMessage(body);
  const cause = new Error(`HTTP ${status}${reason ? ` ${reason}` : ''} from ${url}: ${snippet(body) || '(empty body)'}`);
  const details = { source: url, status, cause };
  const answered = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 401 || status === 403) {
    const what = status === 403 ? ', or it may not access video ' + videoId : '';
    return new FramepipeError(
      ErrorCode.AUTH_FAILED,
      `${serverAddress} rejected the API token (${answered}): the token is wrong or expired${what}. ${TOKEN_HELP} (or pass it as token)`,
      details,
    );
  }
  if (status === 404 && !/html/i.test(type)) {
    return new FramepipeError(
      ErrorCode.VIDEO_NOT_FOUND,
      `No video with id ${videoId} is visible to this API token on ${serverAddress} (${answered}): ` +
        `check the video id, and that the token belongs to a member of the video's team`,
      details,
    );
  }
  if (status >= 300 && status < 400) {
    return new FramepipeError(
      ErrorCode.HTTP_STATUS,
      `${serverAddress} redirects API calls (HTTP ${status}${location ? ` to ${location}` : ''}): ` +
        `set ${addressVariables(request)} to the address it redirects to (e.g. https:// instead of http://)`,
      details,
    );
  }
  const hint = /html/i.test(type) ? `; the answer is a web page: is ${addressVariables(request)} the address of a Supervisely instance?` : '';
  return new FramepipeError(
    ErrorCode.HTTP_STATUS,
    `${serverAddress} answered HTTP ${status}${reason ? ` ${reason}` : ''} to videos.info for video ${videoId}${said ? `: ${said}` : ''}${hint}`,
    details,
  );
}

function connectionError(request: VideoInfoRequest, error: unknown): FramepipeError {
  const { url, serverAddress, timeout, signal } = request;
  if (signal?.aborted) return new AbortError(signal.reason);
  const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
  if (name === 'AbortError' || code === 'ERR_ABORTED') return new AbortError(error);
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new FramepipeError(
      ErrorCode.TIMEOUT,
      `No answer from ${serverAddress} for ${timeout} ms (videos.info): the server is slow or unreachable; ` +
        `check ${addressVariables(request)}, or allow more time with the timeout option`,
      { source: url, cause: error },
    );
  }
  return new FramepipeError(
    ErrorCode.UNREACHABLE,
    `Could not reach Supervisely at ${serverAddress} (${code ?? message ?? String(error)}): ` +
      `check ${addressVariables(request)} and your network`,
    { source: url, cause: error },
  );
}

function addressVariables(request: VideoInfoRequest): string {
  return request.internalAddress ? 'SUPERVISELY_API_SERVER_ADDRESS' : 'SERVER_ADDRESS';
}

/** The explanation in a Supervisely error body (`{ error, details: { message } }`), if there is one. */
function serverMessage(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return '';
  }
  if (parsed === null || typeof parsed !== 'object') return '';
  const { error, message, details } = parsed as { error?: unknown; message?: unknown; details?: unknown };
  const first = Array.isArray(details) ? details[0] : details;
  const detail = first !== null && typeof first === 'object' ? (first as { message?: unknown }).message : undefined;
  const parts = [error, message, detail].filter((part): part is string => typeof part === 'string' && part !== '');
  return [...new Set(parts)].join(' - ').slice(0, 300);
}

function describeBody(body: string, type: string): string {
  return `${type || 'no content type'}, ${body.length} characters${body ? `: ${JSON.stringify(snippet(body, 60))}` : ''}`;
}

function snippet(body: string, length = 300): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 3)}...` : flat;
}
