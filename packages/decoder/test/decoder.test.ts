import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { CodecParameters, Frame, Packet } from 'node-av';
import { AV_CODEC_ID_NONE, AVMEDIA_TYPE_VIDEO } from 'node-av/constants';
import { Transform, Writable, pipelinePromise } from 'streamx';
import { ErrorCode, FrameBudget, FramepipeError, InvalidOptionError, StageBuffers, objectStreamOptions } from '@framepipe/common';
import { Demuxer } from '@framepipe/demuxer';
import type { FileSource } from '@framepipe/http-source';
import { Decoder } from '../src/index.ts';
import { hevcTemporalLayers } from '../src/decoder.ts';
import { H264_MP4_MOOV_END, TEST_PRESETS, VP9_WEBM, makeFixture } from '../../../test/support/fixtures.ts';
import { seededBytes } from '../../../test/support/range-server.ts';
import { withFile } from '../../../test/support/sources.ts';
import { rewriteMoov, rewriteSyncSamples, setEdits, videoTrack } from '../../../test/support/mp4-rewrite.ts';

/** The pts of every packet of a file, in decode order. */
async function packetPts(file: string): Promise<bigint[]> {
  return withFile(file, async (source) => {
    const pts: bigint[] = [];
    for await (const packet of new Demuxer(source)) {
      pts.push(packet.pts);
      packet.free();
    }
    return pts;
  });
}

/** Resolves when `stream` has closed (unlike events.once, an 'error' on the way does not reject). */
function closed(stream: Demuxer | Decoder | Writable): Promise<void> {
  return stream.destroyed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}

/**
 * A Writable that hands each frame to `onFrame`, which owns it from then on. Frames still queued when it is
 * destroyed go to `discard`.
 */
function frameSink(onFrame: (frame: Frame) => void | Promise<void>, discard: (frame: Frame) => void = (f) => f.free()): Writable {
  const buffered = new StageBuffers<Frame>();
  const sink = new Writable({
    ...buffered.options(1),
    write(frame, cb) {
      buffered.take(frame as Frame);
      Promise.resolve(onFrame(frame as Frame)).then(() => cb(null), cb);
    },
    destroy(cb) {
      buffered.release();
      cb(null);
    },
  });
  buffered.attach(sink, { input: discard });
  return sink;
}

/**
 * Decodes `file` through a stage between the demuxer and the decoder that calls `atItem` as each packet (or marker)
 * passes, counted from 1: where a test jumps the demuxer. The pts of the frames that come out, in order.
 */
async function decodeWithJumper(
  file: string,
  atItem: (passed: number, demuxer: Demuxer, decoder: Decoder) => unknown,
): Promise<{ seen: bigint[]; decoder: Decoder; passed: number }> {
  return withFile(file, async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
    const seen: bigint[] = [];
    let passed = 0;
    const jumper = new Transform({
      ...objectStreamOptions(1),
      transform(item, cb) {
        atItem(++passed, demuxer, decoder);
        cb(null, item);
      },
    });
    await pipelinePromise(demuxer, jumper, decoder, frameSink((frame) => (seen.push(frame.pts), frame.free())));
    return { seen, decoder, passed };
  });
}

for (const [name, spec] of Object.entries(TEST_PRESETS)) {
  test(`${name}: decodes 60 frames whose pts are the packets' pts`, async () => {
    const file = await makeFixture(spec);
    const expected = await packetPts(file);
    await withFile(file, async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
      const seen: bigint[] = [];
      await pipelinePromise(
        demuxer,
        decoder,
        frameSink((frame) => {
          assert.equal(frame.width, 320);
          assert.equal(frame.height, 240);
          seen.push(frame.pts);
          frame.free();
        }),
      );
      assert.equal(seen.length, spec.frames);
      assert.deepEqual([...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), [...expected].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      assert.equal(decoder.framesDecoded, spec.frames);
      assert.equal(decoder.corruptFrames, 0);
      assert.equal(decoder.rejectedPackets, 0);
      if (!spec.stripCts) {
        // Frames come out in display order, which is pts order when the container keeps composition offsets.
        assert.deepEqual(seen, [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      } else {
        // Without them, frames carry their packet's decode-order pts: not ascending.
        assert.notDeepEqual(seen, [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }
    });
  });
}

/** Every frame of a file, as its pixels by pts, decoded with these options. */
async function decodePictures(file: string, options: { unwanted?: (pts: bigint) => boolean; threads?: number }): Promise<{ pictures: Map<bigint, Buffer>; asked: bigint[] }> {
  return withFile(file, async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const asked: bigint[] = [];
    const unwanted = options.unwanted;
    const decoder = new Decoder(info.codecParameters, {
      timeBase: info.timeBase,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      ...(unwanted ? { unwanted: (pts: bigint) => (asked.push(pts), unwanted(pts)) } : {}),
    });
    const pictures = new Map<bigint, Buffer>();
    await pipelinePromise(
      demuxer,
      decoder,
      frameSink((frame) => {
        pictures.set(frame.pts, frame.toBuffer());
        frame.free();
      }),
    );
    assert.equal(decoder.framesDecoded, pictures.size);
    return { pictures, asked };
  });
}

for (const threads of [1, 0]) {
  test(`unwanted (${threads === 1 ? 'one thread' : 'frame threads'}): unreferenced pictures of unwanted packets are skipped, every other frame is as without`, async () => {
    const file = await makeFixture(H264_MP4_MOOV_END);
    const pts = await packetPts(file);
    const { pictures: every } = await decodePictures(file, { threads });
    assert.equal(every.size, 60);
    // Frames 0-29 (the first 30 pts in display order) unwanted; the rest wanted.
    const sorted = [...pts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const cut = sorted[30]!;
    const { pictures, asked } = await decodePictures(file, { threads, unwanted: (p) => p < cut });
    assert.deepEqual(asked, pts, 'asked once per packet, in decode order, with its pts');
    for (const [p, picture] of every) {
      if (p >= cut) assert.ok(pictures.get(p)?.equals(picture), `wanted frame at pts ${p} decoded, and the same`);
      else if (pictures.has(p)) assert.ok(pictures.get(p)!.equals(picture), `reference frame at pts ${p} the same`);
    }
    const skipped = 30 - [...pictures.keys()].filter((p) => p < cut).length;
    // GOPs of 12 with 3 B-frames: x264's pyramid leaves 2 of each 3 B-frames unreferenced, about a third of all.
    assert.ok(skipped >= 8, `${skipped} of the 30 unwanted frames skipped`);
    const none = await decodePictures(file, { threads, unwanted: () => false });
    assert.equal(none.pictures.size, 60, 'nothing unwanted: nothing skipped');
  });
}

for (const threads of [0, 3]) {
  test(`threadCount (threads ${threads}): before the codec opens, the count FFmpeg takes when it does`, async () => {
    const file = await makeFixture(H264_MP4_MOOV_END);
    await withFile(file, async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, threads });
      const before = decoder.threadCount;
      const taken: number[] = [];
      await pipelinePromise(demuxer, decoder, frameSink((frame) => (taken.push(decoder.threadCount), frame.free())));
      assert.ok(taken.length > 0 && taken.every((count) => count === before), `told ${before} before the open, took ${[...new Set(taken)]}`);
      if (threads > 0) assert.equal(before, threads);
    });
  });
}

test('unwanted is ignored for codecs whose skipped pictures could be references: VP9 decodes every frame', async () => {
  const file = await makeFixture(VP9_WEBM);
  const { pictures, asked } = await decodePictures(file, { unwanted: () => true });
  assert.equal(pictures.size, 60);
  assert.deepEqual(asked, [], 'not even asked');
});

test('hevcTemporalLayers reads hvcC and Annex B extradata; unknown stays undefined', () => {
  const hvcc = (byte21: number) => Buffer.from([1, ...new Array(20).fill(0), byte21, 0, 0]);
  assert.equal(hevcTemporalLayers(hvcc(0b00_001_0_11)), 1);
  assert.equal(hevcTemporalLayers(hvcc(0b00_011_1_11)), 3);
  assert.equal(hevcTemporalLayers(hvcc(0b00_000_0_11)), undefined, 'numTemporalLayers 0: unknown');
  // Annex B: a VPS (type 32), then an SPS (type 33) whose first byte is vps id 0, max_sub_layers_minus1, nesting.
  const annexB = (minus1: number) =>
    Buffer.from([0, 0, 0, 1, 32 << 1, 1, 0x0c, 0x01, 0xff, 0xff, 0, 0, 0, 1, 33 << 1, 1, (minus1 << 1) | 1, 0x01, 0x60, 0, 0, 0, 0, 0]);
  assert.equal(hevcTemporalLayers(annexB(0)), 1);
  assert.equal(hevcTemporalLayers(annexB(2)), 3);
  assert.equal(hevcTemporalLayers(null), undefined);
  assert.equal(hevcTemporalLayers(Buffer.alloc(30)), undefined, 'no SPS');
});

test('a DISCONTINUITY between GOPs: the frames before it and every frame from the new keyframe come out, none corrupt', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const all = await packetPts(file);
  const keyframes = await withFile(file, async (source) => {
    const list: Array<{ pts: bigint; dts: bigint }> = [];
    for await (const packet of new Demuxer(source)) {
      if (packet.isKeyframe) list.push({ pts: packet.pts, dts: packet.dts });
      packet.free();
    }
    return list;
  });
  // The fourth keyframe starts frames 36-47 (GOPs of 12): jump there after the first four packets.
  const target = keyframes[3]!;
  {
    const { seen, decoder } = await decodeWithJumper(file, (passed, demuxer) => passed === 4 && demuxer.jump(target.pts, target.dts));
    const sorted = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // The frames the packets before the jump can make come out, then every frame from the target on, in order and
    // none corrupt. (x264's keyframes are IDR frames, which reset a decoder by themselves; the drain and reset at the
    // marker matter for keyframes that are not, and for an MPEG-TS jump that lands on packets before the keyframe.)
    const before = seen.filter((pts) => pts < target.pts);
    assert.ok(before.length > 0 && before.every((pts) => sorted.indexOf(pts) < 12), `before the jump: ${before}`);
    assert.deepEqual(seen.filter((pts) => pts >= target.pts), sorted.filter((pts) => pts >= target.pts));
    assert.equal(decoder.corruptFrames, 0);
  }
});

test('dropUntilJump: no packet before the DISCONTINUITY is decoded and no held picture comes out; without a marker, none at the end', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const sorted = [...(await packetPts(file))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Frame 36 starts the fourth GOP (GOPs of 12).
  const target = sorted[36]!;
  for (const jumps of [true, false]) {
    // At the first packet, before the decoder has any: what the demuxer read ahead comes before the marker.
    const { seen, decoder, passed } = await decodeWithJumper(file, (passed, demuxer, decoder) => {
      if (passed !== 1) return;
      if (jumps) demuxer.jump(target, target);
      decoder.dropUntilJump();
    });
    const wanted = jumps ? sorted.slice(36) : [];
    assert.deepEqual(seen, wanted, jumps ? 'every frame from the keyframe jumped to, and none before it' : 'no frame: the end drains nothing');
    assert.equal(decoder.framesDecoded, wanted.length);
    // Jumping: at least the first packet and the marker before the 24 from the keyframe; else all 60 packets.
    if (jumps) assert.ok(passed >= 1 + 1 + 24, `packets went through before the marker: ${passed}`);
    else assert.equal(passed, 60);
    assert.equal(decoder.corruptFrames, 0);
  }
});

/**
 * A demuxer of `source` and a decoder whose `checkStart` records each start and the picture it gave (as frame numbers,
 * by `frameOf`) in `starts`, then answers with `verdict`.
 */
async function openChecking(
  source: FileSource,
  frameOf: (pts: bigint) => number,
  verdict: (picture: bigint | undefined, demuxer: Demuxer) => boolean,
): Promise<{ demuxer: Demuxer; decoder: Decoder; starts: Array<[number, number | undefined]> }> {
  const demuxer = new Demuxer(source);
  const info = await demuxer.open();
  const starts: Array<[number, number | undefined]> = [];
  const decoder = new Decoder(info.codecParameters, {
    timeBase: info.timeBase,
    checkStart: (start, picture) => {
      starts.push([frameOf(start.pts), picture === undefined ? undefined : frameOf(picture)]);
      return verdict(picture, demuxer);
    },
  });
  return { demuxer, decoder, starts };
}

test('checkStart: a start that gives no picture drops every packet up to the next DISCONTINUITY; a true one decodes as usual', async () => {
  const plain = await makeFixture({ ...H264_MP4_MOOV_END, bFrames: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-decoder-'));
  try {
    // The stss marks frame 13, a P-frame, instead of frame 12 (and likewise in every GOP).
    const lying = join(dir, 'shifted.mp4');
    await rewriteSyncSamples(plain, lying, (sync) => sync.map((s) => s + 1));
    const all = await packetPts(plain);
    const frameOf = (pts: bigint) => all.indexOf(pts);
    for (const [file, landing, rewinds] of [[lying, 13, true], [plain, 12, false]] as const) {
      await withFile(file, async (source) => {
        const { demuxer, decoder, starts } = await openChecking(source, frameOf, (picture, demuxer) => {
          if (picture !== undefined) return true;
          demuxer.rewind();
          return false;
        });
        await demuxer.seekKeyframe(all[landing]!, all[landing]!);
        const seen: number[] = [];
        await pipelinePromise(demuxer, decoder, frameSink((frame) => (seen.push(frameOf(frame.pts)), frame.free())));
        if (rewinds) {
          assert.deepEqual(starts, [[13, undefined], [0, 0]], 'frame 13 gives no picture by itself; frame 0 does');
          assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => i), 'nothing from frame 13 on, then every frame from 0');
        } else {
          assert.deepEqual(starts, [[12, 12]]);
          assert.deepEqual(seen, Array.from({ length: 48 }, (_, i) => i + 12), 'every frame from the keyframe, as without the check');
        }
        assert.equal(decoder.corruptFrames + decoder.rejectedPackets, 0);
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('checkStart: a start checked before is given its picture without being decoded by itself again', async () => {
  const file = await makeFixture({ ...H264_MP4_MOOV_END, bFrames: 0 });
  const all = await packetPts(file);
  const frameOf = (pts: bigint) => all.indexOf(pts);
  await withFile(file, async (source) => {
    const { demuxer, decoder, starts } = await openChecking(source, frameOf, () => true);
    // Keyframe 12, back to it after 12 packets, on to keyframe 36 after 12 more, back to 12 after 12 more: 4 starts.
    const route = [12, 36, 12];
    let passed = 0;
    const jumper = new Transform({
      ...objectStreamOptions(1),
      transform(item, cb) {
        const next = ++passed % 12 === 0 ? route.shift() : undefined;
        if (next !== undefined) {
          demuxer.jump(all[next]!, all[next]!);
          decoder.dropUntilJump();
        }
        cb(null, item);
      },
    });
    await demuxer.seekKeyframe(all[12]!, all[12]!);
    const seen: number[] = [];
    await pipelinePromise(demuxer, jumper, decoder, frameSink((frame) => (seen.push(frameOf(frame.pts)), frame.free())));
    assert.deepEqual(starts.slice(0, 4), [[12, 12], [12, 12], [36, 36], [12, 12]], 'each start gets the picture it gives');
    assert.equal(decoder.startsChecked, 2, 'keyframes 12 and 36 were decoded by themselves, each once');
    assert.deepEqual(seen.slice(-48), Array.from({ length: 48 }, (_, i) => i + 12), 'after the last jump, every frame from keyframe 12');
    assert.equal(decoder.corruptFrames + decoder.rejectedPackets, 0);
  });
});

test('lossOf: the frame an edit list hides is "discarded"; a damaged one "corrupt"; others undefined', async () => {
  const plain = await makeFixture({ ...H264_MP4_MOOV_END, bFrames: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-decoder-'));
  try {
    // The edit ends one frame (40 ms of the movie's 1000 ticks a second) before the last.
    const edited = join(dir, 'edit.mp4');
    await rewriteMoov(plain, edited, (moov) => setEdits(videoTrack(moov), [[2360, 0]]));
    const all = await packetPts(edited);
    await withFile(edited, async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
      const seen = new Set<bigint>();
      await pipelinePromise(demuxer, decoder, frameSink((frame) => (seen.add(frame.pts), frame.free())));
      const last = all.reduce((a, b) => (a > b ? a : b));
      assert.equal(seen.has(last), false, 'the hidden frame does not come out');
      assert.equal(decoder.lossOf(last), 'discarded');
      assert.deepEqual(all.filter((pts) => pts !== last).map((pts) => decoder.lossOf(pts)), all.slice(1).map(() => undefined));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Decodes `file` into a consumer that keeps up to `hold` frames before freeing the oldest, and returns the largest
 * number of frames that were out of the decoder at once (emitted and not yet freed).
 */
async function maxFramesOut(file: string, hold: number, budget: FrameBudget | undefined): Promise<{ max: number; frames: number }> {
  return withFile(file, async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, ...(budget ? { budget } : {}) });
    const held: Frame[] = [];
    let freed = 0;
    let max = 0;
    const free = (frame: Frame) => {
      frame.free();
      freed++;
      budget?.release();
    };
    await pipelinePromise(
      demuxer,
      decoder,
      frameSink(async (frame) => {
        held.push(frame);
        if (held.length < hold) return;
        // Let the decoder run ahead as far as it can before letting go of a frame.
        for (let i = 0; i < 20; i++) {
          await tick();
          max = Math.max(max, decoder.framesDecoded - freed);
        }
        if (budget) assert.ok(budget.inUse <= budget.capacity);
        free(held.shift()!);
      }),
    );
    max = Math.max(max, decoder.framesDecoded - freed);
    for (const frame of held.splice(0)) free(frame);
    if (budget) assert.equal(budget.inUse, 0, 'every unit given back');
    return { max, frames: decoder.framesDecoded };
  });
}

test('with a FrameBudget of 2, never more than 2 frames are out of the decoder', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const budget = new FrameBudget(2);
  const { max, frames } = await maxFramesOut(file, 2, budget);
  assert.equal(frames, 60);
  assert.equal(max, 2, 'the consumer held 2 and the decoder waited');
});

test('without a budget, the same consumer lets more frames out (what the budget prevents)', async () => {
  const file = await makeFixture(H264_MP4_MOOV_END);
  const { max, frames } = await maxFramesOut(file, 2, undefined);
  assert.equal(frames, 60);
  assert.ok(max > 2, `only ${max} frames out without a budget`);
});

test('backpressure: with nobody reading, the decoder stops pulling packets', async () => {
  await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
    const demuxer = new Demuxer(source, { highWaterMark: 2 });
    const info = await demuxer.open();
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, threads: 1 });
    const piped = pipelinePromise(demuxer, decoder).catch((error: unknown) => error);
    decoder.on('readable', () => {});
    await sleep(200);
    const read = demuxer.packetsRead;
    const decoded = decoder.framesDecoded;
    // One frame buffered; B-frame reordering holds a few packets inside the codec; the demuxer buffer is 2.
    assert.ok(decoded <= 2, `${decoded} frames decoded with nobody reading`);
    assert.ok(read <= 10, `${read} packets read with nobody reading`);
    await sleep(100);
    assert.equal(demuxer.packetsRead, read, 'nothing more is read while the output stays full');
    demuxer.destroy();
    assert.ok(await piped);
    await closed(decoder);
  });
});

test('destroyed with a frame unread, a packet parked and packets queued, the decoder frees every one of them', async () => {
  const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
  const counter = countNativeObjects();
  try {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      // Read by hand: the demuxer stays open, since the decoder opens from codec parameters the demuxer owns.
      const reading = demuxer[Symbol.asyncIterator]();
      const packets: Packet[] = [];
      while (packets.length < 20) packets.push((await reading.next()).value as Packet);
      const budget = new FrameBudget(8);
      const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, budget, threads: 1 });
      for (const packet of packets) decoder.write(packet);
      while (decoder.framesDecoded === 0) await sleep(5);
      await sleep(50);
      // Nobody reads: the one frame buffered (high-water mark 1) stops the decoder, which parks the next packet
      // and leaves the others in its write queue.
      const live = counter.live();
      assert.equal(live.frames, 1, 'one frame waits unread');
      assert.ok(live.packets > 1, `${live.packets} packets still buffered`);
      decoder.destroy();
      demuxer.destroy();
      await Promise.all([closed(decoder), closed(demuxer)]);
      assert.deepEqual(counter.live(), { frames: 0, packets: 0 });
      assert.equal(budget.inUse, 0);
    });
  } finally {
    counter.restore();
  }
});

test('destroy mid-stream: the pipeline fails, every stage closes, and units of buffered frames come back', async () => {
  await withFile(await makeFixture(VP9_WEBM), async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const budget = new FrameBudget(4);
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, budget });
    let count = 0;
    const sink = frameSink((frame) => {
      frame.free();
      budget.release();
      if (++count === 10) decoder.destroy(new Error('enough'));
    }, (frame) => {
      frame.free();
      budget.release();
    });
    await assert.rejects(pipelinePromise(demuxer, decoder, sink), /enough/);
    for (const stream of [demuxer, decoder, sink]) await closed(stream);
    assert.ok(decoder.framesDecoded < 60);
    assert.equal(budget.inUse, 0, 'frames left in the decoder gave their units back');
  });
});

test('destroy while the decoder waits for a budget unit closes without hanging', async () => {
  await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const budget = new FrameBudget(1);
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, budget });
    const piped = pipelinePromise(demuxer, decoder).catch((error: unknown) => error);
    const first = (await decoder[Symbol.asyncIterator]().next()).value as Frame;
    // The consumer holds the only unit: the decoder is stuck in acquire().
    await sleep(50);
    assert.equal(decoder.framesDecoded, 1);
    decoder.destroy();
    assert.ok(await piped);
    await closed(decoder);
    first.free();
    budget.release();
    assert.equal(budget.inUse, 0);
  });
});

test('a garbage packet is skipped and counted in rejectedPackets, not thrown', async () => {
  await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
    const demuxer = new Demuxer(source);
    const info = await demuxer.open();
    const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase });
    const frames: bigint[] = [];
    decoder.on('data', (data) => {
      const frame = data as Frame;
      frames.push(frame.pts);
      frame.free();
    });
    const closed = once(decoder, 'close');
    let n = 0;
    for await (const packet of demuxer) {
      if (n++ === 20) {
        // Replace packet 20 by random bytes under the same timestamps.
        const garbage = new Packet();
        garbage.alloc();
        garbage.data = seededBytes(500, 3);
        garbage.pts = packet.pts;
        garbage.dts = packet.dts;
        packet.free();
        decoder.write(garbage);
      } else {
        decoder.write(packet);
      }
    }
    decoder.end(null);
    await closed;
    assert.equal(decoder.rejectedPackets, 1);
    assert.equal(decoder.framesDecoded, 59);
    assert.equal(frames.length, 59);
  });
});

for (const threads of [1, 0]) {
  const named = threads === 1 ? 'its frame and pts' : 'the packet where it surfaced (frame threads)';
  test(`strict, threads ${threads}: a garbage packet ends the stream with ERR_FRAMEPIPE_CORRUPT_DATA naming ${named}`, async () => {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      // The fixture's frame n has pts 512 n.
      const frameNumber = (pts: bigint) => Number(pts / 512n);
      const decoder = new Decoder(info.codecParameters, { timeBase: info.timeBase, threads, strict: true, frameNumber });
      let frames = 0;
      let n = 0;
      let garbagePts = -1n;
      const buffered = new StageBuffers<Packet, Packet>();
      const replaced = new Transform({
        ...buffered.options(1),
        transform(packet, cb) {
          buffered.take(packet as Packet);
          if (n++ !== 20) return cb(null, packet);
          // Packet 20 becomes random bytes under the same timestamps.
          const garbage = new Packet();
          garbage.alloc();
          garbage.data = seededBytes(500, 3);
          garbage.pts = garbagePts = (packet as Packet).pts;
          garbage.dts = (packet as Packet).dts;
          (packet as Packet).free();
          cb(null, garbage);
        },
        destroy(cb) {
          buffered.release();
          cb(null);
        },
      });
      buffered.attach(replaced, { input: (p) => p.free(), output: (p) => p.free() });
      const sink = frameSink((frame) => {
        frames++;
        frame.free();
      });
      const error = await pipelinePromise(demuxer, replaced, decoder, sink).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof FramepipeError && error.code === ErrorCode.CORRUPT_DATA, String(error));
      // FFmpeg's words in the message, its number in error.ffmpeg.
      const reason = 'the decoder rejected it: Invalid data found when processing input';
      assert.deepEqual(error.ffmpeg, { code: -1094995529, text: 'Invalid data found when processing input' });
      if (threads === 1) {
        const seconds = (Number(garbagePts) * info.timeBase.num) / info.timeBase.den;
        assert.match(error.message, new RegExp(`^Corrupt packet of frame ${garbagePts / 512n} \\(pts ${garbagePts}, dts -?\\d+, ${seconds} s\\): ${reason.replace(/[()]/g, '\\$&')}$`));
      } else {
        const named = /^Corrupt packet at or shortly before \(in decode order\) the packet of frame (\d+) \(pts \d+, dts -?\d+, [\d.]+ s\): (.*)$/.exec(error.message);
        assert.ok(named, error.message);
        assert.equal(named[2], reason);
        // Decode order: the garbage packet was sent at or before the one named.
        const order = await packetPts(await makeFixture(H264_MP4_MOOV_END));
        assert.ok(order.indexOf(BigInt(named[1]!) * 512n) >= order.indexOf(garbagePts), error.message);
      }
      assert.equal(decoder.rejectedPackets, 0, 'not counted: it is the error');
      assert.ok(frames < 20, `stopped at the packet (${frames} frames out before it)`);
      await Promise.all([closed(demuxer), closed(decoder)]);
    });
  });
}

test('a codec without a decoder → ERR_FRAMEPIPE_UNSUPPORTED_CODEC', async () => {
  const parameters = new CodecParameters();
  parameters.alloc();
  parameters.codecType = AVMEDIA_TYPE_VIDEO;
  parameters.codecId = AV_CODEC_ID_NONE;
  const decoder = new Decoder(parameters);
  const failed = once(decoder, 'error').then(([error]: unknown[]) => error, (error: unknown) => error);
  decoder.resume(); // reading opens the decoder
  const error = await failed;
  assert.ok(error instanceof FramepipeError && error.code === ErrorCode.UNSUPPORTED_CODEC, String(error));
  assert.match(error.message, /No decoder for codec id 0/);
  parameters.free();
});

test('options are checked with exact messages', async () => {
  const parameters = new CodecParameters();
  parameters.alloc();
  const cases: Array<[unknown, string, string]> = [
    [{ threads: -1 }, 'threads', 'Expected a non-negative integer for threads but received -1 of type number'],
    [{ highWaterMark: 0 }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received 0 of type number'],
    [{ budget: {} }, 'budget', 'Expected a FrameBudget for budget but received [object] of type object'],
    [{ strict: 'yes' }, 'strict', 'Expected a boolean for strict but received "yes" of type string'],
    [{ frameNumber: 3 }, 'frameNumber', 'Expected a function for frameNumber but received 3 of type number'],
    [{ unwanted: true }, 'unwanted', 'Expected a function for unwanted but received true of type boolean'],
    [{ thread: 2 }, 'thread', 'Unknown option thread for Decoder; known options: timeBase, threads, budget, highWaterMark, strict, frameNumber, unwanted, beyondWanted, checkStart, keyframesOnly'],
  ];
  try {
    for (const [options, option, message] of cases) {
      assert.throws(
        () => new Decoder(parameters, options as never),
        (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
        message,
      );
    }
  } finally {
    parameters.free();
  }
});
