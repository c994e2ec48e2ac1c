/**
 * Colour (issue 13): framepipe's RGB for 8-, 10- and 12-bit, 4:2:0 and 4:2:2, SDR and HDR (BT.2020 PQ and HLG)
 * sources, each frame compared with
 * - Debian ffmpeg's `-pix_fmt rgb24` (what PyAV and Supervisely give too): mean absolute difference ≤ 1.5 levels,
 *   and identical bytes for 8-bit SDR, which framepipe must keep converting as ffmpeg does;
 * - the float reference of test/support/colour-reference.ts (the decoded planes converted here by the stream's matrix
 *   and range only, in doubles): mean absolute difference ≤ 1.0, and above 8 bits also over the colour band alone;
 * and every pixel of the white patch that the decoded samples make white (luma at white or above, the chroma around it
 * neutral) must be 255, 255, 255.
 * No tone or gamut mapping: an HDR frame's RGB is its PQ or HLG signal, as ffmpeg's rgb24 gives it.
 * The fixtures paint saturated colours with sharp edges behind the frame code's digits, so that chroma interpolation
 * shows; each frame still shows its own number, which is checked too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { streamVideoFrames } from '@framepipe/core';
import { COLOUR_PRESETS, colourBand, makeFixture } from './support/fixtures.ts';
import { decodedPlanes, ffmpegRawvideo, floatRgb, isDecodedWhite, probePlaneFormat } from './support/colour-reference.ts';
import { readFrameCode } from './support/frame-code.ts';

const FLOAT_BOUND = 1.0;
const FFMPEG_BOUND = 1.5;

/** Mean absolute difference of two RGB images, over every channel of every pixel (`b` is rounded first). */
function meanDifference(a: Uint8Array, b: Uint8Array | Float64Array, from = 0, to = a.length): number {
  let sum = 0;
  for (let o = from; o < to; o++) sum += Math.abs(a[o]! - Math.round(b[o]!));
  return sum / (to - from);
}

describe('colour: framepipe against ffmpeg rgb24 and a float reference', () => {
  for (const [name, spec] of Object.entries(COLOUR_PRESETS)) {
    test(name, async (t) => {
      const path = await makeFixture(spec);
      const format = await probePlaneFormat(path);
      const { width, height } = format;
      // The fixture is what it says, by ffprobe.
      assert.equal(format.pixFmt, spec.pixelFormat ?? 'yuv420p', name);
      const tagged = { pq: 'smpte2084', hlg: 'arib-std-b67' } as const;
      const expected = spec.hdr ? ['bt2020nc', 'bt2020', tagged[spec.hdr]] : ['unknown', 'unknown', 'unknown'];
      assert.deepEqual([format.space, format.primaries, format.transfer], expected, `${name}: ${format.tags}`);
      const size = width * height * 3;
      const frames: Buffer[] = [];
      for await (const frame of streamVideoFrames(path)) {
        assert.equal(frame.index, frames.length);
        assert.equal(readFrameCode(frame.data, width, height), frame.index, `${name}: frame ${frame.index} shows another number`);
        frames.push(frame.data);
      }
      const rgb24 = await ffmpegRawvideo(path, 'rgb24');
      const planes = await decodedPlanes(path, format);
      assert.equal(frames.length, spec.frames, `${name}: framepipe gave ${frames.length} frames`);
      assert.equal(rgb24.length, spec.frames * size, `${name}: ffmpeg gave ${rgb24.length / size} frames`);
      assert.equal(planes.length, spec.frames);

      // Where the colour band is: the differences of chroma interpolation are there, the rest is black and white.
      const band = colourBand(width, height);
      const bandFrom = band.top * width * 3;
      const white = band.white;
      let worstFloat = 0;
      let worstFfmpeg = 0;
      let worstBandFloat = 0;
      let worstBandFfmpeg = 0;
      let whites = 0;
      const notWhite: string[] = [];
      for (let n = 0; n < frames.length; n++) {
        const ours = frames[n]!;
        const theirs = rgb24.subarray(n * size, (n + 1) * size);
        const reference = floatRgb(planes[n]!, format);
        if (format.bits === 8) {
          assert.ok(ours.equals(theirs), `${name}: 8-bit SDR frame ${n} differs from ffmpeg's rgb24 (mean ${meanDifference(ours, theirs).toFixed(3)})`);
        }
        worstFloat = Math.max(worstFloat, meanDifference(ours, reference));
        worstFfmpeg = Math.max(worstFfmpeg, meanDifference(ours, theirs));
        worstBandFloat = Math.max(worstBandFloat, meanDifference(ours, reference, bandFrom));
        worstBandFfmpeg = Math.max(worstBandFfmpeg, meanDifference(ours, theirs, bandFrom));
        for (let y = white.y; y < white.y + white.size; y++) {
          for (let x = white.x; x < white.x + white.size; x++) {
            const o = (y * width + x) * 3;
            if (!isDecodedWhite(planes[n]!, format, x, y)) continue;
            whites++;
            if (ours[o] !== 255 || ours[o + 1] !== 255 || ours[o + 2] !== 255) {
              if (notWhite.length < 5) notWhite.push(`frame ${n} (${x}, ${y}): ${ours[o]},${ours[o + 1]},${ours[o + 2]}`);
            }
          }
        }
      }
      t.diagnostic(
        `${name} (${format.tags}): worst frame's mean |framepipe − float| ${worstFloat.toFixed(2)} (colour band ` +
          `${worstBandFloat.toFixed(2)}), |framepipe − ffmpeg rgb24| ${worstFfmpeg.toFixed(2)} (band ${worstBandFfmpeg.toFixed(2)})`,
      );
      const problems: string[] = [];
      if (worstFloat > FLOAT_BOUND) problems.push(`a frame is ${worstFloat.toFixed(2)} levels off the float reference on average (bound ${FLOAT_BOUND})`);
      // Above 8 bits framepipe interpolates chroma, so the coloured band alone is held to the bound too; 8-bit keeps
      // ffmpeg's repeated chroma, which is 2.5 levels off there.
      if (format.bits > 8 && worstBandFloat > FLOAT_BOUND) {
        problems.push(`the colour band of a frame is ${worstBandFloat.toFixed(2)} levels off the float reference on average (bound ${FLOAT_BOUND})`);
      }
      if (worstFfmpeg > FFMPEG_BOUND) problems.push(`a frame is ${worstFfmpeg.toFixed(2)} levels off ffmpeg's rgb24 on average (bound ${FFMPEG_BOUND})`);
      if (whites < (white.size * white.size * frames.length) / 4) problems.push(`only ${whites} pixels of the white patch decode as white`);
      if (notWhite.length > 0) problems.push(`white pixels that are not 255: ${notWhite.join('; ')}`);
      assert.deepEqual(problems, [], name);
    });
  }
});
