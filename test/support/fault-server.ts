/**
 * A loopback HTTP server for reliability tests. It serves files with single-range support and validators (206,
 * `Content-Range`, `Accept-Ranges`, `ETag`, `Last-Modified`, `If-Range`, 416), and misbehaves by a seeded plan:
 * it cuts bodies, answers 500/503 (with or without `Retry-After`), stalls, sends short bodies, ignores Range and
 * changes the file between requests. Whether request `n` gets a fault, and which, depends only on the seed and `n`,
 * so a failing case is replayed by its seed. Every request is recorded with the fault it got, for assertions on
 * what the client asked next (the resume offset, the wait after `Retry-After`).
 *
 * @example
 * const server = await startFaultServer({ files: { '/video.mp4': path }, plan: { seed: 7, failures: { cut: 0.3 }, maxConsecutive: 3 } });
 * try {
 *   await streamVideoFramesToDir({ url: server.url('/video.mp4'), timeout: 400, retryDelay: 10 }, dir);
 *   console.log(server.faults, server.requests);
 * } finally {
 *   await server.close();
 * }
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { listenOnLoopback, parseRange, seededRandom } from './range-server.ts';

/** What the server can do wrong to one request. */
export type FaultKind = 'cut' | 'status' | 'stall' | 'short' | 'ignore-range' | 'change';

export const FAULT_KINDS: readonly FaultKind[] = ['cut', 'status', 'stall', 'short', 'ignore-range', 'change'];

/** The faults that make a request fail, so that the client has to try again. */
export type FailureKind = 'cut' | 'status' | 'stall' | 'short';

export const FAILURE_KINDS: readonly FailureKind[] = ['cut', 'status', 'stall', 'short'];

/** A `Retry-After` to send with a status fault: none, a number of seconds, or an HTTP date that many seconds ahead. */
export type RetryAfter = null | number | { readonly dateIn: number };

/** Which faults the server injects, and how often. Without a plan (or with no rates) it is a correct server. */
export interface FaultPlan {
  /** Seed of the decisions: request `n` draws from a generator seeded by `seed` and `n` alone. */
  readonly seed: number;
  /**
   * Per request, the chance of each fault that makes it fail, drawn as one pick (`cut: 0.2, status: 0.1` fails 30%
   * of requests). The sum must not exceed 1.
   */
  readonly failures?: Partial<Record<FailureKind, number>>;
  /**
   * Per request with a satisfiable Range, the chance of answering 200 with the whole body instead, as a server or
   * proxy without range support does; `1` for a server that never honours Range. Drawn independently of
   * `failures`, so a whole-body answer may be cut, stall or be short too.
   */
  readonly ignoreRange?: number;
  /**
   * From this request on (0-based, counting the requests to the path), the path serves its next version: other
   * bytes, another ETag and Last-Modified.
   */
  readonly changeAt?: number;
  /**
   * Failing answers in a row on one path before the server forces a clean one, so that a client with at least this
   * many retries can always finish.
   * @default Infinity
   */
  readonly maxConsecutive?: number;
  /**
   * The faults of the first requests, by arrival order (all paths), instead of drawing them: `[[], ['ignore-range',
   * 'short'], ['cut']]` answers #0 cleanly, #1 with a short whole body, cuts #2. Later requests follow the rates.
   * Amounts (bytes sent, status, Retry-After) are still drawn from the seed.
   */
  readonly script?: ReadonlyArray<readonly FaultKind[]>;
  /** Faults of all kinds after which the server behaves. @default Infinity */
  readonly maxFaults?: number;
  /** The statuses of `status` faults, one picked per fault. @default [500, 503] */
  readonly statuses?: readonly number[];
  /** The `Retry-After` of `status` faults, one picked per fault. @default [null, null, 0] */
  readonly retryAfter?: readonly RetryAfter[];
  /**
   * Bytes of the body sent before a `cut` (clamped below the body's length): a fixed number, or random when
   * absent (uniform over the body).
   */
  readonly cutAfter?: number;
  /**
   * Bytes of the body sent before a `stall`, after the headers (clamped below the body's length), as a server that
   * sends a little and then hangs; when absent, a third of the stalls come before the headers, a third right after
   * them and a third after a random part of the body.
   */
  readonly stallAfter?: number;
  /**
   * How long a stalled answer stays silent before the server drops the connection. Make it longer than the
   * client's timeout, so that the client is the one giving up.
   * @default 3000
   */
  readonly stallMs?: number;
}

export interface FaultServerOptions {
  /**
   * URL path → the file, or its versions in order (a Buffer or the path of a file); a path with one version
   * cannot change. Paths not listed answer 404.
   */
  readonly files: Readonly<Record<string, Buffer | string | ReadonlyArray<Buffer | string>>>;
  readonly plan?: FaultPlan;
  /** Send an ETag; without one a client can only validate by Last-Modified. @default true */
  readonly etag?: boolean;
  /**
   * Honour `If-Range` as RFC 9110 says: a validator that does not match the current version turns the answer into
   * a 200 with the whole current body. With `false` the server serves the asked range of whatever version it has,
   * as servers that do not implement `If-Range` do; a client then has to compare the validators itself.
   * @default true
   */
  readonly honourIfRange?: boolean;
}

/** One request as the server saw and answered it. */
export interface FaultRecord {
  /** Order of arrival, over all paths, from 0. */
  readonly seq: number;
  readonly path: string;
  /** Milliseconds from the server's start to the request's arrival. */
  readonly at: number;
  /** The `Range` header as received. */
  readonly range: string | undefined;
  /** The `If-Range` header as received. */
  readonly ifRange: string | undefined;
  /** The status answered; 0 when the server sent no headers (a stall before the answer). */
  status: number;
  /** The bytes answered, inclusive, for a 200 or 206. */
  first: number | undefined;
  last: number | undefined;
  /** The version of the file served (0 first). */
  version: number;
  /** Faults injected into this answer (two when a whole-body answer also failed; `change` on the first of a new version). */
  readonly faults: FaultKind[];
  /** The `Retry-After` sent with a status fault. */
  retryAfter: string | undefined;
  /** Body bytes handed to the socket. */
  sent: number;
}

export interface FaultServer {
  /** The absolute URL of a path on this server. */
  url(path: string): string;
  /** Closes the server, every connection and every pending stall. */
  close(): Promise<void>;
  /** Every request received, in order. */
  readonly requests: readonly FaultRecord[];
  /** Faults injected so far, by kind. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** The sum of {@link FaultServer.faults}. */
  readonly totalFaults: number;
  /** The ETag and Last-Modified of a path's version, as the server sends them. */
  validators(path: string, version?: number): { etag: string | undefined; lastModified: string };
}

interface Version {
  readonly body: Buffer;
  readonly etag: string;
  readonly lastModified: string;
}

interface PathState {
  readonly versions: readonly Version[];
  version: number;
  requests: number;
  /** Failing answers in a row. */
  failing: number;
  /** Whether an answer has told the size (a Content-Range, or the Content-Length of a whole body). */
  sizeTold: boolean;
}

// Every version is a day newer than the one before; the dates are fixed so that runs are reproducible.
const FIRST_MODIFIED = Date.UTC(2025, 0, 1, 12, 0, 0);
const DAY = 24 * 3600 * 1000;

export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const plan = options.plan;
  const sendEtag = options.etag ?? true;
  const honourIfRange = options.honourIfRange ?? true;
  const failureRates = plan?.failures ?? {};
  const rateSum = FAILURE_KINDS.reduce((sum, kind) => sum + (failureRates[kind] ?? 0), 0);
  if (rateSum > 1 + 1e-9) throw new Error(`fault rates add up to ${rateSum}, more than 1`);
  const maxConsecutive = plan?.maxConsecutive ?? Number.POSITIVE_INFINITY;
  const maxFaults = plan?.maxFaults ?? Number.POSITIVE_INFINITY;
  const statuses = plan?.statuses ?? [500, 503];
  const retryAfters = plan?.retryAfter ?? [null, null, 0];
  const stallMs = plan?.stallMs ?? 3000;

  const paths = new Map<string, PathState>();
  for (const [path, entry] of Object.entries(options.files)) {
    const list = Array.isArray(entry) ? entry : [entry as Buffer | string];
    const versions = list.map((content, i) => {
      const body = Buffer.isBuffer(content) ? content : readFileSync(content);
      const digest = createHash('sha256').update(body).digest('hex').slice(0, 20);
      return { body, etag: `"${digest}"`, lastModified: new Date(FIRST_MODIFIED + i * DAY).toUTCString() };
    });
    if (versions.length === 0) throw new Error(`no content for ${path}`);
    paths.set(path, { versions, version: 0, requests: 0, failing: 0, sizeTold: false });
  }

  const requests: FaultRecord[] = [];
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  let totalFaults = 0;
  const stalls = new Set<NodeJS.Timeout>();
  const started = performance.now();

  const inject = (record: FaultRecord, kind: FaultKind): void => {
    record.faults.push(kind);
    faults[kind]++;
    totalFaults++;
  };

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const seq = requests.length;
    const record: FaultRecord = {
      seq,
      path,
      at: performance.now() - started,
      range: req.headers.range,
      ifRange: headerValue(req.headers['if-range']),
      status: 0,
      first: undefined,
      last: undefined,
      version: 0,
      faults: [],
      retryAfter: undefined,
      sent: 0,
    };
    requests.push(record);
    const state = paths.get(path);
    if (!state) {
      record.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }

    // Every decision of this request comes from its own generator: the seed and the arrival order fix it.
    const random = seededRandom(plan ? Math.imul(plan.seed, 0x9e3779b1) ^ Math.imul(seq + 1, 0x85ebca6b) : 0);
    const [pickRoll, ignoreRoll, amountRoll, variantRoll] = [random(), random(), random(), random()];
    const onPath = state.requests++;
    const scripted = plan?.script?.[seq];
    const changes = scripted ? scripted.includes('change') : plan?.changeAt !== undefined && onPath === plan.changeAt;
    if (changes && state.version + 1 < state.versions.length) {
      state.version++;
      inject(record, 'change');
    }
    const version = state.versions[state.version] as Version;
    record.version = state.version;
    const allowed = plan !== undefined && state.failing < maxConsecutive && totalFaults < maxFaults;
    let failure: FailureKind | undefined;
    if (scripted) failure = FAILURE_KINDS.find((kind) => scripted.includes(kind));
    else if (allowed) failure = pickFailure(pickRoll, failureRates);

    const validators: Record<string, string> = { 'last-modified': version.lastModified };
    if (sendEtag) validators.etag = version.etag;

    if (failure === 'status') {
      inject(record, 'status');
      state.failing++;
      const status = statuses[Math.floor(amountRoll * statuses.length)] ?? 503;
      const retryAfter = retryAfterHeader(retryAfters[Math.floor(variantRoll * retryAfters.length)] ?? null);
      record.status = status;
      record.retryAfter = retryAfter;
      const body = `${status} ${http.STATUS_CODES[status] ?? ''}\n`;
      res.writeHead(status, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
      });
      res.end(body);
      return;
    }

    const size = version.body.length;
    let range = parseRange(req.headers.range, size);
    if (range !== undefined && record.ifRange !== undefined && honourIfRange && !ifRangeMatches(record.ifRange, version, sendEtag)) {
      range = undefined;
    }
    if (range === 'unsatisfiable') {
      record.status = 416;
      state.failing = 0;
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0, ...validators }).end();
      return;
    }
    // Not a failure (the answer is whole and correct), so not held back by maxConsecutive.
    const ignoreRate = plan?.ignoreRange ?? 0;
    const ignores = scripted ? scripted.includes('ignore-range') : totalFaults < maxFaults && ignoreRoll < ignoreRate;
    if (range !== undefined && ignores) {
      inject(record, 'ignore-range');
      range = undefined;
    }
    const [first, last] = range ?? [0, size - 1];
    const body = version.body.subarray(first, last + 1);
    record.status = range ? 206 : 200;
    record.first = first;
    record.last = last;
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      ...validators,
    };
    if (range) headers['content-range'] = `bytes ${first}-${last}/${size}`;

    // A fault needs at least one byte to withhold; an empty body is answered as it is.
    const bodyFailure = failure !== undefined && body.length > 0 ? failure : undefined;
    const toldBefore = state.sizeTold;
    state.sizeTold = true;
    if (bodyFailure === undefined) {
      state.failing = 0;
      res.writeHead(record.status, { ...headers, 'content-length': body.length });
      record.sent = req.method === 'HEAD' ? 0 : body.length;
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    inject(record, bodyFailure);
    state.failing++;
    const delivered = Math.min(
      body.length - 1,
      (bodyFailure === 'cut' ? plan?.cutAfter : bodyFailure === 'stall' ? plan?.stallAfter : undefined) ?? Math.floor(amountRoll * body.length),
    );
    const part = body.subarray(0, delivered);

    if (bodyFailure === 'cut') {
      res.writeHead(record.status, { ...headers, 'content-length': body.length });
      sendThen(res, part, record, () => res.destroy());
    } else if (bodyFailure === 'short') {
      // No Content-Length and `Connection: close`: the body ends where the connection does, cleanly. Only the
      // Content-Range of a 206, or a size told by an earlier answer, says that bytes are missing; a whole body
      // before any size was told keeps its Content-Length, or no client could tell.
      const told = range !== undefined || toldBefore;
      res.shouldKeepAlive = false;
      res.useChunkedEncodingByDefault = false;
      res.writeHead(record.status, { ...headers, connection: 'close', ...(told ? {} : { 'content-length': body.length }) });
      sendThen(res, part, record, () => res.end());
    } else {
      // Stall: a third of the time before the headers, a third after them, a third after some of the body (always
      // after `stallAfter` bytes when the plan says).
      const variant = plan?.stallAfter !== undefined ? 2 : Math.floor(variantRoll * 3);
      const hang = (): void => {
        const timer = setTimeout(() => {
          stalls.delete(timer);
          res.destroy();
        }, stallMs);
        stalls.add(timer);
        res.once('close', () => {
          clearTimeout(timer);
          stalls.delete(timer);
        });
      };
      if (variant === 0) {
        state.sizeTold = toldBefore;
        return hang();
      }
      res.writeHead(record.status, { ...headers, 'content-length': body.length });
      sendThen(res, variant === 1 ? Buffer.alloc(0) : part, record, hang);
    }
  });

  const url = await listenOnLoopback(server);

  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of stalls) clearTimeout(timer);
        stalls.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
    requests,
    faults,
    get totalFaults() {
      return totalFaults;
    },
    validators(path, version = 0) {
      const entry = paths.get(path)?.versions[version];
      if (!entry) throw new Error(`no version ${version} of ${path}`);
      return { etag: sendEtag ? entry.etag : undefined, lastModified: entry.lastModified };
    },
  };
}

/** The range of a request as the record says it was asked: `[first, last]` of `bytes=first-last`. */
export function askedRange(record: FaultRecord): [number, number] | undefined {
  const match = /^bytes=(\d+)-(\d*)$/.exec(record.range ?? '');
  if (!match) return undefined;
  return [Number(match[1]), match[2] === '' ? Number.POSITIVE_INFINITY : Number(match[2])];
}

/** Adds the fault counts of `from` to `into`. */
export function addFaults(into: Record<FaultKind, number>, from: Readonly<Record<FaultKind, number>>): void {
  for (const kind of FAULT_KINDS) into[kind] += from[kind];
}

function pickFailure(roll: number, rates: Partial<Record<FailureKind, number>>): FailureKind | undefined {
  let edge = 0;
  for (const kind of FAILURE_KINDS) {
    edge += rates[kind] ?? 0;
    if (roll < edge) return kind;
  }
  return undefined;
}

/** Writes the headers and `part` (possibly empty), then calls `then` once they are handed to the socket. */
function sendThen(res: http.ServerResponse, part: Buffer, record: FaultRecord, then: () => void): void {
  res.flushHeaders();
  record.sent = part.length;
  const socket = res.socket;
  if (!socket) return then();
  // Straight to the socket: the response object would frame the bytes (chunked) or hold them back.
  if (part.length > 0) socket.write(part);
  socket.write(Buffer.alloc(0), () => then());
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function retryAfterHeader(value: RetryAfter): string | undefined {
  if (value === null) return undefined;
  if (typeof value === 'number') return String(value);
  return new Date(Date.now() + value.dateIn * 1000).toUTCString();
}

/**
 * RFC 9110 §13.1.5: an entity tag matches by strong comparison (a weak one never does); a date matches the
 * Last-Modified exactly.
 */
function ifRangeMatches(ifRange: string, version: Version, sendEtag: boolean): boolean {
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return sendEtag && value === version.etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Date.parse(version.lastModified);
}

