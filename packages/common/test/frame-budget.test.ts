import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { AbortError, ErrorCode, FrameBudget, FramepipeError } from '../src/index.ts';

/** Resolves to true if `promise` settles within a few turns of the event loop. */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 5; i++) await tick();
  return settled;
}

test('capacity must be a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) assert.throws(() => new FrameBudget(bad), RangeError);
  assert.equal(new FrameBudget(3).capacity, 3);
});

test('the (capacity + 1)th acquire waits until a release', async () => {
  const budget = new FrameBudget(3);
  for (let i = 0; i < 3; i++) await budget.acquire();
  assert.equal(budget.inUse, 3);
  const fourth = budget.acquire();
  assert.equal(await settlesSoon(fourth), false, 'the fourth acquire must wait');
  assert.equal(budget.inUse, 3);
  budget.release();
  assert.equal(await settlesSoon(fourth), true, 'a release must hand the unit to the waiter');
  await fourth;
  // The unit went straight to the waiter: still 3 in use.
  assert.equal(budget.inUse, 3);
});

test('waiters are served oldest first, one unit per release', async () => {
  const budget = new FrameBudget(1);
  await budget.acquire();
  const order: number[] = [];
  const waiters = [1, 2, 3].map((n) => budget.acquire().then(() => order.push(n)));
  budget.release();
  await tick();
  assert.deepEqual(order, [1]);
  budget.release();
  budget.release();
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(budget.inUse, 1);
  budget.release();
  assert.equal(budget.inUse, 0);
});

test('release without acquire throws', () => {
  const budget = new FrameBudget(2);
  assert.throws(() => budget.release(), /called more often than acquire/);
});

test('close rejects every waiter and every later acquire, with the given error', async () => {
  const budget = new FrameBudget(1);
  await budget.acquire();
  const waiting = [budget.acquire(), budget.acquire()];
  const reason = new Error('pipeline failed');
  budget.close(reason);
  for (const waiter of waiting) await assert.rejects(waiter, (error) => error === reason);
  await assert.rejects(budget.acquire(), (error) => error === reason);
  // A second close changes nothing.
  budget.close(new Error('other'));
  await assert.rejects(budget.acquire(), (error) => error === reason);
});

test('close without an error rejects with an AbortError', async () => {
  const budget = new FrameBudget(1);
  await budget.acquire();
  const waiter = budget.acquire();
  budget.close();
  await assert.rejects(waiter, (error) => error instanceof AbortError && (error as FramepipeError).code === ErrorCode.ABORTED);
  await assert.rejects(budget.acquire(), AbortError);
});

test('an abort signal rejects its waiter only; the unit then goes to the next one', async () => {
  const budget = new FrameBudget(1);
  await budget.acquire();
  const controller = new AbortController();
  const aborted = budget.acquire(controller.signal);
  const patient = budget.acquire();
  const reason = new Error('stop');
  controller.abort(reason);
  await assert.rejects(aborted, (error) => error instanceof AbortError && error.cause === reason);
  budget.release();
  assert.equal(await settlesSoon(patient), true, 'the aborted waiter must have left the queue');
  assert.equal(budget.inUse, 1);
});

test('an already aborted signal rejects at once, even with units free', async () => {
  const budget = new FrameBudget(4);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(budget.acquire(controller.signal), AbortError);
  assert.equal(budget.inUse, 0);
});

test('a signal that fires after its acquire resolved does nothing', async () => {
  const budget = new FrameBudget(1);
  await budget.acquire();
  const controller = new AbortController();
  const waiter = budget.acquire(controller.signal);
  budget.release();
  await waiter;
  controller.abort();
  assert.equal(budget.inUse, 1);
  const next = budget.acquire();
  budget.release();
  await next;
  assert.equal(budget.inUse, 1);
});

test('BufferPool: a buffer given back is the next one taken; capacity, size changes and double gives are safe', async () => {
  const { BufferPool } = await import('../src/index.ts');
  const pool = new BufferPool(2);
  const a = pool.take(100);
  const b = pool.take(100);
  assert.notEqual(a, b);
  assert.equal(a.byteLength, 100);
  pool.give(a);
  pool.give(a);
  assert.equal(pool.available, 1, 'a buffer given twice is held once');
  assert.equal(pool.take(100), a);
  pool.give(a);
  pool.give(b);
  pool.give(Buffer.alloc(100));
  assert.equal(pool.available, 2, 'no more than the capacity is kept');
  pool.give(Buffer.alloc(50));
  assert.equal(pool.available, 2, 'a buffer of another size is not kept');
  const c = pool.take(200);
  assert.equal(c.byteLength, 200);
  assert.equal(pool.available, 0, 'a new size drops the old buffers');
  assert.throws(() => new BufferPool(0), { code: 'ERR_FRAMEPIPE_INVALID_OPTION', option: 'capacity' });
});

test('stallTimeout: a wait with no unit given back for that long fails with ERR_FRAMEPIPE_STALLED', async () => {
  const budget = new FrameBudget(2, { stallTimeout: 60 });
  await budget.acquire();
  await budget.acquire();
  const started = performance.now();
  await assert.rejects(budget.acquire(), (error: unknown) => {
    assert.ok(error instanceof FramepipeError);
    assert.equal(error.code, ErrorCode.STALLED);
    assert.match(error.message, /all 2 of the frame budget are in use: .*budget\.release\(\)/);
    return true;
  });
  assert.ok(performance.now() - started >= 55, 'not before the timeout');
});

test('stallTimeout: a slow consumer that keeps giving units back is never taken for a stuck one', async () => {
  const budget = new FrameBudget(1, { stallTimeout: 80 });
  await budget.acquire();
  // Three waiters in a row: the last waits 150 ms in all, but a unit comes back every 50 ms.
  const waiters = [1, 2, 3].map(() => budget.acquire());
  for (const waiter of waiters) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    budget.release();
    await waiter;
  }
  budget.release();
  assert.equal(budget.inUse, 0);
  assert.throws(() => new FrameBudget(1, { stallTimeout: -1 }), /stallTimeout/);
});

test('stallTimeout: once the last waiter is aborted, no stall timer keeps the process alive', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timers();
  const budget = new FrameBudget(1, { stallTimeout: 60_000 });
  await budget.acquire();
  const controller = new AbortController();
  const waiting = budget.acquire(controller.signal);
  assert.equal(timers(), before + 1, 'the watch runs while someone waits');
  controller.abort();
  await assert.rejects(waiting, AbortError);
  assert.equal(timers(), before, 'and stops with the last waiter');
});
