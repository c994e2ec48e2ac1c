import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Packet } from 'node-av';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import { Writable, pipelinePromise } from 'streamx';
import { Demuxer } from '@framepipe/demuxer';
import { FileSource } from '@framepipe/http-source';
import { PtsIndex, PtsIndexer, SCAN_MARGIN } from '../src/index.ts';
import { H264_MP4_MOOV_END, TEST_PRESETS, makeFixture } from '../../../test/support/fixtures.ts';
import { withFile } from '../../../test/support/sources.ts';

const NONE = AV_NOPTS_VALUE;

/** A packet with only timestamps and the key flag: all PtsIndex looks at. */
function packet(pts: bigint, dts: bigint = pts, keyframe = false): Packet {
  const p = new Packet();
  p.alloc();
  p.pts = pts;
  p.dts = dts;
  p.isKeyframe = keyframe;
  return p;
}

function indexOf(hasBFrames: boolean, packets: Array<[bigint, bigint?, boolean?]>): PtsIndex {
  const index = new PtsIndex('stream', hasBFrames);
  for (const [pts, dts, key] of packets) {
    const p = packet(pts, dts ?? pts, key ?? false);
    index.addPacket(p);
    p.free();
  }
  return index;
}

/** Every pts → index pair of a map, in frame order. */
function mapOf(index: PtsIndex): Array<[bigint, number | undefined]> {
  const pairs: Array<[bigint, number | undefined]> = [];
  for (let i = 0; i < index.size; i++) {
    const pts = index.ptsAt(i)!;
    pairs.push([pts, index.indexOf(pts)]);
  }
  return pairs;
}

/** The stream strategy over a whole file: demuxer → PtsIndexer → a sink that frees the packets. */
async function streamIndex(source: FileSource): Promise<{ index: PtsIndex; ptsSeen: bigint[] }> {
  const demuxer = new Demuxer(source);
  const info = await demuxer.open();
  const indexer = new PtsIndexer(info);
  const ptsSeen: bigint[] = [];
  const sink = new Writable({
    write(data, cb) {
      const p = data as Packet;
      ptsSeen.push(p.pts);
      p.free();
      cb(null);
    },
  });
  await pipelinePromise(demuxer, indexer, sink);
  return { index: indexer.index, ptsSeen };
}

// ---------------------------------------------------------------- the rule, on synthetic packets

test('a pts ranks by its place among all pts, sorted; arrival order does not matter', () => {
  const index = indexOf(false, [[30n], [10n], [50n], [0n], [20n], [40n]]);
  assert.equal(index.size, 6);
  assert.deepEqual(mapOf(index), [[0n, 0], [10n, 1], [20n, 2], [30n, 3], [40n, 4], [50n, 5]]);
  assert.equal(index.strategy, 'stream');
});

test('a duplicated pts takes the rank of its last occurrence, and the next pts counts both', () => {
  const index = indexOf(false, [[0n], [10n], [10n], [20n], [10n], [30n]]);
  // sorted: 0 10 10 10 20 30 → {0: 0, 10: 3, 20: 4, 30: 5}, as a dict built from the sorted list.
  assert.equal(index.size, 6);
  assert.equal(index.indexOf(0n), 0);
  assert.equal(index.indexOf(10n), 3);
  assert.equal(index.indexOf(20n), 4);
  assert.equal(index.indexOf(30n), 5);
  assert.equal(index.ptsAt(1), 10n);
  assert.equal(index.ptsAt(6), undefined);
});

test('missing and negative pts are not counted and get no number', () => {
  const index = indexOf(false, [[-1024n, -2048n], [NONE, 0n], [0n], [-1n], [512n], [NONE, NONE]]);
  assert.equal(index.size, 2);
  assert.equal(index.indexOf(0n), 0);
  assert.equal(index.indexOf(512n), 1);
  assert.equal(index.indexOf(-1n), undefined);
  assert.equal(index.indexOf(-1024n), undefined);
  assert.equal(index.indexOf(NONE), undefined);
  assert.equal(index.indexOf(256n), undefined, 'a pts no packet had');
  assert.equal(index.indexOf(4096n), undefined, 'a pts past the last');
});

test('decodeFromStart = hasBFrames and no packet with pts != dts (both set)', () => {
  assert.equal(indexOf(true, [[0n], [1n], [2n]]).decodeFromStart, true);
  assert.equal(indexOf(false, [[0n], [1n], [2n]]).decodeFromStart, false);
  assert.equal(indexOf(true, [[0n], [3n, 1n], [1n, 2n]]).decodeFromStart, false);
  assert.equal(indexOf(false, [[0n], [3n, 1n]]).decodeFromStart, false);
  // One side missing is not a composition offset.
  assert.equal(indexOf(true, [[0n, NONE], [NONE, 5n], [7n]]).decodeFromStart, true);
  // An empty map of a B-frame stream: nothing seen, nothing to trust.
  assert.equal(new PtsIndex('scan', true).decodeFromStart, true);
});

test('keyframeFor: the last keyframe in decode order displayed at or before the frame', () => {
  // Decode order of an IPBB GOP pair; keyframes are pts 0 (dts -20) and pts 40 (dts 30).
  const index = indexOf(true, [
    [0n, -20n, true], [30n, -10n], [10n, 0n], [20n, 10n],
    [40n, 30n, true], [70n, 40n], [50n, 50n], [60n, 60n],
  ]);
  assert.deepEqual(index.keyframeFor(0), { pts: 0n, dts: -20n });
  assert.deepEqual(index.keyframeFor(3), { pts: 0n, dts: -20n });
  assert.deepEqual(index.keyframeFor(4), { pts: 40n, dts: 30n });
  assert.deepEqual(index.keyframeFor(7), { pts: 40n, dts: 30n });
  assert.equal(index.keyframeFor(8), undefined, 'past the map');
  for (let i = 0; i < index.size; i++) {
    assert.ok(index.keyframeFor(i)!.pts <= index.ptsAt(i)!, `keyframe after frame ${i}`);
  }
  // No keyframe at or before the frame: decode from the start.
  assert.equal(indexOf(false, [[0n], [10n, 10n, true]]).keyframeFor(0), undefined);
});

test('keyframeFor gives the same keyframe whether the keyframes come in pts order (bisected) or not (scanned)', () => {
  const random = (() => {
    let state = 12345;
    return () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
  })();
  const reference = (packets: Array<[bigint, bigint, boolean]>, pts: bigint) => {
    let chosen: { pts: bigint; dts: bigint } | undefined;
    for (const [p, d, key] of packets) if (key && p <= pts) chosen = { pts: p, dts: d };
    return chosen;
  };
  for (const shuffled of [false, true]) {
    const packets: Array<[bigint, bigint, boolean]> = Array.from({ length: 400 }, (_, i) => [BigInt(i * 10), BigInt(i * 10 - 5), random() < 0.1]);
    // Two keyframes with equal pts (in order still), and (when shuffled) a keyframe whose pts goes back.
    packets.push([3990n, 3989n, true], [3990n, 3990n, true]);
    if (shuffled) packets.splice(200, 0, [30n, 1999n, true]);
    const index = indexOf(true, packets);
    for (let i = 0; i < index.size; i++) assert.deepEqual(index.keyframeFor(i), reference(packets, index.ptsAt(i)!), `frame ${i}, shuffled ${shuffled}`);
  }
});

test('keyframeNumbers and isKeyframe: every keyframe with a number, also one shown after a keyframe decoded later', () => {
  // A clock that goes back: the second GOP in decode order is shown first (frames 0-3), the first one after (4-7).
  // A keyframe hidden before frame 0 (a negative pts) comes first.
  const index = indexOf(false, [
    [-10n, -10n, true],
    [40n, 40n, true], [50n, 50n], [60n, 60n], [70n, 70n],
    [0n, 0n, true], [10n, 10n], [20n, 20n], [30n, 30n],
  ]);
  assert.deepEqual(index.keyframeNumbers(), [0, 4], 'the keyframe with a negative pts has no number');
  assert.deepEqual([...Array(index.size).keys()].filter((n) => index.isKeyframe(n)), [0, 4]);
  assert.equal(index.isKeyframe(8), false, 'past the map');
  // keyframeFor picks the later one in decode order for frame 4: a decode of frame 4 does not start at frame 4.
  assert.deepEqual(index.keyframeFor(4), { pts: 0n, dts: 0n });
});

test('complete only once marked', () => {
  const index = indexOf(false, [[0n]]);
  assert.equal(index.complete, false);
  index.markComplete();
  assert.equal(index.complete, true);
});

// ---------------------------------------------------------------- scan and stream on real files

for (const [name, spec] of Object.entries(TEST_PRESETS)) {
  test(`${name}: scan and stream give the same map, of ${spec.frames} frames`, async () => {
    const file = await makeFixture(spec);
    const scanned = await withFile(file, async (source) => {
      const demuxer = new Demuxer(source);
      const index = await PtsIndex.scan(demuxer);
      assert.ok(demuxer.destroying, 'scan destroys the demuxer it read');
      return index;
    });
    const { index: streamed, ptsSeen } = await withFile(file, streamIndex);
    assert.equal(scanned.strategy, 'scan');
    assert.equal(streamed.strategy, 'stream');
    assert.equal(scanned.size, spec.frames);
    assert.equal(scanned.complete, true);
    assert.equal(streamed.complete, true, 'the indexer marks the map complete when its input ends');
    assert.deepEqual(mapOf(streamed), mapOf(scanned));
    assert.deepEqual(mapOf(scanned).map(([, i]) => i), Array.from({ length: spec.frames }, (_, i) => i));
    assert.equal(streamed.hasBFrames, scanned.hasBFrames);
    assert.equal(streamed.decodeFromStart, scanned.decodeFromStart);
    assert.equal(scanned.decodeFromStart, name === 'H264_BFRAMES_NO_CTTS');
    for (let i = 0; i < spec.frames; i++) assert.deepEqual(streamed.keyframeFor(i), scanned.keyframeFor(i));
    // The indexer passed every packet through, unchanged and in order.
    const direct: bigint[] = [];
    await withFile(file, async (source) => {
      for await (const p of new Demuxer(source)) {
        direct.push(p.pts);
        p.free();
      }
    });
    assert.deepEqual(ptsSeen, direct);
  });
}

test('scan with `end` stops after end + 64 usable packets; those ranks are final', async () => {
  const long = { ...H264_MP4_MOOV_END, frames: 150 };
  const file = await makeFixture(long);
  const full = await withFile(file, (source) => PtsIndex.scan(new Demuxer(source)));
  assert.equal(full.size, 150);
  for (const end of [0, 10, 50]) {
    const counts: number[] = [];
    const partial = await withFile(file, (source) =>
      PtsIndex.scan(new Demuxer(source), { end, onPacket: (n) => counts.push(n) }),
    );
    assert.equal(SCAN_MARGIN, 64);
    assert.equal(partial.size, end + SCAN_MARGIN);
    assert.equal(partial.complete, false);
    assert.deepEqual(counts, Array.from({ length: end + SCAN_MARGIN }, (_, i) => i + 1));
    for (let i = 0; i <= end; i++) assert.equal(partial.ptsAt(i), full.ptsAt(i), `frame ${i} with end ${end}`);
  }
  // A range whose margin reaches past the last frame reads everything and is complete.
  const whole = await withFile(file, (source) => PtsIndex.scan(new Demuxer(source), { end: 100 }));
  assert.equal(whole.size, 150);
  assert.equal(whole.complete, true);
});

test('PtsIndexer: backpressure reaches the demuxer when nobody reads', async () => {
  await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
    const demuxer = new Demuxer(source, { highWaterMark: 2 });
    const info = await demuxer.open();
    const indexer = new PtsIndexer(info, { highWaterMark: 2 });
    const piped = pipelinePromise(demuxer, indexer).catch((error: unknown) => error);
    await sleep(150);
    // Indexer buffer (2) + one parked + one in hand + demuxer buffer (2) + one read in flight.
    assert.ok(demuxer.packetsRead <= 7, `${demuxer.packetsRead} packets read with nobody consuming`);
    assert.equal(indexer.index.size, Math.min(demuxer.packetsRead, indexer.index.size));
    assert.equal(indexer.index.complete, false);
    demuxer.destroy();
    assert.ok(await piped, 'the pipeline fails once a stage is destroyed');
    if (!indexer.destroyed) await once(indexer, 'close');
    assert.ok(indexer.destroyed, 'the pipeline destroyed the indexer with the demuxer');
  });
});

test('PtsIndexer: destroyed mid-stream, it closes and the map stays incomplete', async () => {
  await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const indexer = new PtsIndexer(info);
    let seen = 0;
    const sink = new Writable({
      write(p, cb) {
        (p as Packet).free();
        if (++seen === 10) indexer.destroy(new Error('stop here'));
        cb(null);
      },
    });
    await assert.rejects(pipelinePromise(demuxer, indexer, sink), /stop here/);
    assert.ok(indexer.destroyed || indexer.destroying);
    assert.equal(indexer.index.complete, false);
    assert.ok(indexer.index.size >= 10 && indexer.index.size < 60);
  });
});

test('PtsIndexer: destroyed with a packet unread, one parked and some queued, it frees every one of them', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  try {
    const indexer = new PtsIndexer({ hasBFrames: false }, { highWaterMark: 1 });
    for (let i = 0; i < 5; i++) indexer.write(packet(BigInt(i)));
    await sleep(20);
    // Packet 0 fills the output, which nobody reads: packet 1 is parked, 2 to 4 wait in the write queue.
    assert.equal(indexer.index.size, 1, 'only the first packet went through');
    assert.equal(counter.live().packets, 5);
    indexer.destroy();
    await once(indexer, 'close');
    assert.equal(counter.live().packets, 0);
  } finally {
    counter.restore();
  }
});

test('PtsIndexer: a packet written while it is being destroyed is freed', async () => {
  // The demuxer writes until this stage has closed; streamx drops what reaches a destroyed stream without freeing it.
  const indexer = new PtsIndexer({ hasBFrames: false });
  const closed = once(indexer, 'close');
  indexer.destroy();
  const late = packet(0n);
  let freed = false;
  const free = late.free.bind(late);
  late.free = () => {
    freed = true;
    free();
  };
  assert.equal(indexer.write(late), false);
  assert.ok(freed, 'the late packet was freed');
  await closed;
});

test('PtsIndexer: options are checked', () => {
  assert.throws(
    () => new PtsIndexer({ hasBFrames: false }, { highWaterMark: 0 }),
    { message: 'Expected a positive integer for highWaterMark but received 0 of type number' },
  );
  assert.throws(
    () => new PtsIndexer({ hasBFrames: false }, { strategy: 'scan' } as never),
    { message: 'Unknown option strategy for PtsIndexer; known options: highWaterMark' },
  );
});
