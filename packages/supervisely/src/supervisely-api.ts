import os from 'node:os';
import { inspect, type InspectOptions } from 'node:util';
import {
  checkInteger,
  InvalidOptionError,
  assertKnownKeys,
  assertOptionsObject,
  checkPositiveNumber,
  checkSignal,
  invalidOption,
} from '@framepipe/common';
import { apiKeyHeader, rememberToken } from './api-keys.ts';
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY } from '@framepipe/http-source';
import { ENV, findCredentials, type Found } from './credentials.ts';
import { normalizeServerAddress } from './server-address.ts';
import { SuperviselyVideoSource, checkVideoId, type SuperviselyVideoSourceOptions } from './supervisely-video-source.ts';
import { fetchVideoInfo, type SuperviselyVideoInfo } from './video-info.ts';
import { fetchDatasetVideos } from './dataset-videos.ts';
import type { ApiConnection } from './api-call.ts';

/**
 * Options of {@link SuperviselyApi}.
 *
 * @example
 * const api = new SuperviselyApi({ serverAddress: 'https://app.supervisely.com', token: process.env.API_TOKEN! });
 */
export interface SuperviselyApiOptions {
  /**
   * The address of the Supervisely instance, as you open it in a browser (`SERVER_ADDRESS`). Normalized as the
   * SDK does: surrounding slashes are dropped, and an address without a scheme (`host:port`) gets `http://`.
   */
  serverAddress: string;
  /** The API token (`API_TOKEN`): Account settings > API token in Supervisely. Never shown in messages or logs. */
  token: string;
  /**
   * Where API calls go instead of `<serverAddress>/public/api` (`SUPERVISELY_API_SERVER_ADDRESS`): an internal
   * address of the API service, as apps running inside a Supervisely instance get. Calls are then
   * `POST <apiServerAddress>/v3/<method>`, as in the SDK. Normalized like `serverAddress`.
   * @default `${serverAddress}/public/api`
   */
  apiServerAddress?: string | undefined;
  /**
   * Milliseconds a connection may stay silent before a request fails with `ERR_FRAMEPIPE_TIMEOUT`: for the
   * `videos.info` call and for the reads of the video's file.
   * @default 30000
   */
  timeout?: number | undefined;
}

/**
 * Options of {@link SuperviselyApi.fromEnv}: any value given here wins over the environment and the env files.
 *
 * @example
 * // Tests and tools can point the lookup elsewhere and keep the real environment out of it:
 * const api = SuperviselyApi.fromEnv({ env: {}, homeDir: '/tmp/home', cwd: '/tmp/project' });
 */
export interface SuperviselyFromEnvOptions {
  /**
   * The server address; wins over `SERVER_ADDRESS`.
   * @default `SERVER_ADDRESS`, found as described in {@link SuperviselyApi.fromEnv}
   */
  serverAddress?: string | undefined;
  /**
   * The API token; wins over `API_TOKEN`.
   * @default `API_TOKEN`, found as described in {@link SuperviselyApi.fromEnv}
   */
  token?: string | undefined;
  /**
   * The internal API address; wins over `SUPERVISELY_API_SERVER_ADDRESS`.
   * @default `SUPERVISELY_API_SERVER_ADDRESS` if set, else `${serverAddress}/public/api`
   */
  apiServerAddress?: string | undefined;
  /**
   * The environment to read. Never modified.
   * @default process.env
   */
  env?: Record<string, string | undefined> | undefined;
  /**
   * The directory holding `supervisely.env`.
   * @default os.homedir()
   */
  homeDir?: string | undefined;
  /**
   * The directory holding `local.env`.
   * @default process.cwd()
   */
  cwd?: string | undefined;
  /**
   * See {@link SuperviselyApiOptions.timeout}.
   * @default 30000
   */
  timeout?: number | undefined;
}

/** Options of {@link SuperviselyApi.videoInfo}. */
export interface VideoInfoOptions {
  /** Aborts the request (`ERR_FRAMEPIPE_ABORTED`). */
  signal?: AbortSignal | undefined;
  /**
   * Overrides the API's {@link SuperviselyApi.timeout} for this call.
   * @default the API's timeout
   */
  timeout?: number | undefined;
  /**
   * Retries after a broken connection, a timeout or a 408/429/5xx answer, waiting `retryDelay` ms doubled per try
   * (or the server's `Retry-After`). The error after the last try lists every try in `error.attempts`.
   * @default 5
   */
  retries?: number | undefined;
  /**
   * Milliseconds before the first retry.
   * @default 500
   */
  retryDelay?: number | undefined;
}

/** Options of {@link SuperviselyApi.listDatasetVideos}: those of a `videoInfo` call, for each page, and the page size. */
export interface DatasetVideosOptions extends VideoInfoOptions {
  /**
   * Videos asked for per page.
   * @default the server's page size
   */
  perPage?: number | undefined;
}

const API_KEYS = ['serverAddress', 'token', 'apiServerAddress', 'timeout'] as const;
const FROM_ENV_KEYS = [...API_KEYS, 'env', 'homeDir', 'cwd'] as const;
const INFO_KEYS = ['signal', 'timeout', 'retries', 'retryDelay'] as const;
const LIST_KEYS = [...INFO_KEYS, 'perPage'] as const;
const DEFAULT_TIMEOUT = 30_000;

/**
 * A connection to a Supervisely instance: its address and an API token, as the Python SDK's `sly.Api`. It makes
 * no request when created; {@link SuperviselyApi.videoInfo}, {@link SuperviselyApi.listDatasetVideos} and
 * {@link SuperviselyApi.videoSource} do.
 *
 * The token is kept outside the object: it does not show in `util.inspect`, `JSON.stringify`, `toString` or any
 * error message.
 *
 * @example
 * const api = SuperviselyApi.fromEnv(); // SERVER_ADDRESS and API_TOKEN: environment, ./local.env, ~/supervisely.env
 * const info = await api.videoInfo(12345);
 * console.log(info.name, info.fileMeta?.framesCount);
 */
export class SuperviselyApi {
  /** The normalized server address, e.g. `https://app.supervisely.com`. */
  readonly serverAddress: string;
  /** The normalized base of API calls: `<serverAddress>/public/api`, or the internal address if one was given. */
  readonly apiServerAddress: string;
  /** Milliseconds of silence before a request fails. */
  readonly timeout: number;
  readonly #internal: boolean;

  constructor(options: SuperviselyApiOptions) {
    if (options === undefined) throw invalidOption('SuperviselyApi options', 'an object { serverAddress, token }', options);
    const opts = assertOptionsObject(options, 'SuperviselyApi');
    assertKnownKeys(opts, API_KEYS, 'SuperviselyApi');
    this.serverAddress = normalizeServerAddress(opts.serverAddress, 'serverAddress');
    const token = checkToken(opts.token);
    const given = opts.apiServerAddress;
    this.#internal = given !== undefined && !(typeof given === 'string' && given.trim() === '');
    this.apiServerAddress = this.#internal
      ? normalizeServerAddress(given, 'apiServerAddress')
      : `${this.serverAddress}/public/api`;
    this.timeout = checkPositiveNumber('timeout', opts.timeout, true) ?? DEFAULT_TIMEOUT;
    rememberToken(this, token);
  }

  /**
   * The SDK's `Api.normalize_server_address`: drops surrounding slashes (and whitespace) and puts `http://` in
   * front of an address without a scheme.
   *
   * @example
   * SuperviselyApi.normalizeServerAddress('localhost:8080/'); // 'http://localhost:8080'
   */
  static normalizeServerAddress(address: string): string {
    return normalizeServerAddress(address, 'address');
  }

  /**
   * An API from the environment, as the SDK's `Api.from_env()` after the tutorial's `load_dotenv` calls. Reads
   * `SERVER_ADDRESS`, `API_TOKEN` and `SUPERVISELY_API_SERVER_ADDRESS`; for each, the first non-empty value wins:
   * 1. the option of the same meaning (`serverAddress`, `token`, `apiServerAddress`);
   * 2. the environment (`env`, by default `process.env`, which is never modified);
   * 3. `<cwd>/local.env`;
   * 4. `<homeDir>/supervisely.env`.
   *
   * Missing files are skipped; the files are parsed with `util.parseEnv` (`KEY=value` lines, `#` comments, quotes).
   *
   * @throws FramepipeError `ERR_FRAMEPIPE_MISSING_CREDENTIALS` when no address or no token is found; the message
   * names the variable and every place looked in.
   *
   * @example
   * const api = SuperviselyApi.fromEnv({ token: process.env.MY_TOKEN });
   */
  static fromEnv(options?: SuperviselyFromEnvOptions): SuperviselyApi {
    const opts = assertOptionsObject(options, 'SuperviselyApi.fromEnv');
    assertKnownKeys(opts, FROM_ENV_KEYS, 'SuperviselyApi.fromEnv');
    const explicit = {
      serverAddress: optionalString('serverAddress', opts.serverAddress),
      token: optionalString('token', opts.token),
      apiServerAddress: optionalString('apiServerAddress', opts.apiServerAddress),
    };
    const env = checkEnv(opts.env) ?? process.env;
    const homeDir = optionalPath('homeDir', opts.homeDir) ?? os.homedir();
    const cwd = optionalPath('cwd', opts.cwd) ?? process.cwd();
    const timeout = checkPositiveNumber('timeout', opts.timeout, true);
    const found = findCredentials({ explicit, env, homeDir, cwd });
    return withOrigin(
      () =>
        new SuperviselyApi({
          serverAddress: found.serverAddress.value,
          token: found.token.value,
          ...(found.apiServerAddress ? { apiServerAddress: found.apiServerAddress.value } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
        }),
      found,
    );
  }

  /**
   * The server's description of a video: `POST <apiServerAddress>/v3/videos.info` with
   * `{ id, forceMetadataForLinks: false }` and the `x-api-key` header, as the SDK's
   * `api.video.get_json_info_by_id(id, force_metadata_for_links=False)`. Failures that may pass are retried (see
   * {@link VideoInfoOptions.retries}).
   *
   * @throws FramepipeError, with `source` = the API URL and the error underneath as `cause`:
   * `ERR_FRAMEPIPE_AUTH_FAILED` (401/403: wrong or expired token), `ERR_FRAMEPIPE_VIDEO_NOT_FOUND` (404),
   * `ERR_FRAMEPIPE_UNREACHABLE`, `ERR_FRAMEPIPE_TIMEOUT`, `ERR_FRAMEPIPE_HTTP_STATUS` (any other status, or a
   * redirect), `ERR_FRAMEPIPE_INVALID_DATA` (an answer that is not a JSON video description),
   * `ERR_FRAMEPIPE_ABORTED`; `ERR_FRAMEPIPE_INVALID_OPTION` for an id that is not a positive integer or a bad
   * option, before any request.
   *
   * @example
   * const { name, fullStorageUrl, fileMeta } = await api.videoInfo(12345, { signal: AbortSignal.timeout(10_000) });
   */
  async videoInfo(videoId: number, options?: VideoInfoOptions): Promise<SuperviselyVideoInfo> {
    checkVideoId(videoId);
    return await fetchVideoInfo({ videoId, url: `${this.apiServerAddress}/v3/videos.info`, ...this.#connection(options, INFO_KEYS, 'videoInfo') });
  }

  /**
   * Every video of a dataset, by id ascending: `POST <apiServerAddress>/v3/videos.list` page after page, as the SDK's
   * `api.video.get_list(dataset_id)`. The first page is the server's size unless `perPage` is given; the next ones
   * are asked for with the size the server answered. Each video is described as by {@link SuperviselyApi.videoInfo}.
   * Failures that may pass are retried, each page on its own.
   *
   * @throws FramepipeError, with `source` = the API URL: `ERR_FRAMEPIPE_AUTH_FAILED` (401/403),
   * `ERR_FRAMEPIPE_HTTP_STATUS` (status 404 for a dataset the token does not see, or any other status),
   * `ERR_FRAMEPIPE_INVALID_DATA` (an answer that is not a page of videos, or pages that add up to another count than
   * the server's `total`), `ERR_FRAMEPIPE_UNREACHABLE`, `ERR_FRAMEPIPE_TIMEOUT`, `ERR_FRAMEPIPE_ABORTED`;
   * `ERR_FRAMEPIPE_INVALID_OPTION` for an id that is not a positive integer or a bad option, before any request.
   *
   * @example
   * const videos = await api.listDatasetVideos(55846);
   * const summary = await runBatch(videos.map(({ id }) => ({ videoId: id })), { out: '/tmp/frames', api });
   */
  async listDatasetVideos(datasetId: number, options?: DatasetVideosOptions): Promise<SuperviselyVideoInfo[]> {
    checkInteger('datasetId', datasetId, 1);
    const perPage = checkInteger('perPage', (options as DatasetVideosOptions | undefined)?.perPage, 1, true);
    const connection = this.#connection(options, LIST_KEYS, 'listDatasetVideos');
    return await fetchDatasetVideos({ datasetId, url: `${this.apiServerAddress}/v3/videos.list`, perPage, ...connection });
  }

  /** How a call reaches the server, from its options (checked against `keys`). */
  #connection(options: VideoInfoOptions | undefined, keys: readonly string[], where: string): ApiConnection {
    const opts = assertOptionsObject(options, where);
    assertKnownKeys(opts, keys, where);
    return {
      serverAddress: this.#internal ? this.apiServerAddress : this.serverAddress,
      internalAddress: this.#internal,
      headers: apiKeyHeader(this) ?? {},
      timeout: checkPositiveNumber('timeout', opts.timeout, true) ?? this.timeout,
      retries: checkInteger('retries', opts.retries, 0, true) ?? DEFAULT_RETRIES,
      retryDelay: checkInteger('retryDelay', opts.retryDelay, 0, true) ?? DEFAULT_RETRY_DELAY,
      signal: checkSignal('signal', opts.signal),
    };
  }

  /**
   * A {@link ByteSource} over the file of a video, for the framepipe stages or your own pipeline. Nothing is
   * requested until it is opened; then it resolves the video with {@link SuperviselyApi.videoInfo} and reads
   * `fullStorageUrl` with the scheme, host and port of {@link SuperviselyApi.serverAddress}.
   *
   * @throws InvalidOptionError at once for an id that is not a positive integer, or a bad option.
   *
   * @example
   * const source = api.videoSource(12345);
   * try {
   *   console.log(await probeVideo(source));
   * } finally {
   *   await source.close();
   * }
   */
  videoSource(videoId: number, options?: SuperviselyVideoSourceOptions): SuperviselyVideoSource {
    return new SuperviselyVideoSource(this, videoId, options);
  }

  /** `SuperviselyApi(<serverAddress>)`: no token. */
  toString(): string {
    return `SuperviselyApi(${this.serverAddress})`;
  }

  /** The public fields only; the token is not one of them. */
  toJSON(): { serverAddress: string; apiServerAddress: string; timeout: number } {
    return { serverAddress: this.serverAddress, apiServerAddress: this.apiServerAddress, timeout: this.timeout };
  }

  [inspect.custom](_depth: number, options: InspectOptions): string {
    return `SuperviselyApi ${inspect({ ...this.toJSON(), token: '(hidden)' }, options)}`;
  }
}

function checkToken(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidOption('token', 'a non-empty string', value);
  const token = value.trim();
  // A token travels in a header; a character that cannot is a paste error. The value itself is never shown.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidOptionError(
      'token',
      `Expected a token of printable ASCII characters without spaces for token but received a string of ${token.length} characters (not shown) of type string`,
    );
  }
  return token;
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidOption(option, 'a string', value);
  return value;
}

function optionalPath(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidOption(option, 'a non-empty path', value);
  return value;
}

function checkEnv(value: unknown): Record<string, string | undefined> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('env', 'an object of environment variables', value);
  }
  return value as Record<string, string | undefined>;
}

/** Runs `make`; an invalid address found in a file or variable is reported with where it was found. */
function withOrigin<T>(make: () => T, found: { serverAddress: Found; apiServerAddress: Found | undefined }): T {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof InvalidOptionError) || (error.option !== 'serverAddress' && error.option !== 'apiServerAddress')) throw error;
    const origin = error.option === 'serverAddress' ? found.serverAddress.from : found.apiServerAddress?.from;
    if (!origin || origin.startsWith('the ')) throw error;
    const variable = error.option === 'serverAddress' ? ENV.serverAddress : ENV.apiServerAddress;
    throw new InvalidOptionError(error.option, `${error.message} (${origin}; fix ${variable} there)`);
  }
}
