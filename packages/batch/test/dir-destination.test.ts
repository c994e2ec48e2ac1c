import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { temporaryName } from '@framepipe/sink';
import { DirDestination } from '../src/index.ts';

test('writeReport removes the temporary file of a writer killed while it wrote the report, and leaves a live one\'s', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-dir-destination-'));
  try {
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    const dead = temporaryName('batch.jsonl', 1, child.pid);
    const live = temporaryName('batch.jsonl', 1_000_000, process.pid);
    await writeFile(join(dir, dead), '{"half":');
    await writeFile(join(dir, live), '{"being written":');
    const destination = new DirDestination(dir);
    assert.equal(await destination.writeReport('batch.jsonl', '{"a":1}\n'), join(dir, 'batch.jsonl'));
    assert.equal(await readFile(join(dir, 'batch.jsonl'), 'utf8'), '{"a":1}\n');
    assert.deepEqual((await readdir(dir)).sort(), [live, 'batch.jsonl'].sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
