import http from 'node:http';
import https from 'node:https';
import type { Got, Request as GotRequest } from 'got';

// got loads with the first request: a file source, or a command that makes none, does without it.
let loadingGot: Promise<Got> | undefined;
const loadGot = (): Promise<Got> => (loadingGot ??= import('got').then((module) => module.default));
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
import type { ByteSource } from './byte-source.ts';
import { hideRequestOptions } from './hide-request-options.ts';
import { ByteStream, type ByteStreamOptions } from './byte-stream.ts';
import { ReadAhead, type PlanOptions, type PlannedRange } from './read-ahead.ts';
import { DEFAULT_CACHE_DISK, DEFAULT_CACHE_MEMORY, RangeStore } from './range-store.ts';
import { Spool } from './spool.ts';
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY, PassingFailure, RetryBudget, isPassingNetworkError, isPassingStatus, pauseBeforeRetry, retryTimeLimitFor } from './retry.ts';
import { shownUrl } from './shown-url.ts';

/**
 * Agents for {@link HttpSourceOptions.agent}; a missing one is created with keep-alive by the source.
 *
 * @example
 * const agent = { https: new https.Agent({ keepAlive: true, ca: corporateCa }) };
 * const source = new HttpSource(url, { agent });
 */
export interface HttpAgents {
  /**
   * Agent for `http:` requests.
   * @default a keep-alive agent owned by the source
   */
  http?: http.Agent;
  /**
   * Agent for `https:` requests (a redirect may switch protocol).
   * @default a keep-alive agent owned by the source
   */
  https?: https.Agent;
}

/**
 * Options of {@link HttpSource}.
 *
 * @example
 * const source = new HttpSource('https://cdn.example.com/video.mp4', {
 *   headers: { authorization: `Bearer ${token}` },
 *   timeout: 10_000,
 * });
 */
export interface HttpSourceOptions {
  /**
   * Headers sent with every request (authentication, cookies). `Range` is set by the source and may not be
   * given; `Accept-Encoding` is always `identity`, because byte offsets must refer to the stored bytes.
   * @default {}
   */
  headers?: Record<string, string>;
  /**
   * Milliseconds a connection may stay silent (connecting, waiting for the answer, or between two body chunks)
   * before the read fails with `ERR_FRAMEPIPE_TIMEOUT`.
   * @default 30000
   */
  timeout?: number;
  /**
   * Retries in a row that bring no new byte, of one request after a connection error, a timeout, a body cut
   * short, or a 408, 429 or 5xx answer. Every retry asks only for the bytes that have not arrived yet; a try that
   * brought bytes before it failed starts the count again, so a flaky link that keeps delivering is followed to the
   * end, within 100 tries per request in all and {@link HttpSourceOptions.retryTimeLimit}. A retry waits 0.5 s,
   * doubling with each try in a row without a new byte up to 30 s (or what the server's `Retry-After` asks, up to
   * 60 s). When the retries run out, the read fails with the last failure's code and `error.attempts` lists every
   * try.
   * @default 5
   */
  retries?: number;
  /**
   * Milliseconds one request may go on retrying, counted from its first failure, and again from the failure of any try
   * that delivered 1 MiB or more (a link that breaks now and then but keeps delivering goes on): the first try that
   * fails after that ends the request (a try under way is not stopped), and the message says so. It ends a server that sends a
   * few bytes and then stalls, on every try, which the count of {@link HttpSourceOptions.retries} never would (each
   * try brings a byte) and which would otherwise hold one request for 100 timeouts. The default leaves the default
   * retries their whole course (against a dead server they last at most 8 minutes, the longest `Retry-After` waits
   * included).
   * @default 600000 (10 minutes), or 20 × `timeout` if that is longer
   */
  retryTimeLimit?: number;
  /**
   * Milliseconds before the first retry; each further retry waits twice as long (±20%), at most 30 s.
   * @default 500
   */
  retryDelay?: number;
  /**
   * Bytes fetched by the first request and after every seek. Each sequential miss doubles the block, up to
   * {@link HttpSourceOptions.maxReadAhead}. Small, because most of a video's seeks land where little is read: the
   * header of an MP4 whose index sits at the end, or each fragment's index in a fragmented one (FFmpeg reads 64 KiB
   * at a time there).
   * @default 65536 (64 KiB)
   */
  readAhead?: number;
  /**
   * The largest block one request may fetch for read-ahead (a single read larger than this is still fetched
   * whole). Must be at least `readAhead`.
   * @default 8388608 (8 MiB), or `readAhead` if that is larger
   */
  maxReadAhead?: number;
  /**
   * Agents to send the requests through. Agents given here are left open by {@link HttpSource.close}; the ones
   * the source creates itself (keep-alive) are destroyed by it.
   * @default one keep-alive agent per protocol, owned by the source
   */
  agent?: HttpAgents;
  /**
   * Bytes of the source kept in memory once fetched, so that no reader of this source (every demuxer of a run, the
   * index readers) fetches a byte twice. Beyond it, the least recently used ranges move to a temporary file (see
   * {@link HttpSourceOptions.cacheDisk}); the read-ahead block in flight may exceed it for a moment.
   * @default 67108864 (64 MiB)
   */
  cacheMemory?: number;
  /**
   * Bytes of the source the temporary file of the cache may hold (in `os.tmpdir()`, removed by
   * {@link HttpSource.close}); once it is full, ranges that leave memory are forgotten, and fetched again if read again.
   * 0 keeps nothing on disk.
   * @default 536870912 (512 MiB)
   */
  cacheDisk?: number;
}

/** The option names of {@link HttpSourceOptions}, for callers that forward them (not re-exported). */
export const HTTP_SOURCE_OPTION_KEYS = [
  'headers',
  'timeout',
  'retries',
  'retryTimeLimit',
  'retryDelay',
  'readAhead',
  'maxReadAhead',
  'agent',
  'cacheMemory',
  'cacheDisk',
] as const;

/** Milliseconds a request may go without a byte before it fails (and is retried). */
export const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_READ_AHEAD = 64 * 1024;
const DEFAULT_MAX_READ_AHEAD = 8 * 1024 * 1024;

/**
 * A {@link ByteSource} over HTTP(S): every read is a closed `Range: bytes=a-b` request. Every byte fetched is kept
 * (in memory up to {@link HttpSourceOptions.cacheMemory}, then in a temporary file), so that the readers of one
 * source, such as the demuxers of a run, never fetch a byte twice; only the gaps between the ranges held are
 * fetched, with a read-ahead that grows while the caller reads sequentially, shrinks back on a seek, and stays
 * within the ranges announced by {@link HttpSource.planReads}.
 * Requests are made one at a time over one keep-alive connection; concurrent reads queue.
 *
 * A request that fails in a way that may pass is retried, asking only for the bytes still missing (see
 * {@link HttpSourceOptions.retries}). Every answer must come from the version of the file the first one came from
 * (ETag, Last-Modified, size; `If-Range` is sent), or the read fails with `ERR_FRAMEPIPE_SOURCE_CHANGED`. A server
 * that ignores Range is read through a download spooled to a temporary file, which {@link HttpSource.close} removes.
 *
 * @example
 * const source = new HttpSource('https://cdn.example.com/video.mp4');
 * await source.open();
 * const header = await source.read(0, 64 * 1024);
 * console.log(source.size, source.bytesRead);
 * await source.close();
 */
export class HttpSource implements ByteSource {
  /**
   * The URL as it appears in messages and errors: without `user:password@`, and with the values of query parameters
   * that carry credentials (`X-Amz-Signature`, `token`, `sig`, …) shown as `(hidden)`.
   */
  readonly description: string;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #retryTimeLimit: number;
  readonly #retryDelay: number;
  readonly #readAhead: number;
  readonly #maxReadAhead: number;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #ownedAgents: http.Agent[] = [];
  readonly #closer = new AbortController();
  #size = -1;
  #bytesRead = 0;
  #retriesMade = 0;
  readonly #opening = new SharedAttempt();
  readonly #store: RangeStore;
  readonly #ahead: ReadAhead;
  /** Set once an answer showed another version of the file: every later read fails with it, without a request. */
  #changedError: FramepipeError | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** The validators of the version being read, from the first answer. */
  #version: { etag: string | undefined; lastModified: string | undefined; size: number | null } | undefined;
  /** Set once the server is found to ignore Range: every read is served from the spooled download. */
  #spooling: Promise<Spool> | undefined;
  #download: Promise<void> | undefined;

  constructor(url: string | URL, options?: HttpSourceOptions) {
    this.#url = parseHttpUrl('url', url);
    this.description = shownUrl(this.#url);
    const opts = assertOptionsObject(options, 'HttpSource');
    assertKnownKeys(opts, HTTP_SOURCE_OPTION_KEYS, 'HttpSource');
    this.#headers = checkHeaders(opts.headers) ?? {};
    this.#timeout = checkPositiveNumber('timeout', opts.timeout, true) ?? DEFAULT_TIMEOUT;
    this.#retries = checkInteger('retries', opts.retries, 0, true) ?? DEFAULT_RETRIES;
    this.#retryTimeLimit = checkPositiveNumber('retryTimeLimit', opts.retryTimeLimit, true) ?? retryTimeLimitFor(this.#timeout);
    this.#retryDelay = checkInteger('retryDelay', opts.retryDelay, 0, true) ?? DEFAULT_RETRY_DELAY;
    this.#readAhead = checkInteger('readAhead', opts.readAhead, 1, true) ?? DEFAULT_READ_AHEAD;
    this.#maxReadAhead =
      checkInteger('maxReadAhead', opts.maxReadAhead, this.#readAhead, true) ?? Math.max(DEFAULT_MAX_READ_AHEAD, this.#readAhead);
    this.#ahead = new ReadAhead(this.#readAhead, this.#maxReadAhead);
    this.#store = new RangeStore({
      memory: checkInteger('cacheMemory', opts.cacheMemory, 0, true) ?? DEFAULT_CACHE_MEMORY,
      disk: checkInteger('cacheDisk', opts.cacheDisk, 0, true) ?? DEFAULT_CACHE_DISK,
    });
    const given = checkAgents(opts.agent);
    this.#agents = {
      http: given.http ?? this.#ownAgent(new http.Agent({ keepAlive: true })),
      https: given.https ?? this.#ownAgent(new https.Agent({ keepAlive: true })),
    };
  }

  /** Total size in bytes, from the first answer's `Content-Range`. Throws before {@link HttpSource.open} resolved. */
  get size(): number {
    if (this.#size < 0) throw new Error(`HttpSource.size is known only after open() has resolved (${this.description})`);
    return this.#size;
  }

  /** Retries made so far, over all requests: how flaky the link has been. */
  get retriesMade(): number {
    return this.#retriesMade;
  }

  /** Body bytes received from the server so far, read-ahead included: the network cost of the reads. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * Requests the first block (`bytes=0-<readAhead-1>`), learns the size from its `Content-Range` and keeps the
   * bytes, so the first reads at the start of the file cost nothing more. Idempotent; a failed open may be retried.
   */
  open(signal?: AbortSignal): Promise<void> {
    return this.#opening.run(() => this.#exclusive(signal, () => this.#openNow(signal)));
  }

  /** Reads `length` bytes at `offset` (fewer only at the end, none at or past it). Opens the source if needed. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    checkInteger('offset', offset, 0);
    checkInteger('length', length, 0);
    await this.open(signal);
    const end = Math.min(offset + length, this.#size);
    if (offset >= end) return Buffer.alloc(0);
    if (this.#changedError) throw this.#changedError;
    return this.#exclusive(signal, () => this.#readNow(offset, end, signal));
  }

  /**
   * Tells the source which bytes its reader will need from now on (a demuxer decoding a planned selection: the
   * span of each part's samples): read-ahead then never runs past the end of the range a read starts in, and a read
   * outside every range fetches only what it asks for. Reads are served whatever the plan. A reader with a plan
   * reads forward unless `options.forwardOnly` is false: from then on, ranges behind its last read that leave memory
   * are forgotten rather than written to the temporary file, which would cost a disk write for bytes nobody reads
   * back. An empty list lifts the plan.
   *
   * @example
   * source.planReads([{ start: 1_048_576, end: 3_145_728 }]);
   */
  planReads(ranges: readonly PlannedRange[], options?: PlanOptions): void {
    this.#ahead.plan(ranges);
    this.#store.forwardOnly = ranges.length > 0 && options?.forwardOnly !== false;
  }

  /** Bytes of this source held by its cache: in memory, and in its temporary file. */
  get cached(): { memory: number; disk: number } {
    return { memory: this.#store.memoryBytes, disk: this.#store.diskBytes };
  }

  /**
   * Aborts the request in flight, rejects queued reads, destroys the agents the source created and removes the
   * cache's and the spool's temporary files, if any. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closer.signal.aborted) return;
    this.#closer.abort(new Error(`HttpSource closed (${this.description})`));
    // Reads run one at a time: the one in flight has seen the abort once the queue has settled.
    await this.#queue.catch(() => {});
    await this.#store.close();
    for (const agent of this.#ownedAgents) agent.destroy();
    // A spool still being created removes itself once it sees the source closed.
    const spool = await this.#spooling?.catch(() => undefined);
    await this.#download;
    await spool?.close();
  }

  /**
   * A plain byte stream over this source.
   * @example
   * await pipelinePromise(source.createReadStream({ start: 0, end: 1023 }), writable);
   */
  createReadStream(options?: ByteStreamOptions): ByteStream {
    return new ByteStream(this, options);
  }

  #ownAgent<A extends http.Agent>(agent: A): A {
    this.#ownedAgents.push(agent);
    return agent;
  }

  async #openNow(signal: AbortSignal | undefined): Promise<void> {
    try {
      const first = await this.#fetch(0, this.#readAhead - 1, signal, true);
      this.#size = first.total;
      this.#ahead.fetchedTo(first.data.length);
      if (first.data.length > 0) await this.#store.put(0, first.data);
    } catch (error) {
      if (!(error instanceof RangeIgnored)) throw error;
      this.#size = await (await this.#startSpool()).whenSized(signal);
    }
  }

  /** `end` is exclusive and at most the size. */
  async #readNow(start: number, end: number, signal: AbortSignal | undefined): Promise<Buffer> {
    if (this.#spooling) return (await this.#spooling).read(start, end, signal);
    try {
      return await this.#store.read(start, end, this.#size, async (from, needed, limit) => {
        const to = this.#ahead.fetchEnd(from, needed, limit, start);
        return (await this.#fetch(from, to - 1, signal, false)).data;
      });
    } catch (error) {
      if (!(error instanceof RangeIgnored)) throw error;
      // The server stopped honouring Range (a new front end, a cache): from now on, read from a download.
      return (await this.#startSpool()).read(start, end, signal);
    } finally {
      this.#ahead.readEnded(end);
    }
  }

  /**
   * Bytes `first..last` into one buffer. A failure that may pass (see {@link HttpSourceOptions.retries}) is retried
   * after a pause, asking only for the bytes not received yet. While opening, the size is unknown, so the answer may
   * be shorter than asked (a small file) and a 416 means the file is empty. Throws {@link RangeIgnored} when the
   * server answers with the whole file.
   */
  async #fetch(first: number, last: number, signal: AbortSignal | undefined, opening: boolean): Promise<{ data: Buffer; total: number }> {
    let body: Buffer | undefined;
    let received = 0;
    let total = opening ? -1 : this.#size;
    const budget = new RetryBudget(this.#retries, { timeLimit: this.#retryTimeLimit });
    for (;;) {
      const from = first + received;
      const range = `bytes=${from}-${body ? first + body.length - 1 : last}`;
      let empty = false;
      let responded = false;
      try {
        await this.#exchange(range, signal, {
          response: (response) => {
            responded = true;
            const status = response.statusCode ?? 0;
            if (opening && !body && status === 416) {
              const size = parseUnsatisfiedTotal(response.headers['content-range']);
              if (size !== 0) throw this.#rangeError(`answered 416 to ${range} for a file of ${size ?? 'unknown'} bytes`);
              empty = true;
              return;
            }
            this.#checkStatus(response, range);
            // An empty file served whole: there was nothing to range over.
            if (opening && !body && status === 200 && response.headers['content-length'] === '0') {
              empty = true;
              return;
            }
            if (status === 200) {
              this.#checkUnchanged(response, contentLength(response));
              throw new RangeIgnored(range);
            }
            if (status !== 206) throw this.#rangeError(`answered ${status} instead of 206 to ${range}`);
            const answered = parseContentRange(response.headers['content-range']);
            this.#checkUnchanged(response, answered?.total ?? null);
            const expectedLast = body ? first + body.length - 1 : opening ? Math.min(last, (answered?.total ?? 0) - 1) : last;
            if (!answered || answered.first !== from || answered.last !== expectedLast) {
              throw this.#rangeError(`answered Content-Range: ${response.headers['content-range'] ?? '(none)'} to ${range}`);
            }
            total = answered.total;
            body ??= Buffer.allocUnsafe(answered.last - first + 1);
          },
          data: (chunk) => {
            if (!body) return;
            if (received + chunk.length > body.length) throw this.#rangeError(`sent more than the ${body.length - (from - first)} bytes of ${range}`);
            chunk.copy(body, received);
            received += chunk.length;
          },
        });
        if (empty) return { data: Buffer.alloc(0), total: 0 };
        if (body && received === body.length) return { data: body, total };
        throw this.#cut(range, first + received - from, body ? first + body.length - from : undefined);
      } catch (caught) {
        if (!(caught instanceof PassingFailure)) throw caught;
        const delivered = first + received - from;
        const error = responded && body ? this.#brokenBody(caught, range, delivered, first + body.length - from) : caught;
        const spent = budget.spend(error, delivered);
        if (spent) throw spent;
        await this.#pause(error, budget.withoutProgress, signal, delivered);
      }
    }
  }

  /**
   * Starts (once) the download of the whole file into a spool, for a server that ignores Range. The request that
   * found out is dropped; the download asks again from the first byte.
   */
  #startSpool(): Promise<Spool> {
    // Every read is served from the download from now on: what the cache held is not needed.
    void this.#store.close();
    this.#spooling ??= Spool.create().then(async (spool) => {
      if (this.#closer.signal.aborted) {
        await spool.close();
        throw new AbortError(this.#closer.signal.reason);
      }
      // The size of the version being read: from an earlier 206, or the 200's length if it gave one.
      const size = this.#version?.size;
      if (size !== null && size !== undefined) spool.expectSize(size);
      this.#download = this.#downloadInto(spool);
      return spool;
    });
    return this.#spooling;
  }

  /**
   * Downloads the whole file into the spool, in order. A cut download resumes: with a Range request if the server
   * honours one after all, otherwise by skipping the bytes it already has. Its retry budget restarts whenever a try
   * brings new bytes, since this one request is the whole file.
   */
  async #downloadInto(spool: Spool): Promise<void> {
    const budget = new RetryBudget(this.#retries, { timeLimit: this.#retryTimeLimit });
    const signal = this.#closer.signal;
    while (!signal.aborted) {
      const resumeAt = spool.appended;
      const download = resumeAt > 0 ? `bytes=${resumeAt}-` : 'the whole file';
      let skip = 0;
      let responded = false;
      try {
        await this.#exchange(resumeAt > 0 ? `bytes=${resumeAt}-` : null, undefined, {
          response: (response) => {
            responded = true;
            const status = response.statusCode ?? 0;
            this.#checkStatus(response, `bytes=${resumeAt}-`);
            if (status === 206) {
              const answered = parseContentRange(response.headers['content-range']);
              if (!answered || answered.first !== resumeAt) {
                throw this.#rangeError(`answered Content-Range: ${response.headers['content-range'] ?? '(none)'} to bytes=${resumeAt}-`);
              }
              this.#checkUnchanged(response, answered.total);
              spool.expectSize(answered.total);
            } else if (status === 200) {
              this.#checkUnchanged(response, contentLength(response));
              skip = resumeAt;
            } else {
              throw this.#rangeError(`answered ${status} to a download from byte ${resumeAt}`);
            }
          },
          data: (chunk, request) => {
            let bytes = chunk;
            if (skip > 0) {
              const dropped = Math.min(skip, bytes.length);
              skip -= dropped;
              bytes = bytes.subarray(dropped);
              if (bytes.length === 0) return;
            }
            if (spool.size !== null && spool.appended + bytes.length > spool.size) {
              throw this.#rangeError(`sent more than the ${spool.size} bytes it announced`);
            }
            const drained = spool.append(bytes);
            if (drained) {
              request.pause();
              void drained.then(() => request.resume());
            }
          },
        });
        if (spool.size === null || spool.appended === spool.size) return spool.finish();
        throw this.#cut(download, spool.appended - resumeAt, spool.size - resumeAt);
      } catch (caught) {
        if (!(caught instanceof PassingFailure)) {
          spool.fail(caught as Error);
          return;
        }
        const delivered = spool.appended - resumeAt;
        const promised = spool.size === null ? null : spool.size - resumeAt;
        const error = responded ? this.#brokenBody(caught, download, delivered, promised) : caught;
        const spent = budget.spend(error, delivered);
        if (spent) {
          spool.fail(spent);
          return;
        }
        try {
          await this.#pause(error, budget.withoutProgress, undefined, delivered);
        } catch (aborted) {
          spool.fail(aborted as Error);
          return;
        }
      }
    }
    spool.fail(new AbortError(signal.reason));
  }

  /**
   * One request. `response` sees the status and headers first and may throw to end it; `data` gets each body chunk
   * and may throw too. Resolves when the body has ended (complete or not: the caller counts), rejects with a
   * {@link PassingFailure} for a failure worth retrying.
   */
  async #exchange(range: string | null, signal: AbortSignal | undefined, handle: ExchangeHandlers): Promise<void> {
    const got = await loadGot();
    const combined = signal ? AbortSignal.any([this.#closer.signal, signal]) : this.#closer.signal;
    const headers: Record<string, string> = { ...this.#headers, 'accept-encoding': 'identity' };
    if (range !== null) headers.range = range;
    const ifRange = this.#ifRange();
    if (range !== null && ifRange !== undefined) headers['if-range'] = ifRange;
    return new Promise((resolve, reject) => {
      let request: GotRequest | undefined;
      let settled = false;
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        request?.destroy();
        reject(this.#wrap(error, signal));
      };
      try {
        request = got.stream(this.#url, {
          headers,
          timeout: { socket: this.#timeout },
          retry: { limit: 0 },
          throwHttpErrors: false,
          decompress: false,
          agent: this.#agents,
          signal: combined,
          hooks: { beforeRedirect: [(options) => this.#dropHeadersAcrossOrigins(options)] },
        });
      } catch (error) {
        fail(error);
        return;
      }
      const live = request;
      live.once('response', (response: http.IncomingMessage) => {
        try {
          handle.response(response);
        } catch (error) {
          fail(error);
        }
      });
      live.on('data', (chunk: Buffer) => {
        if (settled) return;
        this.#bytesRead += chunk.length;
        try {
          handle.data(chunk, live);
        } catch (error) {
          fail(error);
        }
      });
      live.once('end', () => {
        if (settled) return;
        settled = true;
        resolve();
      });
      live.once('error', fail);
    });
  }

  /** Lets a success (2xx) through; a status worth retrying becomes a {@link PassingFailure}, any other fails at once. */
  #checkStatus(response: http.IncomingMessage, range: string): void {
    const status = response.statusCode ?? 0;
    if (status < 400) return;
    const reason = response.statusMessage || http.STATUS_CODES[status] || '';
    const error = new FramepipeError(ErrorCode.HTTP_STATUS, `HTTP ${status}${reason ? ` ${reason}` : ''} from ${this.description} (Range: ${range})`, {
      source: this.description,
      status,
    });
    if (isPassingStatus(status)) throw new PassingFailure(error, response.headers['retry-after']);
    throw error;
  }

  /**
   * The first answer's validators are the version this source reads; any later answer must carry the same (each
   * validator is compared only when both answers have it), or bytes of two versions would be mixed.
   */
  #checkUnchanged(response: http.IncomingMessage, total: number | null): void {
    const etag = response.headers.etag;
    const lastModified = response.headers['last-modified'];
    if (!this.#version) {
      this.#version = { etag, lastModified, size: total };
      return;
    }
    this.#version.size ??= total;
    if (etag !== undefined && this.#version.etag !== undefined && etag !== this.#version.etag) {
      this.#changed(`its ETag went from ${this.#version.etag} to ${etag}`);
    }
    if (lastModified !== undefined && this.#version.lastModified !== undefined && lastModified !== this.#version.lastModified) {
      this.#changed(`its Last-Modified went from ${this.#version.lastModified} to ${lastModified}`);
    }
    const size = this.#version.size;
    if (total !== null && size !== null && total !== size) this.#changed(`its size went from ${size} to ${total} bytes`);
  }

  /** The `If-Range` value for the version being read: a strong ETag, else the Last-Modified date, else none. */
  #ifRange(): string | undefined {
    const version = this.#version;
    if (!version) return undefined;
    if (version.etag !== undefined && !version.etag.startsWith('W/')) return version.etag;
    return version.lastModified;
  }

  #changed(what: string): never {
    this.#changedError = new FramepipeError(ErrorCode.SOURCE_CHANGED, `${this.description} changed while it was being read: ${what}`, {
      source: this.description,
    });
    throw this.#changedError;
  }

  /**
   * Waits before the next try: what the server's Retry-After asks, or the backoff for `attempt`, the tries in a row
   * without a new byte (the first wait again after a try that brought `received` bytes).
   */
  #pause(failure: PassingFailure, attempt: number, signal: AbortSignal | undefined, received: number): Promise<void> {
    this.#retriesMade++;
    const combined = signal ? AbortSignal.any([this.#closer.signal, signal]) : this.#closer.signal;
    return pauseBeforeRetry(failure, attempt, this.#retryDelay, combined, this.#retries, received);
  }

  /**
   * A connection that broke inside a body (got says `Content-Length mismatch` or reset) did reach the server: it
   * becomes a body cut after `delivered` bytes. Other failures stay as they are.
   */
  #brokenBody(failure: PassingFailure, range: string, delivered: number, promised: number | null): PassingFailure {
    if (failure.error.code !== ErrorCode.UNREACHABLE) return failure;
    return this.#cut(range, delivered, promised, failure.error.cause);
  }

  /** A body that ended, or whose connection broke, before the bytes it promised: worth another try. */
  #cut(range: string, delivered: number, promised: number | null | undefined, cause?: unknown): PassingFailure {
    const of = promised === null || promised === undefined ? '' : ` of ${promised}`;
    return new PassingFailure(
      new FramepipeError(ErrorCode.UNREACHABLE, `The body of ${range} from ${this.description} was cut after ${delivered}${of} bytes`, {
        source: this.description,
        ...(cause === undefined ? {} : { cause }),
      }),
    );
  }

  /** Runs `task` after every earlier task has settled: one request in flight per source. */
  async #exclusive<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
    const previous = this.#queue;
    const { promise: done, resolve: release } = Promise.withResolvers<void>();
    this.#queue = done;
    try {
      await settledOrAborted(previous, this.#closer.signal, signal);
      return await task();
    } finally {
      // A task whose wait was aborted still holds its place until the one before it has finished.
      void previous.then(release);
    }
  }

  /**
   * got drops `authorization` and cookies on a redirect to another origin, but not other credentials such as an
   * `x-api-key`: a storage server that redirects to a signed URL elsewhere would receive them. Headers given to
   * the source go to its own origin only.
   */
  #dropHeadersAcrossOrigins(options: { url?: string | URL | undefined; headers: Record<string, unknown> }): void {
    const target = options.url === undefined ? null : new URL(options.url);
    if (target === null || target.origin === this.#url.origin) return;
    for (const name of Object.keys(this.#headers)) delete options.headers[name.toLowerCase()];
  }

  #rangeError(what: string): FramepipeError {
    return new FramepipeError(ErrorCode.RANGE_NOT_SUPPORTED, `The server of ${this.description} ${what}`, {
      source: this.description,
    });
  }

  /** What a failed request becomes: an abort, our own error as it is, or a network failure (most worth a retry). */
  #wrap(error: unknown, signal: AbortSignal | undefined): Error {
    if (this.#closer.signal.aborted) return new AbortError(this.#closer.signal.reason);
    if (signal?.aborted) return new AbortError(signal.reason);
    if (error instanceof FramepipeError || error instanceof PassingFailure || error instanceof RangeIgnored) return error;
    hideRequestOptions(error);
    const { name, code, message } = error as { name?: string; code?: string; message?: string };
    if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
      return new PassingFailure(
        new FramepipeError(ErrorCode.TIMEOUT, `No data from ${this.description} for ${this.#timeout} ms`, {
          source: this.description,
          cause: error,
        }),
      );
    }
    // In words where we know the code; the system's own text stays in the cause.
    const what = (code === undefined ? undefined : NETWORK_FAILURES[code]) ?? message ?? String(error);
    const failure = new FramepipeError(ErrorCode.UNREACHABLE, `Could not reach ${this.description}: ${what}`, {
      source: this.description,
      cause: error,
    });
    return isPassingNetworkError(error) ? new PassingFailure(failure) : failure;
  }
}

/** System error codes of a request that could not be made, in words. */
const NETWORK_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused: no server listens at that address and port',
  ENOTFOUND: 'no such host: check the address',
  EAI_AGAIN: 'the host name could not be looked up for now (DNS)',
  ECONNRESET: 'the server closed the connection',
  EHOSTUNREACH: 'no route to the host from this network',
  ENETUNREACH: 'the network is unreachable',
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another host name",
};

/** The callbacks of one request, see `HttpSource#exchange`. */
interface ExchangeHandlers {
  response(response: http.IncomingMessage): void;
  data(chunk: Buffer, request: GotRequest): void;
}

/** The server answered a Range request with the whole file (200): reading goes on from a spooled download. */
class RangeIgnored extends Error {
  constructor(range: string) {
    super(`answered 200 with the whole file to ${range}`);
  }
}

/** The answer's `Content-Length` as a number, or null when absent or not a length. */
function contentLength(response: http.IncomingMessage): number | null {
  const header = response.headers['content-length'];
  const length = Number(header);
  return header !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : null;
}

/** Resolves once `promise` has settled, or rejects with an {@link AbortError} as soon as a signal fires. */
function settledOrAborted(promise: Promise<void>, ...signals: Array<AbortSignal | undefined>): Promise<void> {
  const active = signals.filter((s): s is AbortSignal => s !== undefined);
  const fired = active.find((s) => s.aborted);
  if (fired) return Promise.reject(new AbortError(fired.reason));
  return new Promise((resolve, reject) => {
    const onAbort = (event: Event): void => {
      cleanup();
      reject(new AbortError((event.target as AbortSignal).reason));
    };
    const cleanup = (): void => {
      for (const s of active) s.removeEventListener('abort', onAbort);
    };
    for (const s of active) s.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      cleanup();
      resolve();
    });
  });
}

/** Parses an http: or https: URL given as a string or URL; anything else is an invalid option. */
function parseHttpUrl(option: string, value: unknown): URL {
  let url: URL | undefined;
  if (value instanceof URL) url = new URL(value.href);
  else if (typeof value === 'string' && URL.canParse(value)) url = new URL(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw invalidOption(option, 'an http: or https: URL', value);
  return url;
}

function checkAgents(value: unknown): HttpAgents {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('agent', 'an object { http?, https? } of agents', value);
  }
  assertKnownKeys(value, ['http', 'https'], 'HttpSource agent');
  const { http: httpAgent, https: httpsAgent } = value as Record<string, unknown>;
  if (httpAgent !== undefined && !(httpAgent instanceof http.Agent)) throw invalidOption('agent.http', 'an http.Agent', httpAgent);
  if (httpsAgent !== undefined && !(httpsAgent instanceof https.Agent)) throw invalidOption('agent.https', 'an https.Agent', httpsAgent);
  return value as HttpAgents;
}

/** `bytes a-b/total` → numbers; undefined when absent or malformed (including an unknown total `*`). */
function parseContentRange(header: string | undefined): { first: number; last: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return first <= last && last < total ? { first, last, total } : undefined;
}

/** The size in a 416's `Content-Range: bytes *\/size`; absent means the first byte did not exist, i.e. 0. */
function parseUnsatisfiedTotal(header: string | undefined): number | undefined {
  if (header === undefined) return 0;
  const match = /^bytes \*\/(\d+)$/.exec(header.trim());
  return match ? Number(match[1]) : undefined;
}
