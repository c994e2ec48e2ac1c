import { invalidOption } from '@framepipe/common';

const ANY_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const HTTP_SCHEME = /^https?:\/\//i;

/**
 * Normalizes a Supervisely address as the Python SDK's `Api.normalize_server_address` does: surrounding slashes are
 * dropped and `http://` is put in front of an address without a scheme (`host:port` → `http://host:port`).
 * Surrounding whitespace is dropped too, because addresses are often pasted or read from files.
 *
 * @throws InvalidOptionError named `option` when the value is not a string, is empty, has a scheme other than
 * http(s), or does not parse as a URL.
 */
export function normalizeServerAddress(value: unknown, option = 'serverAddress'): string {
  const expected = 'an http(s) address such as https://app.supervisely.com';
  if (typeof value !== 'string') throw invalidOption(option, expected, value);
  let address = value.trim().replace(/^\/+|\/+$/g, '');
  if (!ANY_SCHEME.test(address)) address = `http://${address}`;
  if (!HTTP_SCHEME.test(address) || !URL.canParse(address) || new URL(address).hostname === '') {
    throw invalidOption(option, expected, value);
  }
  return address;
}

/**
 * `url` with the scheme, host and port of `address`, keeping its path and query. The storage URL in a video's
 * answer names the host the server sees itself as (often an internal name), which a client outside the server's
 * network cannot reach; the address the client already reaches the server on serves the same path.
 */
export function withOriginOf(url: string, address: string): string {
  const rewritten = new URL(url);
  const origin = new URL(address);
  rewritten.protocol = origin.protocol;
  rewritten.hostname = origin.hostname;
  // Assigning a host without a port would keep the answer's port, so the port is always set (empty = default).
  rewritten.port = origin.port;
  // Credentials of the answer's URL belong to its host, not to ours.
  rewritten.username = '';
  rewritten.password = '';
  return rewritten.href;
}
