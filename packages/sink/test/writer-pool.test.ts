import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { WriterPool } from '../src/writer-pool.ts';
import { GatedWrites, deferred, emptyDirs, waitFor } from './support.ts';

const emptyDir = emptyDirs('framepipe-writer-pool-');

/** A pool whose failures are collected in `failures`. */
function poolOf(dir: string, maxWriters: number) {
  const failures: Error[] = [];
  return { pool: new WriterPool(dir, maxWriters, (error) => failures.push(error)), failures };
}

/** Starts `write` and resolves (or rejects) with its `ready`: when the next write may start. */
function start(pool: WriterPool, write: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => pool.run(write, (error) => (error ? reject(error) : resolve())));
}

test('commit: the file appears whole under its name; it was written under a hidden name with the same extension', async () => {
  const dir = await emptyDir();
  const { pool } = poolOf(dir, 2);
  let temp = '';
  await pool.commit('frame_000001.png', async (tempPath) => {
    temp = tempPath;
    assert.equal(path.dirname(tempPath), dir);
    assert.match(path.basename(tempPath), /^\.frame_000001\.png\.\d+-\d+@[0-9a-f]{8}\.partial\.png$/);
    await fs.writeFile(tempPath, 'first half ');
    assert.deepEqual(readdirSync(dir), [path.basename(tempPath)], 'no final file before the write completes');
    await fs.appendFile(tempPath, 'second half');
  });
  assert.deepEqual(readdirSync(dir), ['frame_000001.png']);
  assert.equal(await fs.readFile(path.join(dir, 'frame_000001.png'), 'utf8'), 'first half second half');
  await pool.commit('frame_000002.png', async (tempPath) => {
    assert.notEqual(tempPath, temp, 'each commit has a temporary name of its own');
    await fs.writeFile(tempPath, 'x');
  });
});

test('at most maxWriters writes run at once: the next starts only when one ends; every file is kept', async () => {
  const dir = await emptyDir();
  const { pool, failures } = poolOf(dir, 3);
  const writes = new GatedWrites();
  const feed = (async () => {
    for (let i = 0; i < 7; i++) {
      await start(pool, () => pool.commit(`frame_${i}.txt`, (tempPath) => writes.write(i, () => fs.writeFile(tempPath, `frame ${i}`))));
    }
  })();
  await writes.assertBound(3, 7);
  await feed;
  await pool.settled();
  assert.equal(writes.maxRunning, 3);
  assert.deepEqual(failures, []);
  assert.equal(pool.failure, null);
  const names = Array.from({ length: 7 }, (_, i) => `frame_${i}.txt`);
  assert.deepEqual(readdirSync(dir).sort(), names.sort(), 'every file, no temporary one');
  for (let i = 0; i < 7; i++) assert.equal(await fs.readFile(path.join(dir, `frame_${i}.txt`), 'utf8'), `frame ${i}`);
});

test('a write that throws: its temporary file is removed, no final file; the pool reports its first failure', async () => {
  const dir = await emptyDir();
  const { pool, failures } = poolOf(dir, 3);
  const first = new Error('disk on fire');
  const second = new Error('still on fire');
  let halfway = 0;
  const write = (name: string, gate: Promise<void>) => () =>
    pool.commit(name, async (tempPath) => {
      await fs.writeFile(tempPath, 'partial');
      halfway++;
      await gate;
    });
  const a = deferred();
  const b = deferred();
  await start(pool, write('a.png', a.promise));
  await start(pool, write('b.png', b.promise));
  await waitFor(() => halfway === 2, 'two writes halfway');
  assert.equal(readdirSync(dir).length, 2, 'two temporary files');
  a.reject(first);
  await waitFor(() => failures.length === 1, 'the first failure');
  b.reject(second);
  await pool.settled();
  assert.deepEqual(failures, [first, second], 'every failure is heard, as thrown');
  assert.equal(pool.failure, first, 'the first one is the failure');
  assert.deepEqual(readdirSync(dir), [], 'no file, no temporary file');
});

test('a rename that fails (a directory in the way): the temporary file is removed and the error is the system\'s', async () => {
  const dir = await emptyDir();
  await fs.mkdir(path.join(dir, 'frame_000002.png'));
  const { pool } = poolOf(dir, 1);
  await assert.rejects(
    pool.commit('frame_000002.png', (tempPath) => fs.writeFile(tempPath, 'x')),
    (error: NodeJS.ErrnoException) => typeof error.code === 'string' && error.syscall === 'rename',
  );
  assert.deepEqual(readdirSync(dir), ['frame_000002.png']);
});

test('abort: a held ready fails with the reason, the signal aborts with it, and settled() waits for the writers', async () => {
  const dir = await emptyDir();
  const { pool } = poolOf(dir, 2);
  const reason = new Error('stop');
  let listening = 0;
  let stopped = 0;
  // An upload that takes a moment to stop when told to, then rejects, so its file is never kept.
  const upload = (name: string) => () =>
    pool.commit(name, async (tempPath) => {
      await fs.writeFile(tempPath, 'half an upload');
      await new Promise<void>((_, reject) => {
        const stop = () => setTimeout(() => (stopped++, reject(pool.signal.reason)), 20);
        if (pool.signal.aborted) return stop();
        pool.signal.addEventListener('abort', stop, { once: true });
        listening++;
      });
    });
  await start(pool, upload('a.png'));
  const held = start(pool, upload('b.png'));
  await waitFor(() => listening === 2, 'two uploads under way');
  assert.equal(pool.signal.aborted, false);
  pool.abort(reason);
  await assert.rejects(held, reason);
  assert.equal(pool.signal.reason, reason);
  await pool.settled();
  assert.equal(stopped, 2, 'settled once both writers had stopped');
  assert.deepEqual(readdirSync(dir), [], 'no file, no temporary file');
});

test('abort after a write failed: the held ready and the signal get that failure, not the reason given', async () => {
  const dir = await emptyDir();
  const { pool } = poolOf(dir, 1);
  const failure = new Error('disk full');
  const gate = deferred();
  const held = start(pool, async () => {
    await gate.promise;
    throw failure;
  });
  gate.resolve();
  await pool.settled();
  pool.abort(new Error('destroyed'));
  await assert.rejects(held, failure);
  assert.equal(pool.signal.reason, failure);
});
