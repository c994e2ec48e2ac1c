export { isByteSource, withRead } from './byte-source.ts';
export type { ByteSource } from './byte-source.ts';
export { DEFAULT_TIMEOUT, HttpSource } from './http-source.ts';
export type { HttpSourceOptions, HttpAgents } from './http-source.ts';
export { FileSource } from './file-source.ts';
export { ReadCache } from './read-cache.ts';
export type { ReadCacheOptions } from './read-cache.ts';
export type { PlanOptions, PlannedRange } from './read-ahead.ts';
export { CACHE_PREFIX, DEFAULT_CACHE_DISK, DEFAULT_CACHE_MEMORY } from './range-store.ts';
export { openByteSource } from './open-source.ts';
export type { ByteSourceInput, HttpSourceInput } from './open-source.ts';
export { ByteStream } from './byte-stream.ts';
export type { ByteStreamOptions } from './byte-stream.ts';
export { hideRequestOptions } from './hide-request-options.ts';
export {
  DEFAULT_RETRIES,
  DEFAULT_RETRY_DELAY,
  DEFAULT_RETRY_TIME_LIMIT,
  MAX_ATTEMPTS,
  PassingFailure,
  RetryBudget,
  isPassingNetworkError,
  isPassingStatus,
  pauseBeforeRetry,
  retriesSpent,
  retryTimeLimitFor,
  retryWait,
  RETRY_CHANNEL,
} from './retry.ts';
export type { RetryEvent, RetryLimits } from './retry.ts';
export { shownUrl, shownUrlText } from './shown-url.ts';
export { SPOOL_PREFIX } from './spool.ts';
