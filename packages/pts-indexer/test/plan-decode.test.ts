import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Packet } from 'node-av';
import { AV_PKT_FLAG_KEY } from 'node-av/constants';
import { InvalidOptionError } from '@framepipe/common';
import { Mp4SampleTable, PtsIndex, SAMPLE_KEYFRAME, SCAN_MARGIN, Selection, decodeBytes, planDecode } from '../src/index.ts';
import type { DecodePlan } from '../src/index.ts';

/**
 * The index of an MP4 with `count` frames at 25 fps (time base 1/25, frame n shown at pts n + 2) in GOPs of
 * `gop`, coded IPBB…: within a GOP each P-frame comes before the two B-frames it follows in display order, so pts
 * and dts differ. `noCtts` drops the composition offsets (pts = dts), Supervisely's decode-from-start case. Samples
 * are `sampleBytes` long, one after another in decode order.
 */
function mp4Index(count: number, gop: number, noCtts = false, sampleBytes = 0): PtsIndex {
  const pts = new BigInt64Array(count);
  const dts = new BigInt64Array(count);
  const flags = new Uint8Array(count);
  // Display order within a GOP, in decode order: I0 P3 B1 B2 P6 B4 B5 …
  const decodeOrder: number[] = [];
  for (let first = 0; first < count; first += gop) {
    const last = Math.min(first + gop, count) - 1;
    decodeOrder.push(first);
    for (let p = first + 3; p <= last + 2; p += 3) {
      const shown = Math.min(p, last);
      decodeOrder.push(shown);
      for (let b = p - 2; b < shown; b++) decodeOrder.push(b);
    }
  }
  decodeOrder.forEach((shown, i) => {
    dts[i] = BigInt(i);
    pts[i] = noCtts ? BigInt(i) : BigInt(shown + 2);
    flags[i] = shown % gop === 0 ? SAMPLE_KEYFRAME : 0;
  });
  const table = new Mp4SampleTable({
    streamIndex: 0, trackId: 1, timescale: 25, codecTag: 'avc1', pts, dts,
    offsets: Float64Array.from({ length: count }, (_, i) => i * sampleBytes), sizes: new Uint32Array(count).fill(sampleBytes), flags, indexBytes: 0,
  });
  return PtsIndex.fromSampleTable(table, true);
}

const INFO = { timeBase: { num: 1, den: 25 }, duration: 4, frameCount: 100 };

/** The packet of frame `n` of an index built from a sample table, as a scan would have read it. */
function packetOf(index: PtsIndex, n: number): Packet {
  const table = index.sampleTable!;
  const sample = [...Array(table.count).keys()].find((i) => table.pts[i] === index.ptsAt(n))!;
  const packet = new Packet();
  packet.alloc();
  packet.pts = table.pts[sample]!;
  packet.dts = table.dts[sample]!;
  if (table.flags[sample]! & SAMPLE_KEYFRAME) packet.flags = AV_PKT_FLAG_KEY;
  return packet;
}

/** The frame number each part starts decoding from, and its last frame. */
function parts(plan: DecodePlan, index: PtsIndex): Array<[number, number]> {
  return plan.parts.map((part) => [index.indexOf(part.keyframe.pts)!, part.last]);
}

describe('planDecode', () => {
  const index = mp4Index(100, 10);

  test('the index is what the test says: 100 frames, keyframes every 10, composition offsets', () => {
    assert.equal(index.size, 100);
    assert.equal(index.decodeFromStart, false);
    assert.equal(index.indexOf(index.keyframeFor(37)!.pts), 30);
  });

  test('a range seeks to the keyframe shown at or before its start and decodes straight through', () => {
    const plan = planDecode(index, INFO, { start: 25, end: 34 });
    assert.equal(plan.total, 10);
    assert.equal(index.indexOf(plan.seek!.pts), 20);
    assert.equal(plan.seek!.dts, index.keyframeFor(25)!.dts);
    assert.deepEqual(plan.parts, []);
    assert.deepEqual([...plan.selection], [25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);
    // Frame 24 is decoded only to reach 25; frame 25 is wanted.
    assert.equal(plan.unwanted!(index.ptsAt(24)!), true);
    assert.equal(plan.unwanted!(index.ptsAt(25)!), false);
    assert.equal(plan.unwanted!(999n), true, 'a pts the index does not know is never kept');
  });

  test('a list lies in parts, one per run of neighbouring GOPs, each from its keyframe', () => {
    const plan = planDecode(index, INFO, { frames: [95, 5, 6, 47, 15] });
    assert.equal(plan.total, 5);
    assert.equal(index.indexOf(plan.seek!.pts), 0);
    // 5, 6 and 15 are in GOPs 0 and 10, next to each other: one part. 47 and 95 each stand alone.
    assert.deepEqual(parts(plan, index), [[0, 15], [40, 47], [90, 95]]);
    assert.deepEqual(
      Array.from({ length: 100 }, (_, n) => n).filter((n) => !plan.unwanted!(index.ptsAt(n)!)),
      [5, 6, 15, 47, 95],
    );
  });

  test('a step longer than a GOP jumps; a step that lands in every GOP does not', () => {
    assert.deepEqual(parts(planDecode(index, INFO, { step: 30 }), index), [[0, 0], [30, 30], [60, 60], [90, 90]]);
    assert.deepEqual(parts(planDecode(index, INFO, { start: 3, step: 10 }), index), [[0, 93]]);
    assert.deepEqual(planDecode(index, INFO, { start: 3, end: 50 }).parts, [], 'a plain range has no parts');
  });

  test('the end is capped at the last frame; frames past it and a start past it select nothing', () => {
    const capped = planDecode(index, INFO, { start: 90, end: 500 });
    assert.equal(capped.total, 10);
    assert.equal(capped.selection.end, 99);
    const listed = planDecode(index, INFO, { frames: [98, 99, 100, 250] });
    assert.deepEqual(listed.selection.frames, [98, 99]);
    assert.equal(listed.total, 2);
    for (const empty of [planDecode(index, INFO, { start: 100 }), planDecode(index, INFO, { frames: [120] }), planDecode(index, INFO, { frames: [] })]) {
      assert.equal(empty.total, 0);
      assert.equal(empty.seek, null);
      assert.deepEqual(empty.parts, []);
    }
  });

  test('pastEnd counts what a selection asks for past the last frame: listed numbers, the range after it, late times', () => {
    const past = (selection: Parameters<typeof Selection.from>[0]) => Selection.from(selection).pastEnd(index, INFO);
    assert.equal(past({ frames: [98, 99, 100, 250] }), 2);
    assert.equal(past({ start: 90, end: 500 }), 401);
    assert.equal(past({ start: 90, end: 120, step: 7 }), 3, '104, 111 and 118');
    assert.equal(past({ start: 150, end: 160, step: 5 }), 3);
    assert.equal(past({ start: 90 }), 0, 'an open range ends at the last frame');
    assert.equal(past({ start: 0, end: 99 }), 0);
    assert.equal(past({ timestamps: [1, 3.99, 4.5, 4.5, 9] }), 2, 'the video lasts 4 s; two times on one instant count once');
  });

  test('parts name their first and last frames', () => {
    const plan = planDecode(index, INFO, { frames: [95, 5, 6, 47, 15] });
    assert.deepEqual(plan.parts.map(({ first, last }) => [first, last]), [[5, 15], [47, 47], [95, 95]]);
  });

  test('keyframeBefore: the keyframe before a start, in decode order, to fall back to; firstKeyframe', () => {
    const at = (n: number) => index.keyframeFor(n)!;
    assert.equal(index.indexOf(index.keyframeBefore(at(47))!.pts), 30);
    assert.equal(index.indexOf(index.keyframeBefore(at(10))!.pts), 0);
    assert.equal(index.keyframeBefore(at(5)), undefined, 'nothing before the first: decode from the start');
    assert.equal(index.indexOf(index.firstKeyframe!.pts), 0);
    assert.equal(new PtsIndex('scan', false).firstKeyframe, undefined);
  });

  test('times become the frames shown at them, counted from the first frame; a time past the end selects nothing', () => {
    // Frame n is shown from n / 25 s on: 0.5 s is in frame 12, 1 s starts frame 25, 3.99 s is in frame 99.
    const plan = planDecode(index, INFO, { timestamps: [1, 0.5, 3.99, 1.01, 4.5] });
    assert.deepEqual(plan.selection.frames, [12, 25, 99]);
    assert.equal(plan.total, 3);
    assert.deepEqual(parts(plan, index), [[10, 25], [90, 99]]);
  });

  test('a stream without composition offsets is decoded from its first packet, and skips nothing it cannot know', () => {
    const flat = mp4Index(100, 10, true);
    assert.equal(flat.decodeFromStart, true);
    const plan = planDecode(flat, INFO, { frames: [40, 80] });
    assert.equal(plan.seek, null);
    assert.deepEqual(plan.parts, []);
    assert.equal(plan.total, 2);
  });

  test('an index built as packets pass: from the first packet, nothing skipped, the total from the container', () => {
    const growing = new PtsIndex('stream', true);
    const ranged = planDecode(growing, INFO, { end: 9, step: 2 });
    assert.deepEqual([ranged.total, ranged.seek, ranged.parts, ranged.unwanted], [5, null, [], undefined]);
    assert.equal(planDecode(growing, INFO, {}).total, 100);
    assert.equal(planDecode(growing, { ...INFO, frameCount: null }, {}).total, null);
    assert.equal(planDecode(growing, { ...INFO, frameCount: null }, { end: 9 }).total, 10);
    assert.throws(() => planDecode(growing, INFO, { start: 5 }), /range from frame 0/);
  });

  test('an index that stops short of the selection is refused, not trusted', () => {
    // A scan up to frame 20 stops after 20 + 64 packets: it knows frames 0..83 of this 150-frame video, and no more.
    const long = mp4Index(150, 10);
    const partial = new PtsIndex('scan', true);
    for (let n = 0; n < 20 + SCAN_MARGIN; n++) {
      const packet = packetOf(long, n);
      partial.addPacket(packet);
      packet.free();
    }
    assert.equal(planDecode(partial, INFO, { start: 10, end: 20 }).total, 11, 'what the scan was made for');
    assert.equal(planDecode(partial, INFO, { frames: [3, 20] }).total, 2);
    for (const selection of [{ start: 10, end: 21 }, { start: 50, end: 140 }, { start: 10 }, { frames: [3, 100] }, { timestamps: [5] }]) {
      assert.throws(() => planDecode(partial, INFO, selection), (error: unknown) => error instanceof InvalidOptionError && /stops at frame 83/.test(error.message), JSON.stringify(selection));
    }
  });

  test('the selection is checked like the options', () => {
    assert.throws(() => planDecode(index, INFO, { start: 5, end: 1 }), InvalidOptionError);
  });
});

test('decodeBytes: from the keyframe sample to the last sample shown at or before the frame, and `after` samples more', () => {
  // GOP 12 in decode order: I12 P15 B13 B14 P18 B16 B17 …; samples of 100 bytes.
  const index = mp4Index(48, 12, false, 100);
  const keyframe = index.keyframeFor(14)!;
  assert.deepEqual(decodeBytes(index, keyframe, 14), { start: 1200, end: 1600 }, 'I12 P15 B13 B14');
  assert.deepEqual(decodeBytes(index, keyframe, 15), { start: 1200, end: 1600 }, 'P15 came before B13 and B14');
  assert.deepEqual(decodeBytes(index, keyframe, 14, { after: 2 }), { start: 1200, end: 1800 });
  assert.deepEqual(decodeBytes(index, keyframe, 47, { after: 5 }), { start: 1200, end: 4800 }, 'no sample past the last');
  assert.deepEqual(decodeBytes(index, null, 1), { start: 0, end: 300 }, 'from the first sample: I0 P3 B1');
  assert.deepEqual(decodeBytes(index, keyframe, 14, { keyframeOnly: true }), { start: 1200, end: 1300 });
  assert.equal(decodeBytes(index, keyframe, 48), null, 'past the last frame');
});

describe('Selection', () => {
  test('a range: keeps, count, the frame list', () => {
    const selection = Selection.from({ start: 4, end: 20, step: 5 });
    assert.deepEqual([...selection], [4, 9, 14, 19]);
    assert.equal(selection.count, 4);
    assert.deepEqual([4, 5, 9, 19, 20, 24].map((n) => selection.keeps(n)), [true, false, true, true, false, false]);
    assert.equal(selection.fromFirstFrame, false);
    assert.equal(Selection.from({ step: 3 }).fromFirstFrame, true);
    assert.equal(Selection.from(undefined).count, undefined, 'to the last frame: the count waits for the video');
    assert.throws(() => [...Selection.from({ start: 2 })], /upTo/);
  });

  test('a list is sorted, without duplicates; start and end are its first and last numbers', () => {
    const selection = Selection.from({ frames: [9, 2, 9, 4] });
    assert.deepEqual(selection.frames, [2, 4, 9]);
    assert.deepEqual([selection.start, selection.end, selection.count], [2, 9, 3]);
    assert.deepEqual([1, 2, 3, 4, 9].map((n) => selection.keeps(n)), [false, true, false, true, true]);
    assert.equal(Selection.from({ frames: [] }).empty, true);
  });

  test('upTo caps at the last frame; without leaves saved frames out; mayInclude asks before the video is known', () => {
    assert.deepEqual([...Selection.from({ start: 5, step: 2 }).upTo(10)], [5, 7, 9]);
    assert.equal(Selection.from({ start: 11 }).upTo(10).empty, true);
    assert.deepEqual([...Selection.from({ end: 4 }).without(new Set([0, 2, 3]))], [1, 4]);
    const range = Selection.from({ start: 10, step: 10 });
    assert.equal(range.mayInclude([5, 15, 25]), false);
    assert.equal(range.mayInclude([5, 30]), true);
    assert.equal(Selection.from({ timestamps: [1] }).mayInclude([7]), true, 'a time may select any frame');
  });

  test('lastNeeded tells how far an index must reach before the video is read', () => {
    assert.equal(Selection.from({ end: 40 }).lastNeeded(null), 40);
    assert.equal(Selection.from({ frames: [3, 70] }).lastNeeded(null), 70);
    // 2 s at 25 fps is frame 50; 10% more, and one beyond.
    const last = Selection.from({ timestamps: [2, 1] }).lastNeeded({ num: 25, den: 1 })!;
    assert.ok(last >= 56 && last <= 57, `${last}`);
    assert.equal(Selection.from({ timestamps: [2] }).lastNeeded(null), undefined);
  });

  test('one rule for the checks, with the messages the options have always had', () => {
    const cases: Array<[object, string, string]> = [
      [{ start: -1 }, 'start', 'Expected a non-negative integer for start but received -1 of type number'],
      [{ start: 10, end: 9 }, 'end', 'Expected an integer >= start (10) for end but received 9 of type number'],
      [{ step: 0 }, 'step', 'Expected a positive integer for step but received 0 of type number'],
      [{ frames: [1, 2.5] }, 'frames', 'Expected a non-negative integer for frames but received 2.5 of type number'],
      [{ timestamps: [Number.POSITIVE_INFINITY] }, 'timestamps', 'Expected an array of times >= 0 in seconds for timestamps but received Infinity of type number'],
      [{ frames: [1], end: 3 }, 'end', 'end cannot be used together with frames: choose a range (start, end, step), a list of frames, timestamps, or a time window (startTime, endTime, fps)'],
    ];
    for (const [options, option, message] of cases) {
      assert.throws(
        () => Selection.from(options),
        (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
        message,
      );
    }
    assert.throws(() => Selection.from({ frames: [1], end: 3 }), { conflictsWith: 'frames' }, 'the other option is named too');
    const made = Selection.from({ start: 1 });
    assert.equal(Selection.from(made), made, 'a Selection is taken as it is');
    assert.throws(() => Selection.from({ strat: 100 } as never), /^InvalidOptionError: Unknown option strat for selection; known options: start, end, step, frames, timestamps, startTime, endTime, fps, keyframesOnly$/);
    assert.throws(() => Selection.from(null as never), /^InvalidOptionError: Expected an object for selection options but received null of type null$/);
    assert.equal(Selection.from({ start: undefined, frames: [4] }).frames?.[0], 4, 'a key set to undefined is not given');
  });
});
