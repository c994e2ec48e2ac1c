import {
  AbortError,
  ErrorCode,
  FramepipeError,
  assertKnownKeys,
  assertOptionsObject,
  checkHeaders,
  checkInteger,
  checkPositiveNumber,
  invalidOption,
  SharedAttempt,
} from '@framepipe/common';
import { HttpSource, type ByteSource } from '@framepipe/http-source';
import { apiKeyHeader } from './api-keys.ts';
import { withOriginOf } from './server-address.ts';
import type { SuperviselyApi } from './supervisely-api.ts';
import type { SuperviselyVideoInfo } from './video-info.ts';

/**
 * Options of {@link SuperviselyVideoSource} ({@link SuperviselyApi.videoSource}).
 *
 * @example
 * const source = api.videoSource(12345, { timeout: 60_000, headers: { 'x-request-id': 'run-7' } });
 */
export interface SuperviselyVideoSourceOptions {
  /**
   * Milliseconds a connection may stay silent, for the `videos.info` call and the reads of the file.
   * @default the API's timeout (30000 unless set)
   */
  timeout?: number | undefined;
  /**
   * Retries of each request (the `videos.info` call, each read of the file) after a failure that may pass; a read
   * resumes at the byte where the body stopped. See `HttpSourceOptions.retries`.
   * @default 5
   */
  retries?: number | undefined;
  /**
   * Extra headers for the reads of the file. `x-api-key` is always the API's token and `Range` is set by the
   * source, so neither may be given.
   * @default {}
   */
  headers?: Record<string, string> | undefined;
  /**
   * Bytes of the file kept in memory once fetched, so that no reader fetches a byte twice. See
   * `HttpSourceOptions.cacheMemory`.
   * @default 67108864 (64 MiB)
   */
  cacheMemory?: number | undefined;
  /**
   * Bytes of the file the cache's temporary file may hold. See `HttpSourceOptions.cacheDisk`.
   * @default 536870912 (512 MiB)
   */
  cacheDisk?: number | undefined;
}

const KNOWN_KEYS = ['timeout', 'retries', 'headers', 'cacheMemory', 'cacheDisk'] as const;

/**
 * The file of a Supervisely video as a {@link ByteSource}: what the demuxer reads. Creating it does no I/O. The
 * first {@link SuperviselyVideoSource.open} (concurrent calls share it) asks the server for the video's
 * `fullStorageUrl`, replaces that URL's scheme, host and port with those of the server address (the host in the
 * answer is the name the server knows its storage by, often unreachable from outside; path and query are kept),
 * and opens an {@link HttpSource} on it that sends `x-api-key` with every range request. Reads and `size` are the
 * HttpSource's.
 *
 * Close it when done: `streamVideoFrames*` of `@framepipe/core` do not close a source they were given.
 *
 * @example
 * const source = api.videoSource(12345);
 * try {
 *   await source.open();
 *   console.log(source.info?.name, source.url, source.size);
 *   const paths = await streamVideoFramesToDir(source, '/tmp/frames', { start: 0, end: 9 });
 * } finally {
 *   await source.close();
 * }
 */
export class SuperviselyVideoSource implements ByteSource {
  /** The connection the video is resolved through. */
  readonly api: SuperviselyApi;
  /** The video id. */
  readonly videoId: number;
  readonly #timeout: number;
  readonly #retries: number | undefined;
  readonly #headers: Record<string, string>;
  /** The cache limits given, for the HttpSource of the file (checked there too). */
  readonly #cache: { cacheMemory?: number; cacheDisk?: number };
  readonly #closer = new AbortController();
  readonly #opening = new SharedAttempt();
  #inner: HttpSource | undefined;
  #opened = false;
  #info: SuperviselyVideoInfo | undefined;
  #url: string | undefined;

  constructor(api: SuperviselyApi, videoId: number, options?: SuperviselyVideoSourceOptions) {
    if (apiKeyHeader(api) === undefined) throw invalidOption('api', 'a SuperviselyApi', api);
    this.videoId = checkVideoId(videoId);
    const opts = assertOptionsObject(options, 'videoSource');
    assertKnownKeys(opts, KNOWN_KEYS, 'videoSource');
    this.#timeout = checkPositiveNumber('timeout', opts.timeout, true) ?? api.timeout;
    this.#retries = checkInteger('retries', opts.retries, 0, true);
    this.#headers = checkHeaders(opts.headers, { 'x-api-key': "the API's token is sent" }) ?? {};
    const cacheMemory = checkInteger('cacheMemory', opts.cacheMemory, 0, true);
    const cacheDisk = checkInteger('cacheDisk', opts.cacheDisk, 0, true);
    this.#cache = { ...(cacheMemory === undefined ? {} : { cacheMemory }), ...(cacheDisk === undefined ? {} : { cacheDisk }) };
    this.api = api;
  }

  /** `supervisely video <id> on <server>` before open, `supervisely video <id> at <file URL>` once resolved. */
  get description(): string {
    return this.#url === undefined
      ? `supervisely video ${this.videoId} on ${this.api.serverAddress}`
      : `supervisely video ${this.videoId} at ${this.#url}`;
  }

  /** The server's answer for the video; undefined until resolved by {@link SuperviselyVideoSource.open}. */
  get info(): SuperviselyVideoInfo | undefined {
    return this.#info;
  }

  /** The URL the file is read from (the storage URL on the server address); undefined until resolved. */
  get url(): string | undefined {
    return this.#url;
  }

  /** Size of the file in bytes. Throws before {@link SuperviselyVideoSource.open} has resolved. */
  get size(): number {
    if (!this.#opened || !this.#inner) throw new Error(`SuperviselyVideoSource.size is known only after open() has resolved (${this.description})`);
    return this.#inner.size;
  }

  /** Body bytes received from the storage so far. */
  get bytesRead(): number {
    return this.#inner?.bytesRead ?? 0;
  }

  /**
   * Resolves the video (`videos.info`) and opens its file. Idempotent: concurrent calls share one attempt; a failed
   * attempt may be retried.
   *
   * @throws FramepipeError: those of {@link SuperviselyApi.videoInfo}, `ERR_FRAMEPIPE_VIDEO_NOT_READY` when the
   * answer has no `fullStorageUrl`, and those of {@link HttpSource.open} for the file.
   */
  open(signal?: AbortSignal): Promise<void> {
    if (this.#closer.signal.aborted) return Promise.reject(new AbortError(this.#closer.signal.reason));
    return this.#opening.run(() => this.#openNow(signal));
  }

  /** Reads `length` bytes at `offset` (fewer only at the end, none at or past it). Opens the source if needed. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    checkInteger('offset', offset, 0);
    checkInteger('length', length, 0);
    await this.open(signal);
    // HttpSource hides the request headers (the key) on the errors it raises.
    return this.#inner!.read(offset, length, signal);
  }

  /** Retries made by the reads of the file so far (the `videos.info` call's are not counted). */
  get retriesMade(): number {
    return this.#inner?.retriesMade ?? 0;
  }

  /** Stops a resolution in flight and closes the file's connections. Idempotent; fine before open. */
  async close(): Promise<void> {
    if (!this.#closer.signal.aborted) this.#closer.abort(new Error(`SuperviselyVideoSource closed (${this.description})`));
    await this.#inner?.close();
  }

  async #openNow(signal: AbortSignal | undefined): Promise<void> {
    if (!this.#inner) {
      const combined = signal ? AbortSignal.any([signal, this.#closer.signal]) : this.#closer.signal;
      const retries = this.#retries === undefined ? {} : { retries: this.#retries };
      const info = await this.api.videoInfo(this.videoId, { signal: combined, timeout: this.#timeout, ...retries });
      const url = withOriginOf(this.#storageUrl(info), this.api.serverAddress);
      const inner = new HttpSource(url, { headers: { ...this.#headers, ...apiKeyHeader(this.api) }, timeout: this.#timeout, ...retries, ...this.#cache });
      if (this.#closer.signal.aborted) {
        await inner.close();
        throw new AbortError(this.#closer.signal.reason);
      }
      this.#info = info;
      this.#url = url;
      this.#inner = inner;
    }
    await this.#inner.open(signal);
    this.#opened = true;
  }

  #storageUrl(info: SuperviselyVideoInfo): string {
    const source = `${this.api.apiServerAddress}/v3/videos.info`;
    const storage = info.fullStorageUrl;
    const name = typeof info.name === 'string' ? ` (${JSON.stringify(info.name)})` : '';
    if (storage === undefined || storage === null || storage === '') {
      throw new FramepipeError(
        ErrorCode.VIDEO_NOT_READY,
        `Video ${this.videoId}${name} on ${this.api.serverAddress} has no stored file yet (its description has no fullStorageUrl): ` +
          `it is still being uploaded or processed. Try again once it plays in Supervisely`,
        { source },
      );
    }
    if (typeof storage !== 'string' || !/^https?:\/\//i.test(storage) || !URL.canParse(storage)) {
      throw new FramepipeError(
        ErrorCode.INVALID_DATA,
        `Video ${this.videoId}${name} on ${this.api.serverAddress} has a fullStorageUrl that is not an http(s) URL: ${JSON.stringify(storage)}`,
        { source },
      );
    }
    return storage;
  }
}

/** A positive integer, as Supervisely ids are; else an InvalidOptionError named `videoId`. */
export function checkVideoId(videoId: unknown): number {
  return checkInteger('videoId', videoId, 1);
}

