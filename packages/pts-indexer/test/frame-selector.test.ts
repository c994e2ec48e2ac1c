import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Frame, Packet } from 'node-av';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import { FrameBudget, InvalidOptionError } from '@framepipe/common';
import { FrameSelector, PtsIndex, Selection, type NumberedFrame } from '../src/index.ts';

/** A map of `count` frames at pts 0, 100, 200, …; `bFramesNoCtts` makes it a decode-from-start stream. */
function makeIndex(count: number, bFramesNoCtts = false): PtsIndex {
  const index = new PtsIndex('scan', bFramesNoCtts);
  for (let i = 0; i < count; i++) {
    const packet = new Packet();
    packet.alloc();
    packet.pts = packet.dts = BigInt(i * 100);
    index.addPacket(packet);
    packet.free();
  }
  index.markComplete();
  return index;
}

/** A frame with only a pts, as a decoder would hand it over after taking a budget unit. */
async function frameAt(pts: bigint, budget: FrameBudget): Promise<Frame> {
  await budget.acquire();
  const frame = new Frame();
  frame.alloc();
  frame.pts = pts;
  return frame;
}

interface Run {
  readonly kept: number[];
  readonly doneAfter: number | null;
  readonly doneEvents: number;
  readonly inUseWhileHeld: number;
}

/**
 * Writes frames with these pts (null = no pts) through `selector`, collects what comes out while holding on to it
 * (the budget units stay taken), then frees the kept frames and gives their units back.
 */
async function run(selector: FrameSelector, ptsList: Array<number | null>, budget: FrameBudget): Promise<Run> {
  const held: NumberedFrame[] = [];
  let doneEvents = 0;
  let doneAfter: number | null = null;
  let written = 0;
  selector.on('done', () => {
    doneEvents++;
    doneAfter ??= written;
  });
  selector.on('data', (item) => held.push(item as NumberedFrame));
  for (const pts of ptsList) {
    const frame = await frameAt(pts === null ? AV_NOPTS_VALUE : BigInt(pts), budget);
    written++;
    if (!selector.write(frame)) await once(selector, 'drain');
  }
  selector.end(null);
  await once(selector, 'close');
  const inUseWhileHeld = budget.inUse;
  for (const { frame } of held) {
    assert.equal(typeof frame.pts, 'bigint');
    frame.free();
    budget.release();
  }
  return { kept: held.map((h) => h.index), doneAfter, doneEvents, inUseWhileHeld };
}

test('keeps exactly [start, end], each once; drops unnumbered, duplicate and out-of-range frames', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(10), { start: 2, end: 5, budget });
  const result = await run(
    selector,
    [0, 100, null, 200, 200, 250, 300, -100, 400, 300, 500, 600, 700],
    budget,
  );
  assert.deepEqual(result.kept, [2, 3, 4, 5]);
  // 0, 100 (before start), null, 200 again, 250 (unknown), -100 (unknown), 300 again, then 600 and 700 after done.
  assert.equal(selector.framesDropped, 9);
  assert.equal(result.inUseWhileHeld, 4, 'every dropped frame gave its budget unit back; kept ones still hold theirs');
  assert.equal(budget.inUse, 0);
  assert.equal(result.doneEvents, 1);
  assert.equal(result.doneAfter, 11, "'done' as soon as frame 5 passed");
  assert.equal(selector.done, true);
  assert.deepEqual([selector.selection.start, selector.selection.end], [2, 5]);
});

test('missed: once the input ends, the frames of the selection that never came; unnumbered frames are counted', async () => {
  const budget = new FrameBudget(64);
  const calls: number[][] = [];
  const selector = new FrameSelector(makeIndex(10), { frames: [1, 3, 4, 8, 12], budget, missed: (frames) => (calls.push([...frames]), null) });
  const result = await run(selector, [0, null, 100, 250, 400, 500, 600, 700, 900], budget);
  assert.deepEqual(result.kept, [1, 4]);
  assert.deepEqual(calls, [[3, 8]], 'frame 12 is past the index: not the selector\'s to report');
  assert.equal(selector.framesUnnumbered, 2, 'the frame without pts and the one at 250');

  const failing = new FrameSelector(makeIndex(10), { start: 2, end: 3, budget, missed: (frames) => new Error(`missing ${frames.join(', ')}`) });
  await assert.rejects(run(failing, [200], budget), /^Error: missing 3$/);
});

test('step keeps every n-th frame from start and is done after the last one of the range', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(20), { start: 3, end: 12, step: 4, budget });
  const all = Array.from({ length: 20 }, (_, i) => i * 100);
  const result = await run(selector, all, budget);
  assert.deepEqual(result.kept, [3, 7, 11]);
  assert.equal(result.doneAfter, 12, "'done' as soon as frame 11, the last of 3..12 by 4, passed");
  assert.equal(budget.inUse, 0);
  const open = new FrameSelector(makeIndex(20), { start: 10, step: 3, budget });
  assert.deepEqual((await run(open, all, budget)).kept, [10, 13, 16, 19]);
});

test('frames keeps only the listed numbers, each once, done after the last', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(20), { frames: [15, 2, 9, 9], budget });
  const all = Array.from({ length: 20 }, (_, i) => i * 100);
  const result = await run(selector, all, budget);
  assert.deepEqual(result.kept, [2, 9, 15]);
  assert.equal(result.doneAfter, 16);
  assert.equal(result.inUseWhileHeld, 3);
  assert.throws(() => new FrameSelector(makeIndex(2), { frames: [1, -1] }), InvalidOptionError);
  assert.throws(() => new FrameSelector(makeIndex(2), { frames: 3 as never }), InvalidOptionError);
  assert.throws(() => new FrameSelector(makeIndex(2), { step: 0 }), InvalidOptionError);
  assert.throws(() => new FrameSelector(makeIndex(2), { frames: [1], start: 1 }), InvalidOptionError);
});

test('a Selection serves as it is; times must be turned into frames first', async () => {
  const budget = new FrameBudget(64);
  const selection = Selection.from({ start: 1, end: 7, step: 3 });
  const selector = new FrameSelector(makeIndex(10), { selection, budget });
  assert.equal(selector.selection, selection);
  assert.deepEqual((await run(selector, Array.from({ length: 10 }, (_, i) => i * 100), budget)).kept, [1, 4, 7]);
  assert.throws(() => new FrameSelector(makeIndex(2), { selection: Selection.from({ timestamps: [1] }) }), /Selection\.atTimes/);
  assert.throws(() => new FrameSelector(makeIndex(2), { selection, start: 1 }), InvalidOptionError);
  assert.equal(new FrameSelector(makeIndex(2), { selection, start: undefined }).selection, selection, 'a key set to undefined is not given');
  assert.throws(() => new FrameSelector(makeIndex(2), { selection: { start: 1 } as never }), InvalidOptionError);
});

test('after done, even a wanted-looking frame is dropped', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(10), { start: 0, end: 1, budget });
  const result = await run(selector, [0, 100, 0, 100, 200], budget);
  assert.deepEqual(result.kept, [0, 1]);
  assert.equal(selector.framesDropped, 3);
  assert.equal(result.inUseWhileHeld, 2);
});

test('without end: keeps start..last and never says done', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(10), { start: 7, budget });
  const result = await run(selector, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900], budget);
  assert.deepEqual(result.kept, [7, 8, 9]);
  assert.equal(result.doneEvents, 0);
  assert.equal(selector.done, false);
  assert.equal(selector.selection.end, undefined);
  assert.equal(result.inUseWhileHeld, 3);
});

test('a start past the last frame keeps nothing', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(5), { start: 5, budget });
  const result = await run(selector, [0, 100, 200, 300, 400], budget);
  assert.deepEqual(result.kept, []);
  assert.equal(result.inUseWhileHeld, 0);
});

test('a frame past end means done, when frames come in pts order', async () => {
  const budget = new FrameBudget(64);
  // Frame 4 never arrives (say it was corrupt): frame 6 shows it never will.
  const selector = new FrameSelector(makeIndex(10), { start: 3, end: 5, budget });
  const result = await run(selector, [300, 500, 600, 400], budget);
  assert.deepEqual(result.kept, [3, 5]);
  assert.equal(result.doneEvents, 1);
  assert.equal(result.doneAfter, 3);
});

test('a decode-from-start stream waits for every wanted frame, whatever passes first', async () => {
  const budget = new FrameBudget(64);
  const index = makeIndex(10, true);
  assert.equal(index.decodeFromStart, true);
  const selector = new FrameSelector(index, { start: 3, end: 5, budget });
  const result = await run(selector, [300, 500, 600, 400, 700], budget);
  assert.deepEqual(result.kept, [3, 5, 4]);
  assert.equal(result.doneEvents, 1);
  assert.equal(result.doneAfter, 4, "'done' once frame 4, the last one missing, arrived");
});

test('backpressure: with nobody reading, write() asks to wait and at most the buffered frames are kept', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  try {
    const budget = new FrameBudget(64);
    const selector = new FrameSelector(makeIndex(10), { budget, highWaterMark: 1 });
    const kept: number[] = [];
    selector.on('kept', (index) => kept.push(index as number));
    const answers: boolean[] = [];
    for (let i = 0; i < 4; i++) answers.push(selector.write(await frameAt(BigInt(i * 100), budget)));
    await tick();
    assert.equal(answers.at(-1), false, 'the writer is told to wait');
    assert.equal(budget.inUse, 4, 'no frame was dropped to make room');
    // Frame 0 waits unread in the output, frame 1 is parked, frames 2 and 3 are queued.
    assert.deepEqual(kept, [0]);
    selector.destroy();
    await once(selector, 'close');
    assert.equal(budget.inUse, 0, 'destroy freed the queued, parked and buffered frames and gave their units back');
    assert.equal(counter.live().frames, 0);
  } finally {
    counter.restore();
  }
});

test('destroy mid-stream while the consumer holds some frames', async () => {
  const budget = new FrameBudget(64);
  const selector = new FrameSelector(makeIndex(10), { start: 0, end: 9, budget });
  const iterator = selector[Symbol.asyncIterator]();
  for (let i = 0; i < 6; i++) selector.write(await frameAt(BigInt(i * 100), budget));
  const first = (await iterator.next()).value as NumberedFrame;
  assert.equal(first.index, 0);
  selector.destroy();
  await once(selector, 'close');
  // Only the frame the consumer took is still alive.
  assert.equal(budget.inUse, 1);
  first.frame.free();
  budget.release();
});

test('a frame written while the selector is being destroyed is freed, and its unit comes back', async () => {
  // The decoder writes until this stage has closed; streamx drops what reaches a destroyed stream without freeing it.
  const budget = new FrameBudget(4);
  const selector = new FrameSelector(makeIndex(10), { budget });
  const closed = once(selector, 'close');
  selector.destroy();
  const late = await frameAt(100n, budget);
  let freed = false;
  const free = late.free.bind(late);
  late.free = () => {
    freed = true;
    free();
  };
  assert.equal(selector.write(late), false);
  assert.ok(freed, 'the late frame was freed');
  assert.equal(budget.inUse, 0);
  await closed;
});

test('options are checked with exact messages', () => {
  const index = makeIndex(3);
  const cases: Array<[unknown, string, string]> = [
    [{ start: -1 }, 'start', 'Expected a non-negative integer for start but received -1 of type number'],
    [{ end: 1.5 }, 'end', 'Expected a non-negative integer for end but received 1.5 of type number'],
    [{ start: 3, end: 2 }, 'end', 'Expected an integer >= start (3) for end but received 2 of type number'],
    [{ budget: 4 }, 'budget', 'Expected a FrameBudget for budget but received 4 of type number'],
    [{ highWaterMark: 0 }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received 0 of type number'],
    [{ stop: 3 }, 'stop', 'Unknown option stop for FrameSelector; known options: start, end, step, frames, selection, budget, highWaterMark, missed'],
  ];
  for (const [options, option, message] of cases) {
    assert.throws(
      () => new FrameSelector(index, options as never),
      (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
      message,
    );
  }
  assert.deepEqual([new FrameSelector(index).selection.start, new FrameSelector(index).selection.end], [0, undefined]);
});

test('an empty frames list is done at the first frame, not after the whole video', async () => {
  const { PtsIndex } = await import('../src/index.ts');
  const index = new PtsIndex('scan', false);
  const selector = new FrameSelector(index, { frames: [] });
  let done = 0;
  selector.on('done', () => done++);
  const { Frame } = await import('node-av');
  const frame = new Frame();
  frame.alloc();
  selector.write(frame);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, 1);
  selector.destroy();
});
