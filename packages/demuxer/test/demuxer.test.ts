import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Packet } from 'node-av';
import { AV_NOPTS_VALUE } from 'node-av/constants';
import { DISCONTINUITY, ErrorCode, FramepipeError, InvalidOptionError } from '@framepipe/common';
import { FileSource, HttpSource } from '@framepipe/http-source';
import { Demuxer, type DemuxerInfo } from '../src/index.ts';
import {
  H264_1080P,
  H264_BFRAMES_NO_CTTS,
  H264_MP4_FASTSTART,
  H264_MP4_MOOV_END,
  H264_TS,
  H264_TWO_VIDEOS_MKV,
  TEST_PRESETS,
  VP9_WEBM,
  makeFixture,
  type FixtureSpec,
} from '../../../test/support/fixtures.ts';
import { seededBytes, startRangeServer } from '../../../test/support/range-server.ts';
import { rejectsWith, withFile, withRead } from '../../../test/support/sources.ts';

interface PacketSummary {
  readonly streamIndex: number;
  readonly pts: bigint;
  readonly dts: bigint;
  readonly keyframe: boolean;
  readonly size: number;
  readonly sha1: string;
}

function summarize(packet: Packet): PacketSummary {
  return {
    streamIndex: packet.streamIndex,
    pts: packet.pts,
    dts: packet.dts,
    keyframe: packet.isKeyframe,
    size: packet.size,
    sha1: createHash('sha1').update(packet.data ?? Buffer.alloc(0)).digest('hex'),
  };
}

/** Reads every packet, freeing each one. */
async function readAll(demuxer: Demuxer): Promise<PacketSummary[]> {
  const packets: PacketSummary[] = [];
  for await (const packet of demuxer) {
    packets.push(summarize(packet));
    packet.free();
  }
  return packets;
}

/** Asserts that opening fails with `code`, then destroys the demuxer as a pipeline would. */
async function openFails(demuxer: Demuxer, code: string): Promise<FramepipeError> {
  try {
    return await rejectsWith(demuxer.open(), code);
  } finally {
    demuxer.destroy();
    if (!demuxer.destroyed) await once(demuxer, 'close');
  }
}

/** Reads until the stream fails and returns the error and the number of packets read before it. */
async function readUntilError(demuxer: Demuxer): Promise<{ error: unknown; packets: number }> {
  let packets = 0;
  try {
    for await (const packet of demuxer) {
      packets++;
      packet.free();
    }
  } catch (error) {
    return { error, packets };
  }
  assert.fail(`expected the stream to fail, but it ended after ${packets} packets`);
}

/** A WAV file of one second of 8 kHz mono PCM: a readable container without any video stream. */
function wavFile(): Buffer {
  const samples = 8000;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin(i / 8) * 8000), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(8000, 24); // sample rate
  header.writeUInt32LE(16000, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

const EXPECTED_INFO: Record<string, Partial<DemuxerInfo>> = {
  H264_MP4_MOOV_END: { codec: 'h264', timeBase: { num: 1, den: 12800 }, hasBFrames: true, frameCount: 60 },
  H264_MP4_FASTSTART: { codec: 'h264', timeBase: { num: 1, den: 12800 }, hasBFrames: true, frameCount: 60 },
  VP9_WEBM: { codec: 'vp9', timeBase: { num: 1, den: 1000 }, hasBFrames: false, frameCount: null },
  H264_TS: { codec: 'h264', timeBase: { num: 1, den: 90000 }, hasBFrames: true, frameCount: null },
  H264_BFRAMES_NO_CTTS: { codec: 'h264', timeBase: { num: 1, den: 12800 }, hasBFrames: true, frameCount: 60 },
};

let scratch: string;
before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-demuxer-'));
});
after(() => fs.rm(scratch, { recursive: true, force: true }));

async function scratchFile(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(scratch, name);
  await fs.writeFile(file, bytes);
  return file;
}

describe('Demuxer: normal flow', () => {
  for (const [name, spec] of Object.entries(TEST_PRESETS)) {
    test(`${name}: stream info`, async () => {
      await withFile(await makeFixture(spec), async (source) => {
        const demuxer = new Demuxer(source);
        try {
          const info = await demuxer.open();
          assert.equal(demuxer.info, info);
          assert.ok(Object.isFrozen(info));
          const expected = EXPECTED_INFO[name]!;
          assert.equal(info.codec, expected.codec);
          assert.equal(info.width, 320);
          assert.equal(info.height, 240);
          assert.deepEqual(info.timeBase, expected.timeBase);
          assert.equal(info.hasBFrames, expected.hasBFrames);
          assert.equal(info.frameCount, expected.frameCount);
          assert.equal(info.rotation, 0);
          assert.equal(info.streamIndex, 0);
          assert.equal(info.pixelFormat, 'yuv420p');
          assert.deepEqual(info.frameRate, { num: 25, den: 1 });
          assert.ok(info.duration !== null && Math.abs(info.duration - 2.4) < 0.05, `duration ${info.duration}`);
          assert.equal(info.codecParameters.width, 320);
        } finally {
          demuxer.destroy();
        }
      });
    });

    test(`${name}: 60 packets, all of the video stream, with distinct timestamps`, async () => {
      await withFile(await makeFixture(spec), async (source) => {
        const demuxer = new Demuxer(source);
        const packets = await readAll(demuxer);
        assert.equal(packets.length, spec.frames);
        assert.equal(demuxer.packetsRead, spec.frames);
        for (const packet of packets) {
          assert.equal(packet.streamIndex, demuxer.info.streamIndex);
          assert.notEqual(packet.pts, AV_NOPTS_VALUE);
          assert.ok(packet.size > 0);
        }
        assert.equal(new Set(packets.map((p) => p.pts)).size, spec.frames);
        assert.equal(packets[0]!.keyframe, true);
        // GOP 12: frames 0, 12, 24, 36, 48 are keyframes.
        assert.equal(packets.filter((p) => p.keyframe).length, spec.frames / (spec.gop ?? 12));
      });
    });
  }

  test('the B-frame fixture with composition offsets has pts != dts; the stripped one never does', async () => {
    const normal = await withFile(await makeFixture(H264_MP4_MOOV_END), (source) => readAll(new Demuxer(source)));
    const stripped = await withFile(await makeFixture(H264_BFRAMES_NO_CTTS), (source) => readAll(new Demuxer(source)));
    assert.ok(normal.some((p) => p.pts !== p.dts));
    assert.ok(stripped.every((p) => p.pts === p.dts));
  });

  test('the source is borrowed: two demuxers read one source in turn, and it stays open', async () => {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const first = await readAll(new Demuxer(source));
      const second = await readAll(new Demuxer(source));
      assert.deepEqual(second, first);
      assert.equal((await source.read(0, 8)).length, 8);
    });
  });

  test('stream picks a video stream by its rank among the video streams: its info, and only its packets', async () => {
    await withFile(await makeFixture(H264_TWO_VIDEOS_MKV), async (source) => {
      for (const [stream, width] of [[0, 320], [1, 160]] as const) {
        const demuxer = new Demuxer(source, { stream });
        const info = await demuxer.open();
        assert.deepEqual([demuxer.stream, info.streamIndex, info.videoStreams, info.width], [stream, stream, 2, width]);
        const packets = await readAll(demuxer);
        assert.equal(packets.length, 60);
        assert.ok(packets.every((packet) => packet.streamIndex === stream));
      }
      const missing = new Demuxer(source, { stream: 2 });
      await assert.rejects(missing.open(), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.message, `There is no video stream 2 in ${source.description}: it has 2 video streams (0-1)`);
        return true;
      });
      missing.destroy();
    });
  });

  test('open() is idempotent and info throws before it resolved', async () => {
    await withFile(await makeFixture(VP9_WEBM), async (source) => {
      const demuxer = new Demuxer(source);
      try {
        assert.throws(() => demuxer.info, /available after open\(\) has resolved/);
        const [a, b] = await Promise.all([demuxer.open(), demuxer.open()]);
        assert.equal(a, b);
        assert.equal(await demuxer.open(), a);
      } finally {
        demuxer.destroy();
      }
    });
  });
});

describe('Demuxer: over HTTP', () => {
  test('HttpSource against a range server gives the same packets as FileSource', async () => {
    for (const spec of [H264_MP4_MOOV_END, H264_TS]) {
      const file = await makeFixture(spec);
      const local = await withFile(file, (source) => readAll(new Demuxer(source)));
      const server = await startRangeServer({ files: { '/video': file } });
      const source = new HttpSource(server.url('/video'), { readAhead: 4096 });
      try {
        const remote = await readAll(new Demuxer(source));
        assert.deepEqual(remote, local);
        assert.ok(server.requests.length >= 2, 'the demuxer read through range requests');
        assert.ok(server.requests.every((r) => r.status === 206));
      } finally {
        await source.close();
        await server.close();
      }
    }
  });

  test('an HTTP error reaches the caller as it is, not as invalid data', async () => {
    const server = await startRangeServer({ files: {}, status: { '/gone.mp4': 404 } });
    const source = new HttpSource(server.url('/gone.mp4'));
    try {
      const error = await openFails(new Demuxer(source), ErrorCode.HTTP_STATUS);
      assert.equal(error.status, 404);
    } finally {
      await source.close();
      await server.close();
    }
  });
});

describe('Demuxer: seeking', () => {
  /** The keyframes of a fixture as read from the start: pts and dts. */
  async function keyframesOf(spec: FixtureSpec): Promise<PacketSummary[]> {
    const packets = await withFile(await makeFixture(spec), (source) => readAll(new Demuxer(source)));
    return packets.filter((p) => p.keyframe);
  }

  for (const spec of [H264_MP4_MOOV_END, H264_MP4_FASTSTART, VP9_WEBM, H264_BFRAMES_NO_CTTS]) {
    test(`seek() to a keyframe's pts starts at that keyframe (${spec.container}, ${spec.codec}${spec.stripCts ? ', no ctts' : ''})`, async () => {
      const keyframes = await keyframesOf(spec);
      for (const keyframe of keyframes.slice(1)) {
        await withFile(await makeFixture(spec), async (source) => {
          const demuxer = new Demuxer(source);
          await demuxer.seek(keyframe.pts);
          const packets = await readAll(demuxer);
          assert.equal(packets[0]!.keyframe, true);
          assert.equal(packets[0]!.pts, keyframe.pts);
          assert.ok(packets.length < spec.frames);
        });
      }
    });
  }

  test('seek() to a pts between keyframes lands on the keyframe before it', async () => {
    const keyframes = await keyframesOf(H264_MP4_MOOV_END);
    const [, second, third] = keyframes;
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source);
      await demuxer.seek((second!.pts + third!.pts) / 2n);
      const [first] = await readAll(demuxer);
      assert.equal(first!.pts, second!.pts);
      assert.equal(first!.keyframe, true);
    });
  });

  for (const spec of [H264_TS, H264_MP4_MOOV_END, VP9_WEBM]) {
    test(`seekKeyframe(pts, dts) starts at or before the keyframe (${spec.container})`, async () => {
      const keyframes = await keyframesOf(spec);
      for (const keyframe of keyframes.slice(1)) {
        await withFile(await makeFixture(spec), async (source) => {
          const demuxer = new Demuxer(source);
          await demuxer.seekKeyframe(keyframe.pts, keyframe.dts);
          const packets = await readAll(demuxer);
          assert.equal(packets[0]!.keyframe, true);
          assert.ok(packets[0]!.pts <= keyframe.pts, `first pts ${packets[0]!.pts} after keyframe ${keyframe.pts}`);
          assert.ok(packets.some((p) => p.pts === keyframe.pts && p.keyframe), 'the keyframe itself is read');
        });
      }
    });
  }

  test('holdEnd: at the end of the container the output waits for the promise; a rewind asked for by then is followed', async () => {
    const keyframes = await keyframesOf(H264_MP4_MOOV_END);
    const last = keyframes.at(-1)!;
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const read = async (then: (demuxer: Demuxer) => void): Promise<Array<bigint | 'marker'>> => {
        const demuxer = new Demuxer(source, { highWaterMark: 1 });
        await demuxer.seekKeyframe(last.pts, last.dts);
        let release!: () => void;
        demuxer.holdEnd(new Promise<void>((resolve) => (release = resolve)));
        // Long after the last packet has been read: the output must still be open.
        setTimeout(() => {
          then(demuxer);
          release();
        }, 300);
        const items: Array<bigint | 'marker'> = [];
        for await (const item of demuxer as AsyncIterable<Packet | typeof DISCONTINUITY>) {
          items.push(item === DISCONTINUITY ? 'marker' : (item as Packet).pts);
          if (item !== DISCONTINUITY) (item as Packet).free();
        }
        return items;
      };
      const rewound = await read((demuxer) => demuxer.rewind());
      const marker = rewound.indexOf('marker');
      assert.equal(marker, 12, 'the last GOP (12 packets), then the marker');
      assert.equal(rewound.length, 12 + 1 + 60, 'then every packet from the first');
      assert.deepEqual(await read(() => {}), rewound.slice(0, 12), 'released without a jump: the output ends');
    });
  });

  for (const spec of [H264_TS, H264_MP4_MOOV_END, VP9_WEBM]) {
    test(`rewind() while reading starts over from the first packet after a DISCONTINUITY marker (${spec.container})`, async () => {
      const file = await makeFixture(spec);
      const all = await withFile(file, async (source) => {
        const pts: bigint[] = [];
        for await (const packet of new Demuxer(source)) {
          pts.push(packet.pts);
          packet.free();
        }
        return pts;
      });
      await withFile(file, async (source) => {
        const demuxer = new Demuxer(source, { highWaterMark: 1 });
        const items: Array<Packet | typeof DISCONTINUITY> = [];
        try {
          for await (const item of demuxer as AsyncIterable<Packet | typeof DISCONTINUITY>) {
            items.push(item);
            if (items.length === 20) demuxer.rewind();
          }
        } finally {
          demuxer.destroy();
        }
        const at = items.indexOf(DISCONTINUITY);
        assert.ok(at >= 20 && at <= 23, `the marker comes after the packets already buffered (at ${at})`);
        const after = (items.slice(at + 1) as Packet[]).map((p) => p.pts);
        assert.deepEqual(after, all, 'after it, every packet from the first');
        for (const item of items) if (item !== DISCONTINUITY) (item as Packet).free();
      });
    });
  }

  for (const spec of [H264_TS, H264_MP4_MOOV_END, VP9_WEBM]) {
    test(`jump() while reading skips to a later keyframe after a DISCONTINUITY marker (${spec.container})`, async () => {
      const keyframes = await keyframesOf(spec);
      const target = keyframes[3]!;
      await withFile(await makeFixture(spec), async (source) => {
        const demuxer = new Demuxer(source, { highWaterMark: 1 });
        const items: Array<Packet | typeof DISCONTINUITY> = [];
        try {
          for await (const item of demuxer as AsyncIterable<Packet | typeof DISCONTINUITY>) {
            items.push(item);
            if (items.length === 3) demuxer.jump(target.pts, target.dts);
          }
        } finally {
          demuxer.destroy();
        }
        const at = items.indexOf(DISCONTINUITY);
        assert.ok(at >= 3 && at <= 6, `the marker comes after the packets already buffered (at ${at})`);
        const before = items.slice(0, at) as Packet[];
        const after = items.slice(at + 1) as Packet[];
        assert.ok(before.every((p) => p.pts === AV_NOPTS_VALUE || p.pts < keyframes[1]!.pts), 'before: the first GOP only');
        assert.equal(after[0]!.isKeyframe, true);
        assert.ok(after[0]!.pts <= target.pts && after.some((p) => p.pts === target.pts), 'after: from the target keyframe');
        assert.ok(!after.some((p) => p.pts > keyframes[1]!.pts && p.pts < keyframes[2]!.pts), 'the GOPs between are skipped');
        for (const item of items) if (item !== DISCONTINUITY) (item as Packet).free();
      });
    });
  }

  test('seek() after reading has started throws', async () => {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source);
      try {
        const iterator = demuxer[Symbol.asyncIterator]();
        const first = await iterator.next();
        (first.value as Packet).free();
        await assert.rejects(demuxer.seek(0n), /must be called before reading starts/);
      } finally {
        demuxer.destroy();
      }
    });
  });
});

describe('Demuxer: backpressure, stop and destroy', () => {
  // seekKeyframe seeks, reads a packet, and may seek again: a destroy between two of those steps must stop the next
  // one, because teardown frees the container once the call running has returned (before, a crash in FFmpeg).
  for (const spec of [H264_MP4_MOOV_END, H264_TS]) {
    test(`destroy() at any point of seekKeyframe() ends it cleanly (${spec.container})`, async () => {
      const file = await makeFixture(spec);
      const keyframe = await withFile(file, async (source) => {
        const demuxer = new Demuxer(source);
        try {
          await demuxer.open();
          let found: { pts: bigint; dts: bigint } | undefined;
          for await (const packet of demuxer) {
            if (packet.isKeyframe && packet.pts > 0n) found ??= { pts: packet.pts, dts: packet.dts };
            packet.free();
          }
          return found!;
        } finally {
          demuxer.destroy();
        }
      });
      const outcomes = new Map<string, number>();
      for (let ticks = 0; ticks < 40; ticks++) {
        await withFile(file, async (source) => {
          const demuxer = new Demuxer(source);
          demuxer.on('error', () => {});
          await demuxer.open();
          const seeking = demuxer.seekKeyframe(keyframe.pts, keyframe.dts).then(
            () => 'done',
            (error: FramepipeError) => error.code,
          );
          for (let i = 0; i < ticks; i++) await new Promise((resolve) => setImmediate(resolve));
          demuxer.destroy();
          const outcome = await seeking;
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          await once(demuxer, 'close');
        });
      }
      for (const outcome of outcomes.keys()) assert.ok(outcome === 'done' || outcome === ErrorCode.ABORTED, outcome);
      assert.ok(outcomes.has(ErrorCode.ABORTED), `some destroys came mid-seek: ${JSON.stringify([...outcomes])}`);
    });
  }

  test('reads ahead no more than highWaterMark packets while nobody consumes', async () => {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source, { highWaterMark: 3 });
      try {
        await demuxer.open();
        demuxer.on('readable', () => {});
        // Give the stream every chance to over-read.
        await sleep(100);
        assert.equal(demuxer.packetsRead, 3);
        const taken = demuxer.read() as Packet;
        taken.free();
        await sleep(50);
        assert.equal(demuxer.packetsRead, 4, 'one packet taken, one more read');
      } finally {
        demuxer.destroy();
      }
    });
  });

  test('stop() ends the stream early, and it ends normally', async () => {
    await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
      const demuxer = new Demuxer(source, { highWaterMark: 2 });
      let count = 0;
      let ended = false;
      demuxer.once('end', () => (ended = true));
      for await (const packet of demuxer) {
        packet.free();
        if (++count === 5) demuxer.stop();
      }
      assert.ok(ended);
      // What was buffered (highWaterMark) and the read in flight may still come out.
      assert.ok(count >= 5 && count <= 5 + 2 + 1, `${count} packets after stop()`);
      assert.equal(demuxer.packetsRead, count);
    });
  });

  test('destroy() mid-stream closes promptly and frees the packets nobody read', async () => {
    const { countNativeObjects } = await import('../../../test/support/pipeline-helpers.ts');
    const counter = countNativeObjects();
    try {
      await withFile(await makeFixture(H264_MP4_MOOV_END), async (source) => {
        const demuxer = new Demuxer(source, { highWaterMark: 8 });
        const iterator = demuxer[Symbol.asyncIterator]();
        const first = await iterator.next();
        (first.value as Packet).free();
        await sleep(50);
        assert.ok(counter.live().packets > 1, 'packets wait unread in the buffer');
        const closed = once(demuxer, 'close');
        demuxer.destroy();
        const timeout = sleep(2000).then(() => 'timeout');
        assert.notEqual(await Promise.race([closed.then(() => 'closed'), timeout]), 'timeout');
        assert.ok(demuxer.destroyed);
        assert.ok(demuxer.packetsRead < 60);
        assert.equal(counter.live().packets, 0);
        // The source was only borrowed.
        assert.equal((await source.read(0, 4)).length, 4);
      });
    } finally {
      counter.restore();
    }
  });

  test('breaking out of for-await destroys the demuxer', async () => {
    await withFile(await makeFixture(VP9_WEBM), async (source) => {
      const demuxer = new Demuxer(source);
      for await (const packet of demuxer) {
        packet.free();
        break;
      }
      if (!demuxer.destroyed) await once(demuxer, 'close');
      assert.ok(demuxer.destroyed);
    });
  });

  test('destroy() while a read waits on a slow source closes without waiting for it', async () => {
    const file = await makeFixture(H264_MP4_MOOV_END);
    const inner = new FileSource(file);
    let stalled = 0;
    // A source whose reads after the first 4 KiB hang until aborted.
    const slow = withRead(inner, 'slow', (offset, length, signal) => {
      if (offset < 4096) return inner.read(offset, Math.min(length, 4096 - offset), signal);
      stalled++;
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
    });
    try {
      const demuxer = new Demuxer(slow, { ioBufferSize: 4096 });
      demuxer.on('error', () => {});
      const opening = demuxer.open().catch((error: unknown) => error);
      while (stalled === 0) await sleep(5);
      demuxer.destroy();
      await once(demuxer, 'close');
      const error = await opening;
      assert.ok(error instanceof FramepipeError && error.code === ErrorCode.ABORTED, String(error));
    } finally {
      await slow.close();
    }
  });
});

describe('Demuxer: errors', () => {
  test('garbage bytes → ERR_FRAMEPIPE_INVALID_DATA, from a file and over HTTP', async () => {
    const garbage = seededBytes(200_000, 99);
    const file = await scratchFile('garbage.mp4', garbage);
    await withFile(file, async (source) => {
      const error = await openFails(new Demuxer(source), ErrorCode.INVALID_DATA);
      assert.equal(error.source, file);
      assert.equal(
        error.message,
        `${file} is not a video framepipe can read: FFmpeg found no container format it knows in it. Check that it is the video file itself (MP4, MOV, MKV, WebM, …) and complete (FFmpeg: Invalid data found when processing input)`,
      );
      // The number FFmpeg gave is kept for bug reports, not shown in the message.
      assert.deepEqual(error.ffmpeg, { code: -1094995529, text: 'Invalid data found when processing input' });
      assert.doesNotMatch(error.message, /-?\d{6,}/);
    });
    const server = await startRangeServer({ files: { '/garbage.mp4': garbage } });
    const source = new HttpSource(server.url('/garbage.mp4'));
    try {
      await openFails(new Demuxer(source), ErrorCode.INVALID_DATA);
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('an empty file, a text file, a web page named .mp4 → ERR_FRAMEPIPE_INVALID_DATA that says what the file is', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['empty.mp4', Buffer.alloc(0), '; it is empty'],
      ['notes.mp4', Buffer.from('hello\nthis is not a video\n'), '; it is text, starting "hello"'],
      ['login.mp4', Buffer.from('<!DOCTYPE html>\n<html><body>Sign in</body></html>\n'), '; it is an HTML page (a login or error page?), not a video'],
      ['answer.mp4', Buffer.from('{"error": "expired"}'), '; it is JSON text, not a video'],
    ];
    for (const [name, bytes, what] of cases) {
      const file = await scratchFile(name, bytes);
      await withFile(file, async (source) => {
        const error = await openFails(new Demuxer(source), ErrorCode.INVALID_DATA);
        assert.equal(
          error.message,
          `${file} is not a video framepipe can read: FFmpeg found no container format it knows in it${what}. Check that it is the video file itself (MP4, MOV, MKV, WebM, …) and complete (FFmpeg: Invalid data found when processing input)`,
        );
      });
    }
  });

  test('the error also reaches a reader that never called open()', async () => {
    const file = await scratchFile('garbage2.mp4', seededBytes(50_000, 5));
    await withFile(file, async (source) => {
      const { error, packets } = await readUntilError(new Demuxer(source));
      assert.equal(packets, 0);
      assert.ok(error instanceof FramepipeError && error.code === ErrorCode.INVALID_DATA, String(error));
    });
  });

  test('a container without video (PCM WAV) → ERR_FRAMEPIPE_NO_VIDEO_STREAM', async () => {
    const file = await scratchFile('audio.wav', wavFile());
    await withFile(file, async (source) => {
      const error = await openFails(new Demuxer(source), ErrorCode.NO_VIDEO_STREAM);
      assert.equal(error.message, `No video stream in ${file}: it holds 1 audio stream, so there are no frames to read`);
      assert.equal(error.source, file);
    });
  });

  test('an MP4 with moov first, cut at half → ERR_FRAMEPIPE_TRUNCATED after the whole packets', async () => {
    const whole = await fs.readFile(await makeFixture(H264_MP4_FASTSTART));
    const file = await scratchFile('cut-faststart.mp4', whole.subarray(0, whole.length >> 1));
    await withFile(file, async (source) => {
      const demuxer = new Demuxer(source);
      const info = await demuxer.open();
      assert.equal(info.frameCount, 60, 'the index is whole: it sits before the cut');
      const { error, packets } = await readUntilError(demuxer);
      assert.ok(error instanceof FramepipeError, String(error));
      assert.equal(error.code, ErrorCode.TRUNCATED, error.message);
      assert.match(error.message, /is truncated/);
      assert.ok(packets > 0 && packets < 60, `${packets} packets before the error`);
    });
  });

  test('an MP4 with moov at the end, cut at half → ERR_FRAMEPIPE_TRUNCATED when opening (it starts like an MP4)', async () => {
    const whole = await fs.readFile(await makeFixture(H264_MP4_MOOV_END));
    const file = await scratchFile('cut-moov-end.mp4', whole.subarray(0, whole.length >> 1));
    await withFile(file, async (source) => {
      const error = await openFails(new Demuxer(source), ErrorCode.TRUNCATED);
      assert.match(error.message, /is truncated/);
      assert.equal(error.source, file);
    });
  });

  describe('an MP4 whose moov at the end is cut off → ERR_FRAMEPIPE_TRUNCATED saying so, wherever the cut falls', () => {
    /** The offset of the first box `type` inside `data` (its size field), found by its four-character code. */
    const boxAt = (data: Buffer, type: string) => {
      const at = data.indexOf(type, 0, 'latin1');
      assert.ok(at > 4, `no ${type} box`);
      return at - 4;
    };
    const advice = 'It looks like an incomplete download or copy: get the whole file again';
    // Each cut used to give another error, or none: INVALID_DATA without a hint, NO_VIDEO_STREAM,
    // "No decoder for codec id 0", or a run with no frame and exit 0.
    const cuts: Array<[string, (data: Buffer) => number, string, 'open' | 'read']> = [
      ['no moov at all (cut in the media data, read to its end)', (data) => boxAt(data, 'moov') - 30, "its media data ('mdat' box) ends past the end of the file", 'open'],
      ['cut in the movie header (no track)', (data) => boxAt(data, 'mvhd') + 20, "its index ('moov' box) ends past the end of the file", 'open'],
      ['cut in the sample descriptions (no codec)', (data) => boxAt(data, 'stsd') + 12, "its index ('moov' box) ends past the end of the file", 'open'],
      ['cut before the chunk offsets (samples without a place)', (data) => boxAt(data, 'stco'), "its index ('moov' box) ends past the end of the file", 'read'],
    ];
    // A file large enough that FFmpeg skips its media data rather than reading it through: it said INVALID_DATA.
    cuts.push(['no moov at all, in a large file (FFmpeg skips the media data)', (data) => boxAt(data, 'moov') - 30, "its media data ('mdat' box) ends past the end of the file", 'open']);
    for (const [name, cutAt, what, when] of cuts) {
      test(name, async () => {
        const whole = await fs.readFile(await makeFixture(name.includes('large') ? H264_1080P : H264_MP4_MOOV_END));
        const size = cutAt(whole);
        const file = await scratchFile(`cut-${size}.mp4`, whole.subarray(0, size));
        const message = `${file} is truncated: ${what} (the file has ${size} bytes). ${advice}`;
        await withFile(file, async (source) => {
          if (when === 'open') {
            const error = await openFails(new Demuxer(source), ErrorCode.TRUNCATED);
            assert.equal(error.message, message);
            assert.equal(error.source, file);
          } else {
            const { error, packets } = await readUntilError(new Demuxer(source));
            assert.equal(packets, 0);
            assert.ok(error instanceof FramepipeError, String(error));
            assert.equal(error.code, ErrorCode.TRUNCATED, error.message);
            assert.equal(error.message, message);
          }
        });
      });
    }
  });

  test('a source that fails mid-read: its own error comes out, not invalid data', async () => {
    const file = await makeFixture(H264_MP4_FASTSTART);
    const inner = new FileSource(file);
    const failure = new FramepipeError(ErrorCode.TIMEOUT, 'simulated stall');
    const failing = withRead(inner, 'failing', async (offset, length, signal) => {
      if (offset >= 6000) throw failure;
      return inner.read(offset, Math.min(length, 6000 - offset), signal);
    });
    try {
      const demuxer = new Demuxer(failing, { ioBufferSize: 4096 });
      const { error, packets } = await readUntilError(demuxer);
      assert.equal(error, failure);
      assert.ok(packets < 60);
    } finally {
      await failing.close();
    }
  });

  test('bad options fail in the constructor with the exact message', async () => {
    const source = new FileSource(await makeFixture(VP9_WEBM));
    const cases: Array<[unknown, string, string]> = [
      [{ highWaterMark: 0 }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received 0 of type number'],
      [{ highWaterMark: '4' }, 'highWaterMark', 'Expected a positive integer for highWaterMark but received "4" of type string'],
      [{ ioBufferSize: 1024 }, 'ioBufferSize', 'Expected an integer >= 4096 for ioBufferSize but received 1024 of type number'],
      [{ stream: -1 }, 'stream', 'Expected a non-negative integer for stream but received -1 of type number'],
      [{ bufferSize: 1 }, 'bufferSize', 'Unknown option bufferSize for Demuxer; known options: highWaterMark, ioBufferSize, stream'],
      [null, 'Demuxer options', 'Expected an object for Demuxer options but received null of type null'],
    ];
    for (const [options, option, message] of cases) {
      assert.throws(
        () => new Demuxer(source, options as never),
        (error: unknown) => error instanceof InvalidOptionError && error.option === option && error.message === message,
        message,
      );
    }
  });
});

test('a failed open() frees FFmpeg\'s I/O context by itself, so an undestroyed demuxer does not keep the process alive', async () => {
  const script = [
    "import { Demuxer } from '@framepipe/demuxer';",
    "import { FileSource } from '@framepipe/http-source';",
    "import { writeFileSync } from 'node:fs';",
    "const file = process.argv[1] + '.bin';",
    'writeFileSync(file, Buffer.alloc(5000, 7));',
    'const source = new FileSource(file);',
    "await new Demuxer(source).open().catch((error) => console.log(error.code));",
    'await source.close();',
  ].join('\n');
  const dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-open-'));
  const file = path.join(dir, 'open-fails.ts');
  await fs.writeFile(file, script);
  try {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(process.execPath, [file], { timeout: 20_000 }, (error, out) => (error ? reject(error) : resolve({ stdout: out })));
    });
    assert.equal(stdout.trim(), ErrorCode.INVALID_DATA);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('rotation from the display matrix agrees with ffprobe (90, 180, 270)', async () => {
  const run = (command: string, args: string[]) =>
    new Promise<string>((resolve, reject) => execFile(command, args, (error, out) => (error ? reject(error) : resolve(out))));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'framepipe-rotation-'));
  const sample = path.resolve(import.meta.dirname, '../../../examples/assets/sample.mp4');
  try {
    for (const tag of [90, 180, 270]) {
      const file = path.join(dir, `rotate-${tag}.mp4`);
      await run('ffmpeg', ['-v', 'error', '-y', '-i', sample, '-c', 'copy', '-metadata:s:v:0', `rotate=${tag}`, file]);
      const probed = Number((await run('ffprobe', ['-v', 'error', '-show_entries', 'stream_side_data=rotation', '-of', 'csv=p=0', file])).trim());
      const source = new FileSource(file);
      const demuxer = new Demuxer(source);
      try {
        const { rotation } = await demuxer.open();
        assert.equal(rotation, ((probed % 360) + 360) % 360, `rotate=${tag}: ffprobe says ${probed}`);
        assert.notEqual(rotation, 0);
      } finally {
        demuxer.destroy();
        await once(demuxer, 'close');
        await source.close();
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
