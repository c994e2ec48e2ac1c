/**
 * A stand-in for a Supervisely instance, for tests and for trying the examples without an account: a real HTTP
 * server on 127.0.0.1 that answers `videos.info` and `videos.list` and serves the videos' files the way the real server does for the
 * calls framepipe makes. Import it as `@framepipe/supervisely/stand-in`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertKnownKeys, assertOptionsObject, invalidOption } from '@framepipe/common';

/**
 * One video the stand-in knows, by id.
 *
 * @example
 * const videos = { 42: { path: 'examples/assets/sample.mp4' }, 43: { bytes: buffer, name: 'clip.webm', ready: false } };
 */
export interface StandInVideo {
  /** A file to serve (read at each request, so it may be large). Give `path` or `bytes`. */
  path?: string;
  /** The content to serve. Give `path` or `bytes`. */
  bytes?: Buffer;
  /**
   * The video's name in the answer and in its storage path.
   * @default the file's base name, or `video_<id>.mp4` for bytes
   */
  name?: string;
  /**
   * False: the server knows the video but has not stored it yet, like one still uploading or processing. Its
   * answer has no `fullStorageUrl` and its file is not served.
   * @default true
   */
  ready?: boolean;
  /**
   * The dataset the video belongs to, which `videos.list` lists it in.
   * @default 1
   */
  datasetId?: number;
}

/**
 * Options of {@link startStandInServer}.
 *
 * @example
 * const server = await startStandInServer({ videos: { 42: { path: 'clip.mp4' } }, token: 'my-test-token' });
 */
export interface StandInServerOptions {
  /** The videos, by id (a positive integer). */
  videos: Record<number, StandInVideo>;
  /**
   * The API token every request must carry as `x-api-key`.
   * @default a random 128-character token, as long as real Supervisely tokens
   */
  token?: string;
  /**
   * Videos per page of a `videos.list` answer when the request gives no `per_page`, and the most a request may ask
   * for (a larger `per_page` gets pages of this size, as a server caps what it sends).
   * @default 1000
   */
  perPage?: number;
}

/** A request the stand-in received. */
export interface StandInRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  /** The `x-api-key` header as received. */
  apiKey: string | undefined;
  /** The `Range` header as received. */
  range: string | undefined;
  /** The status answered. */
  status: number;
  /** The JSON body of an API call (`videos.info`, `videos.list`), as received; undefined for other requests. */
  body?: Record<string, unknown> | undefined;
}

/** A running stand-in. */
export interface StandInServer {
  /** Its address, `http://127.0.0.1:<port>`: what `SERVER_ADDRESS` would hold. */
  readonly address: string;
  /** The token it accepts: what `API_TOKEN` would hold. */
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: StandInRequest[];
  /** Stops the server and closes every connection. */
  close(): Promise<void>;
}

/**
 * The host the answers name in `fullStorageUrl`. The `.invalid` top-level domain never resolves (RFC 2606), like
 * the internal storage host of a real instance seen from outside: a client must read the path from the server
 * address instead, and one that does not fails.
 */
export const STAND_IN_STORAGE_HOST = 'storage.stand-in.invalid';

const INFO_PATH = '/public/api/v3/videos.info';
const LIST_PATH = '/public/api/v3/videos.list';
const DEFAULT_PER_PAGE = 1000;
const STORAGE_PREFIX = '/stand-in-storage/videos/';
const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MAX_BODY = 64 * 1024;

interface Entry {
  readonly id: number;
  readonly name: string;
  readonly ready: boolean;
  readonly datasetId: number;
  readonly storagePath: string;
  readonly path: string | undefined;
  readonly bytes: Buffer | undefined;
  hash?: Promise<string>;
}

/**
 * Starts a stand-in Supervisely server on 127.0.0.1 (a free port). It behaves like a real instance for what
 * framepipe asks of one:
 * - every request must carry `x-api-key: <token>`, else `401` with a JSON error body;
 * - `POST /public/api/v3/videos.info` with `{ id }` answers the video's description (`id`, `name`, `hash`,
 *   `pathOriginal`, `fileMeta` with `size` and `mime`, `meta`, ... and `fullStorageUrl`), `404` with a JSON error
 *   body for an unknown id, `400` for a body without a positive integer id;
 * - `POST /public/api/v3/videos.list` with `{ datasetId, page, per_page }` answers one page of the dataset's videos
 *   by id ascending, `{ total, perPage, pagesCount, entities }` (each entity as `videos.info` describes it), pages
 *   counted from 1; `404` for a dataset that holds no video, `400` for a body without a positive integer `datasetId`;
 * - `fullStorageUrl` names the unreachable host {@link STAND_IN_STORAGE_HOST}; this server serves its path, with
 *   byte ranges (`206`, `Content-Range`, `416` past the end, `HEAD`);
 * - a video with `ready: false` has no `fullStorageUrl` and no file.
 *
 * @example
 * import { startStandInServer } from '@framepipe/supervisely/stand-in';
 * import { SuperviselyApi, streamVideoFramesToDir } from '@framepipe/supervisely';
 *
 * const server = await startStandInServer({ videos: { 42: { path: 'examples/assets/sample.mp4' } } });
 * try {
 *   const api = new SuperviselyApi({ serverAddress: server.address, token: server.token });
 *   const paths = await streamVideoFramesToDir({ api, videoId: 42, outputDir: '/tmp/frames', end: 9 });
 *   console.log(paths.length, server.requests.length);
 * } finally {
 *   await server.close();
 * }
 */
export async function startStandInServer(options: StandInServerOptions): Promise<StandInServer> {
  if (options === undefined) throw invalidOption('startStandInServer options', 'an object { videos }', options);
  const opts = assertOptionsObject(options, 'startStandInServer');
  assertKnownKeys(opts, ['videos', 'token', 'perPage'], 'startStandInServer');
  const videos = checkVideos(opts.videos);
  if (opts.token !== undefined && (typeof opts.token !== 'string' || !/^[\x21-\x7e]+$/.test(opts.token))) {
    throw invalidOption('token', 'a non-empty string of printable ASCII characters', opts.token);
  }
  const token = opts.token ?? randomToken();
  const pageSize = opts.perPage ?? DEFAULT_PER_PAGE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw invalidOption('perPage', 'a positive integer', opts.perPage);
  const created = new Date().toISOString();
  const requests: StandInRequest[] = [];

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const header = (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    const record: StandInRequest = { method: req.method ?? 'GET', path, apiKey: header('x-api-key'), range: header('range'), status: 0 };
    requests.push(record);
    const reply = { record, res };
    answer(reply).catch(() => {
      if (!res.headersSent) sendJson(reply, 500, { error: 'Internal error', details: { message: 'The stand-in failed to answer' } });
      else res.destroy();
    });

    async function answer(r: Reply): Promise<void> {
      if (record.apiKey !== token) {
        return sendJson(r, 401, { error: 'Unauthorized', details: { message: 'Invalid or missing x-api-key' } });
      }
      if (path === INFO_PATH) {
        if (req.method !== 'POST') return sendJson(r, 405, { error: 'Method not allowed', details: { message: 'Use POST' } }, { allow: 'POST' });
        record.body = await readJson(req);
        const id = record.body?.id;
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
          return sendJson(r, 400, { error: 'Bad request', details: { message: 'The body must be JSON with a positive integer "id"' } });
        }
        const video = videos.get(id);
        if (!video) return sendJson(r, 404, { error: 'Not found', details: { message: `Video ${id} not found` } });
        return sendJson(r, 200, await describe(video, created));
      }
      if (path === LIST_PATH) {
        if (req.method !== 'POST') return sendJson(r, 405, { error: 'Method not allowed', details: { message: 'Use POST' } }, { allow: 'POST' });
        record.body = await readJson(req);
        const { datasetId, page = 1, per_page: asked = pageSize } = record.body ?? {};
        const positive = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
        if (!positive(datasetId) || !positive(page) || !positive(asked)) {
          return sendJson(r, 400, { error: 'Bad request', details: { message: 'The body must be JSON with a positive integer "datasetId" (and "page", "per_page" if given)' } });
        }
        const listed = [...videos.values()].filter((v) => v.datasetId === datasetId).sort((a, b) => a.id - b.id);
        if (listed.length === 0) return sendJson(r, 404, { error: 'Not found', details: { message: `Dataset ${datasetId as number} not found` } });
        const perPage = Math.min(asked as number, pageSize);
        const from = ((page as number) - 1) * perPage;
        const entities = await Promise.all(listed.slice(from, from + perPage).map((video) => describe(video, created)));
        return sendJson(r, 200, { total: listed.length, perPage, pagesCount: Math.ceil(listed.length / perPage), entities });
      }
      const video = [...videos.values()].find((v) => v.ready && v.storagePath === path);
      if (video && (req.method === 'GET' || req.method === 'HEAD')) return serveFile(r, req, video);
      return sendJson(r, 404, { error: 'Not found', details: { message: `No route ${req.method} ${path}` } });
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    address: `http://127.0.0.1:${port}`,
    token,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface Reply {
  record: StandInRequest;
  res: http.ServerResponse;
}

function sendJson(r: Reply, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  r.record.status = status;
  r.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  r.res.end(text);
}

/** The description `videos.info` answers, shaped like the real one (the fields the SDK's `VideoInfo` reads). */
async function describe(video: Entry, created: string): Promise<Record<string, unknown>> {
  // A video not stored yet has no measured file; its path need not even exist.
  const size = video.ready ? await sizeOf(video) : undefined;
  return {
    id: video.id,
    name: video.name,
    description: '',
    hash: video.ready ? await hashOf(video) : null,
    link: null,
    teamId: 1,
    workspaceId: 1,
    projectId: 1,
    datasetId: video.datasetId,
    pathOriginal: video.ready ? video.storagePath : null,
    processingPath: `1/${video.id}`,
    createdAt: created,
    updatedAt: created,
    tags: [],
    meta: {},
    customData: {},
    fileMeta: size === undefined ? {} : { mime: mimeOf(video.name), size: String(size) },
    ...(video.ready ? { fullStorageUrl: `https://${STAND_IN_STORAGE_HOST}${video.storagePath}` } : {}),
  };
}

async function serveFile(r: Reply, req: http.IncomingMessage, video: Entry): Promise<void> {
  const size = await sizeOf(video);
  const range = parseRange(req.headers.range, size);
  const common = { 'accept-ranges': 'bytes', 'content-type': mimeOf(video.name) };
  if (range === 'unsatisfiable') {
    r.record.status = 416;
    r.res.writeHead(416, { ...common, 'content-range': `bytes */${size}`, 'content-length': 0 });
    r.res.end();
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  const length = Math.max(0, end - start + 1);
  r.record.status = range ? 206 : 200;
  r.res.writeHead(r.record.status, {
    ...common,
    'content-length': length,
    ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  });
  if (req.method === 'HEAD' || length === 0) {
    r.res.end();
    return;
  }
  const body = video.bytes ? Readable.from([video.bytes.subarray(start, end + 1)]) : createReadStream(video.path!, { start, end });
  // A client that leaves mid-body (a seek, a closed source) is normal: the answer just stops.
  await pipeline(body, r.res).catch(() => {});
}

/**
 * The one range of `bytes=a-b`, `bytes=a-` or `bytes=-n`, clamped to the content. Undefined when there is none or
 * it is not understood (several ranges, garbage), which RFC 9110 answers with the whole content.
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(from);
  if (to !== '' && Number(to) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, to === '' ? size - 1 : Math.min(Number(to), size - 1)];
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function sizeOf(video: Entry): Promise<number> {
  return video.bytes ? video.bytes.length : (await stat(video.path!)).size;
}

/** base64 of the SHA-256 of the content, as Supervisely hashes files; computed once, on first use. */
function hashOf(video: Entry): Promise<string> {
  video.hash ??= (async () => {
    const hash = createHash('sha256');
    if (video.bytes) hash.update(video.bytes);
    else for await (const chunk of createReadStream(video.path!)) hash.update(chunk as Buffer);
    return hash.digest('base64');
  })();
  return video.hash;
}

function mimeOf(name: string): string {
  const types: Record<string, string> = {
    '.mp4': 'video/mp4',
    '.m4v': 'video/mp4',
    '.mov': 'video/quicktime',
    '.webm': 'video/webm',
    '.mkv': 'video/x-matroska',
    '.ts': 'video/mp2t',
    '.avi': 'video/x-msvideo',
  };
  return types[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

function randomToken(): string {
  return Array.from(randomBytes(128), (byte) => TOKEN_ALPHABET[byte % TOKEN_ALPHABET.length]).join('');
}

function checkVideos(value: unknown): Map<number, Entry> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption('videos', 'an object of videos by id, e.g. { 42: { path } }', value);
  }
  const videos = new Map<number, Entry>();
  for (const [key, spec] of Object.entries(value)) {
    const id = Number(key);
    const option = `videos.${key}`;
    if (!Number.isSafeInteger(id) || id < 1) throw invalidOption(`videos key ${JSON.stringify(key)}`, 'a positive integer id', key);
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw invalidOption(option, 'an object { path } or { bytes }', spec);
    assertKnownKeys(spec, ['path', 'bytes', 'name', 'ready', 'datasetId'], `startStandInServer ${option}`);
    const { path, bytes, name, ready, datasetId } = spec as StandInVideo;
    if ((path === undefined) === (bytes === undefined)) throw invalidOption(option, 'exactly one of path and bytes', spec);
    if (path !== undefined && (typeof path !== 'string' || path === '')) throw invalidOption(`${option}.path`, 'a file path', path);
    if (bytes !== undefined && !Buffer.isBuffer(bytes)) throw invalidOption(`${option}.bytes`, 'a Buffer', bytes);
    if (name !== undefined && (typeof name !== 'string' || name === '' || name.includes('/'))) {
      throw invalidOption(`${option}.name`, 'a file name without slashes', name);
    }
    if (ready !== undefined && typeof ready !== 'boolean') throw invalidOption(`${option}.ready`, 'a boolean', ready);
    if (datasetId !== undefined && (!Number.isSafeInteger(datasetId) || datasetId < 1)) throw invalidOption(`${option}.datasetId`, 'a positive integer', datasetId);
    const fileName = name ?? (path !== undefined ? basename(path) : `video_${id}.mp4`);
    videos.set(id, {
      id,
      name: fileName,
      ready: ready ?? true,
      datasetId: datasetId ?? 1,
      storagePath: `${STORAGE_PREFIX}${id}/${encodeURIComponent(fileName)}`,
      path,
      bytes,
    });
  }
  return videos;
}
