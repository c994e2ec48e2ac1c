import { ErrorCode, FramepipeError, invalidOption } from '@framepipe/common';
import { shownUrl } from '@framepipe/http-source';
import type { Redis } from 'ioredis';

/** `redis://[user:password@]host[:port][/db]` or `rediss://` (TLS). */
export function checkRedisUrl(value: unknown): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^rediss?:$/.test(new URL(value).protocol)) {
    throw invalidOption('redis', 'a redis:// or rediss:// URL', typeof value === 'string' && URL.canParse(value) ? shownUrl(new URL(value)) : value);
  }
  return value;
}

/** The Redis URL as messages show it: no password. */
export function shownRedis(url: string): string {
  return shownUrl(new URL(url));
}

/**
 * A connection to Redis, ready: ioredis with the URL as given (password, `rediss://` TLS, db). `blocking` is for
 * BullMQ's workers, whose commands wait for jobs and must never be given up on; the others fail after a few tries
 * instead of waiting for ever on a Redis that is not there.
 */
export async function connectRedis(url: string, blocking: boolean): Promise<Redis> {
  // ioredis (and BullMQ) load with the first connection: commands that never reach Redis do not pay for them.
  const { Redis } = await import('ioredis');
  const redis = blocking
    ? new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true })
    : new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: (times: number) => (times > 3 ? null : 200 * times), lazyConnect: true });
  // A refused login reaches only the client's 'error' event; connect() then rejects with "Connection is closed".
  let refused: unknown;
  redis.on('error', (error) => (refused ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (cause) {
    redis.disconnect();
    throw redisError(url, refused ?? cause);
  }
  return redis;
}

/** A failure to reach or log in to Redis, as a FramepipeError whose message shows the URL without its password. */
export function redisError(url: string, cause: unknown): FramepipeError {
  const text = cause instanceof Error ? cause.message : String(cause);
  const auth = /NOAUTH|WRONGPASS|invalid password|AUTH/i.test(text);
  // A TLS port closes a plain connection without a word: all ioredis can say is that the connection went.
  const hint = !auth && new URL(url).protocol === 'redis:' && /ECONNRESET|Connection is closed|socket hang up/i.test(text)
    ? ' (the server closed the connection: if it speaks TLS, use rediss://)'
    : '';
  return new FramepipeError(
    auth ? ErrorCode.AUTH_FAILED : ErrorCode.UNREACHABLE,
    `Cannot ${auth ? 'log in to' : 'reach'} Redis at ${shownRedis(url)}: ${text.replaceAll(new URL(url).password || '\0', '(hidden)')}${hint}`,
    { source: shownRedis(url), cause },
  );
}
