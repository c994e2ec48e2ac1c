import http from 'node:http';
import https from 'node:https';
import got, { type Request as GotRequest } from 'got';
import {
  AbortError,
  ErrorCode,
  FramepipeError,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  checkPositiveNumber,
  invalidOption,
  SharedAttempt,
} from '@framepipe/common';
import type { ByteSource } from './byte-source.ts';
import { hideRequestOptions } from './hide-request-options.ts';
import { ByteStream, type ByteStreamOptions } from './byte-stream.ts';

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
   * Retries of one request after a connection error, a timeout, a body shorter than promised, or a 408, 429 or
   * 5xx answer. A retry waits 0.5 s, doubling each time up to 30 s (or what the server's `Retry-After` asks, up to
   * 60 s), then asks only for the bytes that have not arrived yet. When the retries run out, the read fails with
   * the last failure's code and `error.attempts` lists every try.
   * @default 5
   */
  retries?: number;
  /**
   * Bytes fetched by the first request and after every seek. Each sequential miss doubles the block, up to
   * {@link HttpSourceOptions.maxReadAhead}.
   * @default 262144 (256 KiB)
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
}

/** The option names of {@link HttpSourceOptions}, for callers that forward them (not re-exported). */
export const HTTP_SOURCE_OPTION_KEYS = ['headers', 'timeout', 'retries', 'readAhead', 'maxReadAhead', 'agent'] as const;

const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_READ_AHEAD = 256 * 1024;
const DEFAULT_MAX_READ_AHEAD = 8 * 1024 * 1024;

/**
 * A {@link ByteSource} over HTTP(S): every read is a closed `Range: bytes=a-b` request, served through a
 * one-block read-ahead cache that grows while the caller reads sequentially and shrinks back on a seek.
 * Requests are made one at a time over one keep-alive connection; concurrent reads queue.
 *
 * @example
 * const source = new HttpSource('https://cdn.example.com/video.mp4');
 * await source.open();
 * const header = await source.read(0, 64 * 1024);
 * console.log(source.size, source.bytesRead);
 * await source.close();
 */
export class HttpSource implements ByteSource {
  /** The URL with any `user:password@` removed, as it appears in messages and errors. */
  readonly description: string;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #readAhead: number;
  readonly #maxReadAhead: number;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #ownedAgents: http.Agent[] = [];
  readonly #closer = new AbortController();
  #size = -1;
  #bytesRead = 0;
  readonly #opening = new SharedAttempt();
  #cache: { offset: number; data: Buffer } | undefined;
  #blockSize: number;
  #lastEnd = -1;
  #queue: Promise<void> = Promise.resolve();

  constructor(url: string | URL, options?: HttpSourceOptions) {
    this.#url = parseHttpUrl('url', url);
    this.description = withoutCredentials(this.#url);
    const opts = assertOptionsObject(options, 'HttpSource');
    assertKnownKeys(opts, HTTP_SOURCE_OPTION_KEYS, 'HttpSource');
    this.#headers = checkHeaders(opts.headers);
    this.#timeout = checkPositiveNumber('timeout', opts.timeout, true) ?? DEFAULT_TIMEOUT;
    this.#retries = checkInteger('retries', opts.retries, 0, true) ?? DEFAULT_RETRIES;
    this.#readAhead = checkInteger('readAhead', opts.readAhead, 1, true) ?? DEFAULT_READ_AHEAD;
    this.#maxReadAhead =
      checkInteger('maxReadAhead', opts.maxReadAhead, this.#readAhead, true) ?? Math.max(DEFAULT_MAX_READ_AHEAD, this.#readAhead);
    this.#blockSize = this.#readAhead;
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

  /** Retries allowed for each request (the `retries` option). */
  get retries(): number {
    return this.#retries;
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
    return this.#exclusive(signal, () => this.#readNow(offset, end, signal));
  }

  /** Aborts the request in flight, rejects queued reads and destroys the agents the source created. Idempotent. */
  async close(): Promise<void> {
    if (this.#closer.signal.aborted) return;
    this.#closer.abort(new Error(`HttpSource closed (${this.description})`));
    this.#cache = undefined;
    for (const agent of this.#ownedAgents) agent.destroy();
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
    const first = await this.#fetch(0, this.#readAhead - 1, signal, true);
    this.#size = first.total;
    if (first.data.length > 0) this.#cache = { offset: 0, data: first.data };
  }

  /** `end` is exclusive and at most the size. */
  async #readNow(start: number, end: number, signal: AbortSignal | undefined): Promise<Buffer> {
    const cache = this.#cache;
    const cacheEnd = cache ? cache.offset + cache.data.length : -1;
    const startsInCache = cache !== undefined && start >= cache.offset && start < cacheEnd;
    if (startsInCache && end <= cacheEnd) {
      this.#lastEnd = end;
      return Buffer.from(cache.data.subarray(start - cache.offset, end - cache.offset));
    }
    const head = startsInCache ? cache.data.subarray(start - cache.offset) : undefined;
    const from = startsInCache ? cacheEnd : start;
    const sequential = startsInCache || start === this.#lastEnd;
    this.#blockSize = sequential ? Math.min(this.#blockSize * 2, this.#maxReadAhead) : this.#readAhead;
    const to = Math.min(this.#size, Math.max(end, from + this.#blockSize));
    const { data } = await this.#fetch(from, to - 1, signal, false);
    this.#cache = { offset: from, data };
    this.#lastEnd = end;
    const tail = data.subarray(0, end - from);
    return head ? Buffer.concat([head, tail]) : Buffer.from(tail);
  }

  /**
   * One closed-range request for bytes `first..last`. While opening, the size is unknown, so the answer may be
   * shorter than asked (a small file) and a 416 means the file is empty.
   */
  #fetch(first: number, last: number, signal: AbortSignal | undefined, opening: boolean): Promise<{ data: Buffer; total: number }> {
    const range = `bytes=${first}-${last}`;
    const combined = signal ? AbortSignal.any([this.#closer.signal, signal]) : this.#closer.signal;
    return new Promise((resolve, reject) => {
      let request: GotRequest | undefined;
      let settled = false;
      let body: Buffer | undefined;
      let total = 0;
      let received = 0;
      const fail = (error: FramepipeError): void => {
        if (settled) return;
        settled = true;
        request?.destroy();
        reject(error);
      };
      const succeed = (data: Buffer): void => {
        if (settled) return;
        settled = true;
        resolve({ data, total });
      };
      try {
        request = got.stream(this.#url, {
          headers: { ...this.#headers, range, 'accept-encoding': 'identity' },
          timeout: { socket: this.#timeout },
          retry: { limit: 0 },
          throwHttpErrors: false,
          decompress: false,
          agent: this.#agents,
          signal: combined,
          hooks: { beforeRedirect: [(options) => this.#dropHeadersAcrossOrigins(options)] },
        });
      } catch (error) {
        fail(this.#wrap(error, signal));
        return;
      }
      request.once('response', (response: http.IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (opening && status === 416) {
          const size = parseUnsatisfiedTotal(response.headers['content-range']);
          if (size === 0) return succeed(Buffer.alloc(0));
          return fail(this.#rangeError(`answered 416 to ${range} for a file of ${size ?? 'unknown'} bytes`));
        }
        if (status >= 400) {
          const reason = response.statusMessage || http.STATUS_CODES[status] || '';
          return fail(
            new FramepipeError(ErrorCode.HTTP_STATUS, `HTTP ${status}${reason ? ` ${reason}` : ''} from ${this.description} (Range: ${range})`, {
              source: this.description,
              status,
            }),
          );
        }
        // An empty file served whole: there was nothing to range over.
        if (opening && status === 200 && response.headers['content-length'] === '0') return succeed(Buffer.alloc(0));
        if (status === 200) return fail(this.#rangeError(`ignored the Range header (answered 200 instead of 206 to ${range})`));
        if (status !== 206) return fail(this.#rangeError(`answered ${status} instead of 206 to ${range}`));
        const answered = parseContentRange(response.headers['content-range']);
        const expectedLast = opening ? Math.min(last, (answered?.total ?? 0) - 1) : last;
        const expectedTotal = opening ? answered?.total : this.#size;
        if (!answered || answered.first !== first || answered.last !== expectedLast || answered.total !== expectedTotal) {
          return fail(this.#rangeError(`answered Content-Range: ${response.headers['content-range'] ?? '(none)'} to ${range}`));
        }
        total = answered.total;
        body = Buffer.allocUnsafe(answered.last - answered.first + 1);
      });
      request.on('data', (chunk: Buffer) => {
        if (settled || !body) return;
        this.#bytesRead += chunk.length;
        if (received + chunk.length > body.length) {
          return fail(this.#rangeError(`sent more than the ${body.length} bytes of ${range}`));
        }
        chunk.copy(body, received);
        received += chunk.length;
      });
      request.once('end', () => {
        if (settled || !body) return;
        if (received !== body.length) {
          return fail(
            new FramepipeError(ErrorCode.UNREACHABLE, `Connection to ${this.description} ended after ${received} of ${body.length} bytes (${range})`, {
              source: this.description,
            }),
          );
        }
        succeed(body);
      });
      request.once('error', (error: unknown) => fail(this.#wrap(error, signal)));
    });
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

  #wrap(error: unknown, signal: AbortSignal | undefined): FramepipeError {
    if (this.#closer.signal.aborted) return new AbortError(this.#closer.signal.reason);
    if (signal?.aborted) return new AbortError(signal.reason);
    if (error instanceof FramepipeError) return error;
    hideRequestOptions(error);
    const { name, code, message } = error as { name?: string; code?: string; message?: string };
    if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
      return new FramepipeError(ErrorCode.TIMEOUT, `No data from ${this.description} for ${this.#timeout} ms`, {
        source: this.description,
        cause: error,
      });
    }
    return new FramepipeError(ErrorCode.UNREACHABLE, `Could not reach ${this.description}: ${message ?? String(error)}`, {
      source: this.description,
      cause: error,
    });
  }
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

function withoutCredentials(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function checkHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('headers', 'an object of header names to strings', value);
  }
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    if (typeof header !== 'string') throw invalidOption(`headers.${name}`, 'a string', header);
    const lower = name.toLowerCase();
    if (lower === 'range') throw invalidOption(`headers.${name}`, 'no Range header (the source sets it on every request)', header);
    headers[lower] = header;
  }
  return headers;
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
