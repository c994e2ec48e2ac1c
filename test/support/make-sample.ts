/**
 * Makes `examples/assets/sample.mp4`, the committed demo video (see {@link SAMPLE_MP4}): every frame
 * shows its number as a block code and in digits. Run: `pnpm exec node test/support/make-sample.ts`.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SAMPLE_MP4, makeFixture } from './fixtures.ts';

const target = resolve(import.meta.dirname, '../../examples/assets/sample.mp4');
await mkdir(resolve(target, '..'), { recursive: true });
await copyFile(await makeFixture(SAMPLE_MP4), target);
const { size } = await stat(target);
console.log(`wrote ${target} (${SAMPLE_MP4.frames} frames, ${SAMPLE_MP4.width}×${SAMPLE_MP4.height}, ${size} bytes)`);
