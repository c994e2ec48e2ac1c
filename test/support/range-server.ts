/**
 * A loopback HTTP server for tests: serves buffers or files with byte-range support, records every request and
 * counts the body bytes it sends, with knobs to misbehave (require headers, ignore Range, fixed status, stall).
 *
 * @example
 * const server = await startRangeServer({ files: { '/video.mp4': buffer } });
 * try {
 *   const source = new HttpSource(server.url('/video.mp4'));
 *   ...
 *   assert.equal(source.bytesRead, server.bytesSent);
 * } finally {
 *   await server.close();
 * }
 */
import fs from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseRange } from '@framepipe/supervisely/stand-in';

export interface RangeServerOptions {
  /** URL path → content, a Buffer or the path of a file (streamed, so large videos are fine). */
  files: Record<string, Buffer | string>;
  /** Headers every request must carry (names lowercase); otherwise 401. */
  requireHeaders?: Record<string, string>;
  /** Answer every GET with 200 and the whole body, as a server without Range support does. */
  ignoreRange?: boolean;
  /** URL path → a status to answer with instead of the content (e.g. 404, 500). */
  status?: Record<string, number>;
  /** Send this many body bytes of each answer, then stop writing without closing the connection. */
  stallAfterBytes?: number;
  /** Milliseconds to wait before answering each request, as a distant server does. */
  delay?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The Range header as received, if any. */
  range: string | undefined;
  headers: IncomingHttpHeaders;
  status: number;
  /** True once the client closed the connection before the whole answer was sent. */
  aborted: boolean;
}

export interface RangeServer {
  /** The absolute URL of a path on this server. */
  url(path: string): string;
  /** Closes the server and every connection, stalled ones included. */
  close(): Promise<void>;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Body bytes handed to sockets so far, over all requests. */
  readonly bytesSent: number;
  /** TCP connections accepted so far (keep-alive reuse keeps this low). */
  readonly connections: number;
}

interface Content {
  size: number;
  /** A stream of bytes `start..end` inclusive. */
  slice(start: number, end: number): Readable;
}

export async function startRangeServer(options: RangeServerOptions): Promise<RangeServer> {
  const requests: RecordedRequest[] = [];
  let bytesSent = 0;
  let connections = 0;

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      range: req.headers.range,
      headers: req.headers,
      status: 0,
      aborted: false,
    };
    requests.push(record);
    res.on('close', () => {
      record.aborted = !res.writableFinished;
    });
    const answer = (status: number, headers: Record<string, string | number> = {}): void => {
      record.status = status;
      res.writeHead(status, headers);
    };

    const missing = Object.entries(options.requireHeaders ?? {}).find(([name, value]) => req.headers[name] !== value);
    const forced = options.status?.[path];
    const content = contentOf(options.files[path]);
    if (missing || forced !== undefined || !content) {
      const status = missing ? 401 : (forced ?? 404);
      answer(status, { 'content-type': 'text/plain' });
      res.end(http.STATUS_CODES[status]);
      return;
    }

    const range = options.ignoreRange ? undefined : parseRange(req.headers.range, content.size);
    if (range === 'unsatisfiable') {
      answer(416, { 'content-range': `bytes */${content.size}` });
      res.end();
      return;
    }
    const [start, end] = range ?? [0, content.size - 1];
    const length = end - start + 1;
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': length,
      'accept-ranges': options.ignoreRange ? 'none' : 'bytes',
    };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${content.size}`;
    answer(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    const limit = options.stallAfterBytes ?? Number.POSITIVE_INFINITY;
    let budget = limit;
    const counted = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        const part = chunk.length > budget ? chunk.subarray(0, budget) : chunk;
        budget -= part.length;
        bytesSent += part.length;
        if (part.length > 0) yield part;
        // Stalling: keep the response open and silent until the client or close() gives up on it.
        if (budget === 0) await new Promise<never>(() => {});
      }
    };
    pipeline(content.slice(start, end), counted, res).catch(() => {
      // The client went away mid-body: `record.aborted` says so.
    });
  };
  const server = http.createServer((req, res) => (options.delay ? setTimeout(handle, options.delay, req, res) : handle(req, res)));
  server.on('connection', () => {
    connections++;
  });

  const url = await listenOnLoopback(server);

  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
    requests,
    get bytesSent() {
      return bytesSent;
    },
    get connections() {
      return connections;
    },
  };
}

function contentOf(entry: Buffer | string | undefined): Content | undefined {
  if (entry === undefined) return undefined;
  if (Buffer.isBuffer(entry)) {
    return { size: entry.length, slice: (start, end) => Readable.from([entry.subarray(start, end + 1)]) };
  }
  return { size: fs.statSync(entry).size, slice: (start, end) => fs.createReadStream(entry, { start, end }) };
}

/** The Range parser of the stand-in server, shared by every test server. */
export { parseRange };

/** Starts `server` on a free loopback port; resolves with the function that makes a URL of a path on it. */
export async function listenOnLoopback(server: http.Server): Promise<(path: string) => string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return (path) => `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
}

/** A seeded PRNG (mulberry32) returning floats in [0, 1): tests that pick random offsets stay reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` pseudo-random bytes from `seed`: content to serve whose every offset is distinguishable. */
export function seededBytes(length: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** A loopback port nothing listens on (bound, then released), for "server down" tests. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
