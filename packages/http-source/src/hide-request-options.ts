/**
 * got keeps the request options (headers included, so the `x-api-key`) as an enumerable `options` property of its
 * errors, and `util.inspect` prints them: a logged error would show the token. This makes `options` non-enumerable
 * on every error of the cause chain, so the chain can still be kept as `cause` but is safe to print.
 *
 * Returns `error` itself.
 */
export function hideRequestOptions<T>(error: T): T {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const descriptor = Object.getOwnPropertyDescriptor(current, 'options');
    if (descriptor?.enumerable && descriptor.configurable) {
      Object.defineProperty(current, 'options', { ...descriptor, enumerable: false });
    }
    current = (current as { cause?: unknown }).cause;
  }
  return error;
}
