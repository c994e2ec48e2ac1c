import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { BufferPool } from '@framepipe/common';
import type { SinkFrame } from '../src/index.ts';
import { renderFrameCode } from '../../../test/support/frame-code.ts';

/** An RGB frame showing the frame code of `index` (white on black), its data taken from `pool` when given. */
export function codeFrame(index: number, width = 320, height = 240, pool?: BufferPool): SinkFrame {
  const bitmap = renderFrameCode(index, width, height);
  const data = pool ? pool.take(width * height * 3).fill(0) : Buffer.alloc(width * height * 3);
  for (let i = 0; i < bitmap.length; i++) if (bitmap[i]) data.fill(255, i * 3, i * 3 + 3);
  return { index, width, height, data };
}

/**
 * Fresh empty directories for the tests of one file, under a temporary root made before they run and removed after.
 * Call it at the top of the file.
 */
export function emptyDirs(prefix: string): () => Promise<string> {
  let root = '';
  let count = 0;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });
  return async () => {
    const dir = path.join(root, `out-${++count}`);
    await fs.mkdir(dir);
    return dir;
  };
}

/** A promise with its resolve and reject at hand. */
export function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Polls `condition` (file system work runs on other threads, so turns of the event loop are not enough). */
export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await sleep(1);
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/**
 * Writes that each stop at a gate until the test opens it, counting how many are under way at once: for checking
 * that no more than a bound of them run together.
 */
export class GatedWrites {
  maxRunning = 0;
  #running = 0;
  readonly started: number[] = [];
  readonly #gates = new Map<number, ReturnType<typeof deferred>>();

  /** Write `index`: waits for its gate, then runs `finish`. */
  async write(index: number, finish: () => Promise<void>): Promise<void> {
    this.maxRunning = Math.max(this.maxRunning, ++this.#running);
    this.started.push(index);
    const gate = deferred();
    this.#gates.set(index, gate);
    await gate.promise;
    await finish();
    this.#running--;
  }

  /**
   * Asserts that writes 0 to `bound - 1` start and the next one waits until write 1 ends; then lets all `count`
   * writes through in order.
   */
  async assertBound(bound: number, count: number): Promise<void> {
    const first = Array.from({ length: bound + 1 }, (_, i) => i);
    await waitFor(() => this.started.length === bound, `${bound} writes`);
    for (let i = 0; i < 50; i++) await tick();
    assert.deepEqual(this.started, first.slice(0, bound), `write ${bound} waits`);
    this.#gates.get(1)!.resolve();
    await waitFor(() => this.started.length === bound + 1, `write ${bound}`);
    for (let i = 0; i < 50; i++) await tick();
    assert.deepEqual(this.started, first);
    for (let next = 0; next < count; next++) {
      await waitFor(() => this.#gates.has(next), `write ${next}`);
      this.#gates.get(next)!.resolve();
    }
  }
}
