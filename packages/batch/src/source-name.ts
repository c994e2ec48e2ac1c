import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { ErrorCode, FramepipeError, invalidOption } from '@framepipe/common';
import { shownUrl } from '@framepipe/http-source';
import type { HttpSourceInput } from '@framepipe/http-source';

/**
 * What a batch takes as one video: an http(s) or `file:` URL (text or `URL`), a local path, `{ url, headers }`, or
 * a Supervisely video `{ videoId }`. A `ByteSource` has no name a batch could file its frames under, so it is not one.
 */
export type BatchSource = string | URL | HttpSourceInput | VideoIdSource;

/** A Supervisely video, named by its id; `runBatch` reads it through its `api` option (or `SuperviselyApi.fromEnv()`). */
export interface VideoIdSource {
  readonly videoId: number;
}

/** The longest output name in UTF-8 bytes; a longer one is cut and ends in a hash of the whole. */
export const NAME_MAX_BYTES = 120;

/** `-` and 8 hex digits of the SHA-256 of the whole name, so that two long names cut alike stay apart. */
const HASH_SUFFIX_BYTES = 9;

/** A `scheme://` prefix: the text is meant as a URL (as `openByteSource` reads it). */
const URL_TEXT = /^[a-z][a-z0-9+.-]+:\/\//i;

/**
 * The name of the directory under a batch's `out` that a source's frames go to: a URL's last path segment
 * (percent-decoded once), a path's file name, without its extension; a Supervisely video's id. The name is made safe
 * so that no source can write outside `out`: path separators (either slash, also once decoded) and control characters
 * become `_`, runs of dots become one, leading dots go, and a name longer than {@link NAME_MAX_BYTES} bytes is cut on
 * a character boundary and ends in `-` and a short hash of the whole. A source left with no name (a URL ending in
 * `/`, a name of dots only) fails with `ERR_FRAMEPIPE_INVALID_NAME`.
 *
 * @example
 * sourceName('https://cdn.example.com/clips/Walk%20cycle.mp4?token=…'); // 'Walk cycle'
 * sourceName('/data/../x.mp4'); // 'x'
 * sourceName({ videoId: 12345 }); // '12345'
 */
export function sourceName(source: BatchSource): string {
  if (isVideoIdSource(source)) {
    const id = source.videoId;
    if (!Number.isSafeInteger(id) || id < 0) throw invalidOption('videoId', 'a non-negative integer', id);
    return String(id);
  }
  const raw = rawName(source);
  // Separators first, so that the extension is looked for in what follows the last one; dots last, so that no `..`
  // and no leading dot is left whatever the decoded name held.
  const safe = withoutExtension(raw.replace(/[/\\\p{Cc}]/gu, '_').replace(/\.{2,}/g, '.').replace(/^\./, ''));
  if (safe === '') {
    throw new FramepipeError(
      ErrorCode.INVALID_NAME,
      `${shownSource(source)} has no name to file its frames under (${JSON.stringify(raw)} leaves nothing once made safe): give a URL or path that ends in the video's file name`,
      { source: shownSource(source) },
    );
  }
  return bounded(safe);
}

/**
 * A source as messages and `batch.jsonl` show it: a URL without credentials (see `shownUrl`), a path as given, a
 * Supervisely video as `supervisely:video/<id>` (the server and the token are not shown).
 */
export function shownSource(source: BatchSource): string {
  if (isVideoIdSource(source)) return `supervisely:video/${String(source.videoId)}`;
  const url = urlOf(source);
  return url ? shownUrl(url) : String(source);
}

/** True for `{ videoId }`, a Supervisely video. */
export function isVideoIdSource(source: unknown): source is VideoIdSource {
  return typeof source === 'object' && source !== null && 'videoId' in source;
}

/** The last segment of a URL's path, decoded once, or a path's file name. */
function rawName(source: Exclude<BatchSource, VideoIdSource>): string {
  const url = urlOf(source);
  if (!url) {
    if (typeof source !== 'string') throw invalidOption('source', 'a URL, a path or { url, headers }', source);
    return basename(source);
  }
  const segment = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function urlOf(source: Exclude<BatchSource, VideoIdSource>): URL | null {
  if (source instanceof URL) return source;
  if (typeof source === 'string') return URL_TEXT.test(source) && URL.canParse(source) ? new URL(source) : null;
  if (typeof source === 'object' && source !== null && 'url' in source) {
    const { url } = source;
    if (url instanceof URL) return url;
    if (typeof url === 'string' && URL.canParse(url)) return new URL(url);
  }
  throw invalidOption('source', 'a URL, a path or { url, headers }', source);
}

/** The name without its last `.ext`; a name that only starts with a dot has no extension. */
function withoutExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** At most NAME_MAX_BYTES of UTF-8, cut between code points, with a hash of the whole when cut. */
function bounded(name: string): string {
  if (Buffer.byteLength(name) <= NAME_MAX_BYTES) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_SUFFIX_BYTES - 1);
  let kept = '';
  let bytes = 0;
  for (const char of name) {
    const size = Buffer.byteLength(char);
    if (bytes + size > NAME_MAX_BYTES - HASH_SUFFIX_BYTES) break;
    kept += char;
    bytes += size;
  }
  return `${kept}-${hash}`;
}
