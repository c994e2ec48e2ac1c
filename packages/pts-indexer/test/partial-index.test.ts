/**
 * PtsIndex.partial / fromPartial: the frames of a range of GOPs, described from a complete map, number exactly as
 * that map numbers them (as JSON too), and a range is described only where that holds and decoding can start.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packet } from 'node-av';
import { ErrorCode } from '@framepipe/common';
import { PtsIndex, checkPartialIndex } from '../src/index.ts';
import type { PartialIndex } from '../src/index.ts';

/** `[pts, dts, keyframe]` in decode order; each packet 1000 bytes after the one before (-1: no position). */
function scanned(packets: Array<[number, number, boolean?]>, pos = (i: number) => 1000 * i): PtsIndex {
  const index = new PtsIndex('scan', true);
  packets.forEach(([pts, dts, key], i) => {
    const p = new Packet();
    p.alloc();
    p.pts = BigInt(pts);
    p.dts = BigInt(dts);
    p.isKeyframe = key ?? false;
    p.pos = BigInt(pos(i));
    index.addPacket(p);
    p.free();
  });
  index.markComplete();
  return index;
}

/** Closed GOPs of 4 frames in 40-tick steps, decode order I P B B, dts two frames behind. */
function closedGops(gops: number): Array<[number, number, boolean?]> {
  const packets: Array<[number, number, boolean?]> = [];
  for (let g = 0; g < gops; g++) {
    const t = 160 * g;
    packets.push([t, t - 80, true], [t + 120, t - 40], [t + 40, t], [t + 80, t + 40]);
  }
  return packets;
}

/** Every frame of `partial` numbers as in `whole`, and no other pts gets a number. */
function assertSameNumbers(whole: PtsIndex, partial: PtsIndex, first: number, last: number): void {
  for (let n = 0; n < whole.size; n++) {
    const pts = whole.ptsAt(n)!;
    assert.equal(partial.indexOf(pts), n >= first && n <= last ? whole.indexOf(pts) : undefined, `pts ${pts}`);
  }
  for (let n = first; n <= last; n++) assert.equal(partial.ptsAt(n), whole.ptsAt(n));
  assert.equal(partial.ptsAt(first - 1), undefined);
  assert.equal(partial.size, last + 1);
}

test('a range of closed GOPs: its pts as one run, its keyframe with its byte, the next keyframe as its end', () => {
  const whole = scanned(closedGops(4));
  const partial = whole.partial(4, 11)!;
  assert.deepEqual(partial, { first: 4, pts: [[160, 40, 8]], keyframe: { pts: 160, dts: 80, pos: 4000 }, end: 12000, cut: true });
  const index = PtsIndex.fromPartial(JSON.parse(JSON.stringify(partial)) as PartialIndex, true);
  assert.equal(index.strategy, 'partial');
  assertSameNumbers(whole, index, 4, 11);
  assert.deepEqual(index.partialRange, { first: 4, last: 11, start: 4000, end: 12000, cut: true });
  for (let n = 4; n <= 11; n++) assert.deepEqual(index.keyframeFor(n), { pts: 160n, dts: 80n });
  assert.deepEqual([4, 5, 8, 11].map((n) => index.isKeyframe(n)), [true, false, false, false], 'it knows its own keyframe only');
  assert.equal(index.keyframePosition(index.keyframeFor(4)!), 4000);
  assert.equal(index.decodeFromStart, false);
  // The last range ends with the file.
  assert.equal(whole.partial(12, 15)!.end, null);
  assert.equal(whole.partial(12, 15)!.cut, false);
});

test('an open GOP next: the range does not end at its keyframe, whose leading pictures are frames of the range', () => {
  // GOP 2 opens with I at 320 and two leading B-frames shown before it (240, 280), decoded after it.
  const packets: Array<[number, number, boolean?]> = [
    [0, -80, true], [120, -40], [40, 0], [80, 40], [200, 80], [160, 120],
    [320, 160, true], [240, 200], [280, 240], [440, 280], [360, 320], [400, 360],
  ];
  const whole = scanned(packets);
  const partial = whole.partial(0, 7)!;
  assert.equal(partial.end, 6000);
  assert.equal(partial.cut, false);
  assertSameNumbers(whole, PtsIndex.fromPartial(partial, true), 0, 7);
  assert.deepEqual(whole.partial(8, 11)?.pts, [[320, 40, 4]]);
});

test('variable frame durations: a run per change of step, and the same numbers', () => {
  const durations = [40, 120, 40, 120, 40, 40, 120, 40];
  const packets: Array<[number, number, boolean?]> = [];
  let t = 0;
  durations.forEach((d, i) => {
    packets.push([t, t - 40, i % 4 === 0]);
    t += d;
  });
  const whole = scanned(packets);
  const partial = whole.partial(4, 7)!;
  assert.deepEqual(partial.pts, [[320, 40, 3], [520, 0, 1]]);
  assertSameNumbers(whole, PtsIndex.fromPartial(partial, false), 4, 7);
});

test('no description where it would number otherwise or cannot start', () => {
  const whole = scanned(closedGops(3));
  assert.equal(whole.partial(5, 7), null, 'frame 5 is no keyframe');
  assert.equal(whole.partial(4, 12), null, 'past the last frame');
  assert.equal(scanned(closedGops(3), () => -1).partial(4, 7), null, 'no byte position');
  const unfinished = new PtsIndex('scan', false);
  assert.equal(unfinished.partial(0, 0), null, 'an incomplete map');
  // A pts repeated across the end of the range numbers as its last repeat, past the range.
  const repeated = scanned([[0, 0, true], [40, 40], [40, 40, true], [80, 80]]);
  assert.equal(repeated.partial(0, 1), null);
});

test("a clock that never settles into long runs (Matroska's milliseconds at 29.97 fps) is not described past 64 runs", () => {
  // Steps of 33 and 34 ms in no long pattern: a run for about every one and a half frames.
  const packets: Array<[number, number, boolean?]> = [];
  for (let n = 0; n < 400; n++) packets.push([Math.round((n * 1001) / 30), Math.round((n * 1001) / 30) - 34, n % 100 === 0]);
  const whole = scanned(packets);
  const short = whole.partial(0, 39)!;
  assert.ok(short.pts.length > 1 && short.pts.length <= 64, `${short.pts.length} runs`);
  assertSameNumbers(whole, PtsIndex.fromPartial(short, false), 0, 39);
  assert.equal(whole.partial(100, 399), null, '300 frames need more than 64 runs: the run scans instead');
});

test('checkPartialIndex takes what partial() gives, and names what is wrong otherwise', () => {
  const good = scanned(closedGops(3)).partial(4, 7)!;
  assert.equal(checkPartialIndex(good, 'partialIndex'), good);
  const bad: Array<[unknown, RegExp]> = [
    [null, /partialIndex/],
    [{ ...good, extra: 1 }, /partialIndex/],
    [{ ...good, first: -1 }, /partialIndex/],
    [{ ...good, pts: [] }, /partialIndex/],
    [{ ...good, pts: [[200, 40, 2], [100, 40, 1]] }, /partialIndex\.pts/],
    [{ ...good, keyframe: { ...good.keyframe, pos: 'x' } }, /partialIndex\.keyframe/],
    [{ ...good, keyframe: { ...good.keyframe, pts: 999 } }, /partialIndex\.keyframe\.pts/],
    [{ ...good, end: 10 }, /partialIndex\.end/],
    [{ ...good, end: null, cut: true }, /partialIndex\.cut/],
    // Small as a record, huge once listed: a billion frames would take the worker's memory before any check.
    [{ ...good, pts: [[160, 0, 1_000_000_000]] }, /at most 4000000 frames in all for partialIndex\.pts but received "1000000000 frames"/],
    [{ ...good, pts: [[160, 40, 3_999_999], [160 + 40 * 3_999_999, 40, 2]] }, /at most 4000000 frames/],
    [{ ...good, pts: Array.from({ length: 65 }, (_, i) => [160 + 100 * i, 40, 2]) }, /partialIndex/],
  ];
  for (const [value, message] of bad) assert.throws(() => checkPartialIndex(value, 'partialIndex'), { code: ErrorCode.INVALID_OPTION, message }, JSON.stringify(value));
});
