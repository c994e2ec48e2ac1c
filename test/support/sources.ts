import assert from 'node:assert/strict';
import { FramepipeError } from '@framepipe/common';
import { FileSource } from '@framepipe/http-source';
import type { ByteSource } from '@framepipe/http-source';

/** Asserts that `promise` rejects with a FramepipeError of `code` and returns it for more checks. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<FramepipeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FramepipeError, `expected a FramepipeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** Runs `fn` with a FileSource over `file`, closing the source afterwards. */
export async function withFile<T>(file: string, fn: (source: FileSource) => Promise<T>): Promise<T> {
  const source = new FileSource(file);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/** A ByteSource that behaves like `inner` except for `read`, to simulate stalls and failures. */
export function withRead(inner: ByteSource, description: string, read: ByteSource['read']): ByteSource {
  return {
    description,
    get size() {
      return inner.size;
    },
    get bytesRead() {
      return inner.bytesRead;
    },
    open: (signal) => inner.open(signal),
    close: () => inner.close(),
    read,
  };
}
