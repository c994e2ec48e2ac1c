import { ErrorCode, FramepipeError, assertKnownKeys, assertOptionsObject, invalidOption } from '@framepipe/common';
import { isByteSource, type ByteSource } from './byte-source.ts';
import { FileSource } from './file-source.ts';
import { HTTP_SOURCE_OPTION_KEYS, HttpSource, type HttpSourceOptions } from './http-source.ts';
import { shownUrl } from './shown-url.ts';

/**
 * A URL with the options of its requests.
 *
 * @example
 * const source = openByteSource({ url: 'https://api.example.com/videos/42/raw', headers: { authorization: `Bearer ${token}` } });
 */
export interface HttpSourceInput extends HttpSourceOptions {
  /** An http: or https: URL. */
  url: string | URL;
}

/**
 * What a user may pass as "the video": an http(s) URL (string or `URL`), a path or `file:` URL, a
 * {@link HttpSourceInput}, or any {@link ByteSource}.
 */
export type ByteSourceInput = string | URL | HttpSourceInput | ByteSource;

const EXPECTED = 'a URL, a path, { url, headers } or a ByteSource';

/**
 * Turns what a user passed into a {@link ByteSource}, without any I/O: the source is not opened, but a bad input
 * or option fails here (a URL of another scheme, such as `ftp://…`, with `ERR_FRAMEPIPE_UNSUPPORTED_SCHEME`, not as
 * a missing file). `options` apply to HTTP sources only; headers of a {@link HttpSourceInput} override
 * theirs name by name. A {@link ByteSource} is returned as it is.
 *
 * @example
 * const source = openByteSource(process.argv[2], { headers: { authorization: `Bearer ${token}` } });
 * try {
 *   await source.open();
 *   console.log(`${source.description}: ${source.size} bytes`);
 * } finally {
 *   await source.close();
 * }
 */
export function openByteSource(input: ByteSourceInput, options?: HttpSourceOptions): ByteSource {
  const shared = assertOptionsObject(options, 'openByteSource');
  assertKnownKeys(shared, HTTP_SOURCE_OPTION_KEYS, 'openByteSource');
  if (isByteSource(input)) return input;
  if (typeof input === 'string' && input !== '') {
    if (/^https?:\/\//i.test(input)) return new HttpSource(input, shared);
    if (/^file:\/\//i.test(input) && URL.canParse(input)) return new FileSource(new URL(input));
    // `scheme://…` is meant as a URL, not as a relative path that happens to contain a colon.
    if (/^[a-z][a-z0-9+.-]+:\/\//i.test(input) && URL.canParse(input)) throw unsupportedScheme(new URL(input));
    return new FileSource(input);
  }
  if (input instanceof URL) {
    if (input.protocol === 'http:' || input.protocol === 'https:') return new HttpSource(input, shared);
    if (input.protocol === 'file:') return new FileSource(input);
    throw unsupportedScheme(input);
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input) && 'url' in input) {
    assertKnownKeys(input, ['url', ...HTTP_SOURCE_OPTION_KEYS], 'source');
    const { url, ...own } = input;
    const merged: HttpSourceOptions = { ...shared, ...own };
    const headers = mergeHeaders(shared.headers, own.headers);
    if (headers !== undefined) merged.headers = headers;
    return new HttpSource(url, merged);
  }
  throw invalidOption('source', EXPECTED, input);
}

/** A URL whose scheme no source reads (`ftp:`, `s3:`, `rtsp:`): said as such, not as a missing file. */
function unsupportedScheme(url: URL): FramepipeError {
  const shown = shownUrl(url);
  const scheme = url.protocol.toLowerCase();
  return new FramepipeError(
    ErrorCode.UNSUPPORTED_SCHEME,
    `Cannot read ${shown}: framepipe reads http:, https: and file: URLs and local paths, not ${scheme} URLs (download the file, or serve it over HTTP, and give that instead)`,
    { source: shown },
  );
}

/** Merges two header maps when both are objects; anything else is passed on for HttpSource to reject. */
function mergeHeaders(shared: unknown, own: unknown): Record<string, string> | undefined {
  const isMap = (value: unknown): value is Record<string, string> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isMap(shared) && isMap(own)) {
    const merged: Record<string, string> = {};
    for (const [name, value] of [...Object.entries(shared), ...Object.entries(own)]) merged[name.toLowerCase()] = value;
    return merged;
  }
  return (own ?? shared) as Record<string, string> | undefined;
}
