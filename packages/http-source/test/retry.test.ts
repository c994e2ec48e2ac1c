import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FramepipeError } from '@framepipe/common';
import { DEFAULT_TIMEOUT } from '../src/http-source.ts';
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY, PassingFailure, RetryBudget, retryTimeLimitFor, retryWait } from '../src/retry.ts';

/** A failed try of `bytes=0-99` that brought `received` bytes. */
function cut(received: number): PassingFailure {
  return new PassingFailure(new FramepipeError(ErrorCode.UNREACHABLE, `The body of bytes=0-99 was cut after ${received} of 100 bytes`));
}

test('RetryBudget: tries that keep bringing bytes end once the request has retried for timeLimit, counted from its first failure', () => {
  let now = 0;
  const budget = new RetryBudget(2, { timeLimit: 600_000, now: () => now });
  // The first try ran for 50 s before it failed: the clock starts there, not when the request began.
  now = 50_000;
  assert.equal(budget.spend(cut(5), 5), undefined);
  for (const at of [200_000, 400_000, 649_999]) {
    now = at;
    assert.equal(budget.spend(cut(5), 5), undefined, `still retrying at ${at} ms`);
  }
  now = 662_345;
  const error = budget.spend(cut(5), 5);
  assert.ok(error);
  assert.equal(error.code, ErrorCode.UNREACHABLE);
  assert.equal(error.message, 'The body of bytes=0-99 was cut after 5 of 100 bytes (gave up after 5 attempts, 612.3 s of retrying, past the 600 s one request may spend)');
  assert.equal(error.attempts?.length, 5);
});

test('RetryBudget: a try that delivered a MiB or more before it broke starts the time limit again', () => {
  let now = 0;
  const budget = new RetryBudget(2, { timeLimit: 600_000, now: () => now });
  now = 60_000;
  assert.equal(budget.spend(cut(5), 5), undefined);
  // Ten minutes later a try that had delivered a GB breaks: the link works, the request goes on.
  now = 660_000;
  assert.equal(budget.spend(cut(1e9), 1e9), undefined);
  now = 1_200_000;
  assert.equal(budget.spend(cut(5), 5), undefined, 'within ten minutes of the last steady try');
  now = 1_270_000;
  assert.match(budget.spend(cut(5), 5)?.message ?? '', /\(gave up after 4 attempts, 610 s of retrying, past the 600 s one request may spend\)$/);
});

test('RetryBudget: the count of tries without a byte still ends a dead server first', () => {
  let now = 0;
  const budget = new RetryBudget(1, { timeLimit: 600_000, now: () => now });
  assert.equal(budget.spend(cut(0), 0), undefined);
  now = 1000;
  assert.match(budget.spend(cut(0), 0)?.message ?? '', /\(gave up after 2 attempts\)$/);
});

test('the default time limit leaves the default retries their whole course, whatever the timeout', () => {
  // The longest a dead server can make the default retries last: every try waits out the timeout, and every wait is
  // the longest a Retry-After gets (more than any backoff, even jittered).
  const longestWait = retryWait(1, DEFAULT_RETRY_DELAY, '3600');
  assert.ok(longestWait >= 1.2 * 30_000);
  for (const timeout of [1000, DEFAULT_TIMEOUT, 120_000, 600_000]) {
    const deadServer = (DEFAULT_RETRIES + 1) * timeout + DEFAULT_RETRIES * longestWait;
    assert.ok(deadServer < retryTimeLimitFor(timeout), `timeout ${timeout}: ${deadServer} ms of retries, limit ${retryTimeLimitFor(timeout)}`);
  }
  assert.equal(retryTimeLimitFor(DEFAULT_TIMEOUT), 600_000);
});
