import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from 'node:events';
import { Readable, Transform, Writable } from 'streamx';
import { InFlight, objectStreamOptions, releaseBuffered } from '../src/index.ts';

interface Item {
  readonly id: number;
}

test('objectStreamOptions: the high-water mark counts items', () => {
  const options = objectStreamOptions(4);
  assert.equal(options.highWaterMark, 4);
  assert.equal(options.byteLength(), 1);
  const stream = new Readable(options);
  const accepted = [1, 2, 3, 4, 5].map((id) => stream.push({ id }));
  // push() answers "keep going" while fewer than 4 items are buffered.
  assert.deepEqual(accepted, [true, true, true, false, false]);
  stream.destroy();
});

test('without it, streamx would take 16 objects before pushing back', () => {
  // The reason the helper exists: each object counts as 1024 bytes against 16 KiB.
  const stream = new Readable();
  let accepted = 0;
  while (stream.push({ id: accepted })) accepted++;
  assert.equal(accepted, 15);
  stream.destroy();
});

test('releaseBuffered (from _predestroy) frees every item still queued in a Readable, once, in order', async () => {
  const released: number[] = [];
  const stream = new Readable({
    ...objectStreamOptions(8),
    predestroy() {
      releaseBuffered<Item>(this, (item) => released.push(item.id));
    },
  });
  for (let id = 0; id < 5; id++) stream.push({ id });
  stream.destroy();
  await once(stream, 'close');
  assert.deepEqual(released, [0, 1, 2, 3, 4]);
});

test('releaseBuffered skips what the consumer already took', async () => {
  const released: number[] = [];
  const stream = new Readable({
    ...objectStreamOptions(8),
    predestroy() {
      releaseBuffered<Item>(this, (item) => released.push(item.id));
    },
  });
  for (let id = 0; id < 4; id++) stream.push({ id });
  await once(stream, 'readable');
  const taken = stream.read() as Item;
  assert.equal(taken.id, 0);
  stream.destroy();
  await once(stream, 'close');
  assert.deepEqual(released, [1, 2, 3]);
});

test('releaseBuffered frees items waiting in a Writable queue', async () => {
  const released: number[] = [];
  const writes: number[] = [];
  let finishWrite: ((err: Error | null) => void) | null = null;
  const stream = new Writable({
    ...objectStreamOptions(8),
    write(item, cb) {
      writes.push((item as Item).id);
      finishWrite = cb; // held: later items stay queued
    },
    predestroy() {
      releaseBuffered<Item>(this, (item) => released.push(item.id));
    },
  });
  stream.on('error', () => {});
  for (let id = 0; id < 4; id++) stream.write({ id });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, [0]);
  stream.destroy();
  assert.ok(finishWrite, 'the first write is in hand');
  (finishWrite as (err: Error | null) => void)(null);
  await once(stream, 'close');
  assert.deepEqual(writes, [0], 'no queued item may be written after destroy');
  assert.deepEqual(released, [1, 2, 3]);
});

test('releaseBuffered frees the item a Transform parked because its output was full', async () => {
  const released: number[] = [];
  const stream = new Transform({
    ...objectStreamOptions(1),
    predestroy() {
      releaseBuffered<Item>(this, (item) => released.push(item.id));
    },
  });
  // Item 0 fills the output buffer (high-water mark 1); item 1 is parked; item 2 waits in the write queue.
  for (let id = 0; id < 3; id++) stream.write({ id });
  await new Promise((resolve) => setImmediate(resolve));
  stream.destroy();
  await once(stream, 'close');
  assert.deepEqual(released.sort(), [0, 1, 2]);
  // released once each: streamx itself must not have handed the parked item on
  assert.equal(released.length, 3);
});

test('InFlight.settled waits for every tracked call, whatever its outcome, and never rejects', async () => {
  const inFlight = new InFlight();
  const order: string[] = [];
  let finishSlow!: () => void;
  const slow = new Promise<void>((resolve) => (finishSlow = resolve)).then(() => order.push('slow'));
  inFlight.track(slow);
  const failing = inFlight.track(Promise.reject(new Error('boom')));
  await assert.rejects(failing, /boom/, 'track returns the call unchanged');
  const settled = inFlight.settled().then(() => order.push('settled'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, [], 'not settled while a call runs');
  finishSlow();
  await settled;
  assert.deepEqual(order, ['slow', 'settled']);
});

test('InFlight keeps no result of a settled call: what a stage tracked (a frame) can be collected', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const inFlight = new InFlight();
  const refs: Array<WeakRef<object>> = [];
  for (let i = 0; i < 50; i++) {
    const result = { frame: Buffer.alloc(1024) };
    refs.push(new WeakRef(result));
    await inFlight.track(Promise.resolve(result));
  }
  await inFlight.settled();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const alive = refs.filter((ref) => ref.deref() !== undefined).length;
  // Before the fix, each allSettled result array held the previous one, and with it every result: all 50 alive.
  assert.ok(alive <= 1, `${alive} of 50 results still reachable`);
});
