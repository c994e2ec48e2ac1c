import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from 'node:events';
import { Readable, Transform, Writable } from 'streamx';
import { InFlight, StageBuffers, objectStreamOptions } from '../src/index.ts';

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

const tick = () => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------------------------
// The streamx behaviour StageBuffers relies on. If an upgrade of streamx changes any of it, these fail: otherwise
// stages would leak native packets and frames, or free one a reader still holds.

/** Counts, per item id, how often streamx measured it, and logs the measures and the hooks in order. */
function probe() {
  const log: string[] = [];
  const measures = (side: 'in' | 'out') => (item: unknown): number => {
    log.push(`${side}:${(item as Item).id}`);
    return 1;
  };
  const count = (entry: string) => log.filter((e) => e === entry).length;
  return { log, count, byteLength: () => 1, byteLengthWritable: measures('in'), byteLengthReadable: measures('out') };
}

const READERS: Record<string, (stream: Readable, taken: Item[]) => Promise<void>> = {
  'read()': async (stream, taken) => {
    while (taken.length < 3) {
      const item = stream.read() as Item | null;
      if (item === null) await tick(); // the first read() opens the stream and answers null
      else taken.push(item);
    }
  },
  "a 'data' listener": async (stream, taken) => {
    stream.on('data', (item) => taken.push(item as Item));
    await tick();
  },
  'a pipe': async (stream, taken) => {
    const sink = new Writable({ write: (item, cb) => (taken.push(item as Item), cb(null)) });
    sink.on('error', () => {}); // destroyed with the source at the end of the test
    stream.pipe(sink);
    await tick();
  },
  'an async iterator': async (stream, taken) => {
    stream.push(null);
    for await (const item of stream) taken.push(item as Item);
  },
};

for (const [reader, read] of Object.entries(READERS)) {
  test(`streamx contract: a pushed item is measured once as it is pushed and once as ${reader} takes it`, async () => {
    const { log, count, ...options } = probe();
    const stream = new Readable({ ...options, highWaterMark: 8 });
    for (let id = 0; id < 3; id++) {
      stream.push({ id });
      assert.equal(count(`out:${id}`), 1, 'measured inside push(), before anything else can happen');
    }
    await tick();
    assert.deepEqual(log, ['out:0', 'out:1', 'out:2'], 'not measured again while it waits');
    const taken: Item[] = [];
    await read(stream, taken);
    assert.deepEqual(taken.map((item) => item.id), [0, 1, 2]);
    assert.deepEqual([0, 1, 2].map((id) => count(`out:${id}`)), [2, 2, 2], 'measured once more as it left');
    assert.equal(log.filter((e) => e.startsWith('in:')).length, 0);
    stream.destroy();
  });
}

test('streamx contract: a written item is measured inside write(), and never again once _transform has it', async () => {
  const { log, count, ...options } = probe();
  const stream = new Transform({
    ...options,
    highWaterMark: 1,
    transform(item, cb) {
      log.push(`transform:${(item as Item).id}`);
      cb(null, { id: (item as Item).id + 100 });
    },
  });
  for (let id = 0; id < 4; id++) {
    stream.write({ id });
    assert.equal(count(`in:${id}`), 1, 'measured inside write()');
  }
  // Output 100 fills the readable side (high-water mark 1): input 1 is parked, 2 and 3 wait in the queue.
  await tick();
  assert.deepEqual(log.filter((e) => e.startsWith('transform:')), ['transform:0']);
  while (log.filter((e) => e.startsWith('transform:')).length < 4) {
    stream.read();
    await tick();
  }
  for (const id of [0, 1, 2, 3]) {
    const handed = log.indexOf(`transform:${id}`);
    assert.ok(log.lastIndexOf(`in:${id}`) < handed, `input ${id} is not measured after _transform got it`);
    assert.equal(count(`out:${id}`), 0, 'an input is never measured as an output');
    assert.ok(count(`out:${id + 100}`) >= 1, 'its output is measured as an output');
    assert.equal(count(`in:${id + 100}`), 0, 'an output is never measured as an input');
  }
  stream.destroy();
});

test('streamx contract: write() to a stream being destroyed is dropped unmeasured and reaches no hook', async () => {
  const { log, ...options } = probe();
  const stream = new Transform({ ...options, transform: (item, cb) => (log.push(`transform:${(item as Item).id}`), cb(null, null)) });
  stream.destroy();
  assert.equal(stream.destroying, true);
  assert.equal(stream.write({ id: 7 }), false);
  await once(stream, 'close');
  assert.deepEqual(log, []);
});

test('streamx contract: after destroy(), nothing buffered moves on and nothing more is measured', async () => {
  const { log, ...options } = probe();
  const stream = new Transform({
    ...options,
    highWaterMark: 1,
    transform: (item, cb) => (log.push(`transform:${(item as Item).id}`), cb(null, { id: (item as Item).id + 100 })),
  });
  for (let id = 0; id < 5; id++) stream.write({ id });
  await tick();
  // Output 100 waits unread, input 1 is parked, inputs 2 to 4 are queued.
  assert.deepEqual(log.filter((e) => e.startsWith('transform:')), ['transform:0']);
  const before = log.length;
  stream.destroy();
  assert.equal(stream.read(), null);
  stream.on('data', (item) => log.push(`data:${(item as Item).id}`));
  await once(stream, 'close');
  await tick();
  assert.deepEqual(log.slice(before), [], 'no measure, no _transform, nothing read after destroy()');
});

test('streamx contract: _destroy waits for a running _transform, so what it pushes late is already measured', async () => {
  const { log, ...options } = probe();
  let finish!: () => void;
  const stream = new Transform({
    ...options,
    transform(item, cb) {
      finish = () => cb(null, { id: (item as Item).id + 100 });
    },
    destroy(cb) {
      log.push('destroy');
      cb(null);
    },
  });
  stream.write({ id: 0 });
  await tick();
  stream.destroy();
  await tick();
  assert.ok(!log.includes('destroy'), '_destroy waits');
  finish();
  await once(stream, 'close');
  assert.deepEqual(log.slice(-2), ['out:100', 'destroy']);
});

// ---------------------------------------------------------------------------------------------------------------
// StageBuffers

/** A Transform that tracks its buffers with StageBuffers, as the stages do, and records what it released. */
class Tracked extends Transform {
  readonly released: string[] = [];
  readonly #buffered: StageBuffers<Item, Item>;
  #hold: ((done: () => void) => void) | null;

  constructor(highWaterMark: number, hold: ((done: () => void) => void) | null = null) {
    const buffered = new StageBuffers<Item, Item>();
    super(buffered.options(highWaterMark));
    this.#hold = hold;
    this.#buffered = buffered.attach(this, {
      input: (item) => this.released.push(`in:${item.id}`),
      output: (item) => this.released.push(`out:${item.id}`),
    });
  }

  override write(item: Item): boolean {
    return this.#buffered.admit(item) && super.write(item);
  }

  override _transform(item: Item, cb: (err: Error | null, data?: unknown) => void): void {
    this.#buffered.take(item);
    const output = { id: item.id + 100 };
    if (this.#hold) this.#hold(() => cb(null, output));
    else cb(null, output);
  }

  override _destroy(cb: (err: Error | null) => void): void {
    this.#buffered.release();
    cb(null);
  }
}

test('StageBuffers: on destroy, a queued input, a parked input and an unread output are each released once', async () => {
  const stream = new Tracked(1);
  for (let id = 0; id < 4; id++) stream.write({ id });
  await tick();
  // Output 100 waits unread, input 1 is parked (the output is full), inputs 2 and 3 wait in the write queue.
  stream.destroy();
  await once(stream, 'close');
  assert.deepEqual(stream.released.sort(), ['in:1', 'in:2', 'in:3', 'out:100']);
});

test('StageBuffers: what a reader took is its own, whichever way it took it', async () => {
  const stream = new Tracked(8);
  const taken: Item[] = [];
  const sink = new Writable({ ...objectStreamOptions(1), write: (item, cb) => (taken.push(item as Item), cb(null)) });
  sink.on('error', () => {}); // destroyed with the stream at the end
  stream.pipe(sink);
  stream.write({ id: 0 });
  stream.write({ id: 1 });
  await tick();
  assert.deepEqual(taken.map((item) => item.id), [100, 101]);
  const direct = new Tracked(8);
  direct.write({ id: 2 });
  direct.write({ id: 3 });
  await tick();
  assert.equal((direct.read() as Item).id, 102);
  for (const s of [stream, direct]) {
    s.destroy();
    await once(s, 'close');
  }
  assert.deepEqual(stream.released, []);
  assert.deepEqual(direct.released, ['out:103']);
});

test('StageBuffers.admit: an item written while the stage is being destroyed is released at once', async () => {
  const stream = new Tracked(1);
  stream.destroy();
  assert.equal(stream.write({ id: 5 }), false);
  assert.deepEqual(stream.released, ['in:5']);
  await once(stream, 'close');
  assert.deepEqual(stream.released, ['in:5'], 'and only once');
});

/** A Tracked stream destroyed while its _transform of item 0 still runs; `finish` lets that transform end. */
async function destroyedMidTransform(): Promise<{ stream: Tracked; finish: () => void }> {
  let finish!: () => void;
  const stream = new Tracked(4, (done) => (finish = done));
  stream.write({ id: 0 });
  await tick();
  stream.destroy();
  return { stream, finish: () => finish() };
}

test('StageBuffers: an output pushed by a _transform that finishes after destroy() is released too', async () => {
  const { stream, finish } = await destroyedMidTransform();
  finish();
  await once(stream, 'close');
  assert.deepEqual(stream.released, ['out:100']);
});

test('StageBuffers: when a reader starts the teardown while a _transform runs, what it pushes later is released as it comes', async () => {
  const { stream, finish } = await destroyedMidTransform();
  await tick();
  // A reader that arrives after destroy() lets streamx run _destroy from the readable side, before the transform
  // is done: the stream closes with the transform still running.
  stream.on('data', () => {});
  await once(stream, 'close');
  assert.deepEqual(stream.released, [], 'nothing was buffered when it closed');
  finish();
  await tick();
  assert.deepEqual(stream.released, ['out:100'], 'the late output is released once, as it is pushed');
});

test('StageBuffers in a Writable: the item in _write is the stage\'s own, the queued ones are released', async () => {
  const released: number[] = [];
  const inHand: Item[] = [];
  let kept: ((err: Error | null) => void) | null = null;
  const buffered = new StageBuffers<Item>();
  const stream = new Writable({
    ...buffered.options(8),
    write(item, cb) {
      buffered.take(item as Item);
      inHand.push(item as Item);
      kept = cb; // not called back yet: the rest stays queued
    },
    predestroy() {
      kept?.(new Error('destroyed'));
    },
    destroy(cb) {
      buffered.release();
      cb(null);
    },
  });
  buffered.attach(stream, { input: (item) => released.push(item.id) });
  for (let id = 0; id < 4; id++) stream.write({ id });
  await tick();
  assert.deepEqual(inHand.map((item) => item.id), [0]);
  stream.on('error', () => {});
  stream.destroy();
  await once(stream, 'close');
  assert.deepEqual(released.sort(), [1, 2, 3]);
});

test('StageBuffers: a stream that ends normally leaves nothing to release, and release() runs once', async () => {
  const stream = new Tracked(2);
  const taken: Item[] = [];
  stream.on('data', (item) => taken.push(item as Item));
  for (let id = 0; id < 5; id++) stream.write({ id });
  stream.end(null);
  await once(stream, 'close');
  assert.equal(taken.length, 5);
  assert.deepEqual(stream.released, []);
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
