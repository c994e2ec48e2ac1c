/**
 * A URL as messages and errors show it. A presigned URL (S3, GCS, Azure, CloudFront) or a link with a token carries
 * its credentials in the query string; an error is pasted into bug reports and logs, so those values never appear.
 */

/** Query parameters that carry a credential, by name (case-insensitive): signatures, tokens, keys, secrets. */
const SECRET_PARAMETER = /signature|token|secret|passw|credential|session|api[-_]?key|^key$|^sig$|^auth|^policy$|key-pair-id|^code$/i;

/** What a hidden value is shown as. */
export const HIDDEN = '(hidden)';

/** The URL without `user:password@`, and with the values of credential query parameters hidden. */
export function shownUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  if (copy.search.length > 1) {
    const parts = copy.search.slice(1).split('&').map((part) => {
      const equals = part.indexOf('=');
      if (equals < 0) return part;
      const name = safeDecode(part.slice(0, equals));
      return SECRET_PARAMETER.test(name) ? `${part.slice(0, equals)}=${HIDDEN}` : part;
    });
    copy.search = `?${parts.join('&')}`;
  }
  return copy.href;
}

/** A URL given as text, shown as {@link shownUrl} does; text that is no URL is shown as it is. */
export function shownUrlText(text: string): string {
  return URL.canParse(text) ? shownUrl(new URL(text)) : text;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}
