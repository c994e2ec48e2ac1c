import { invalidOption } from '@framepipe/common';
import { DirDestination } from './destination.ts';
import type { FrameDestination } from './destination.ts';
import { S3Destination } from './s3-destination.ts';
import type { S3DestinationOptions } from './s3-destination.ts';
import { isS3Url } from './s3-location.ts';

/**
 * The destination an `out` names: an {@link S3Destination} for `s3://bucket/prefix` (with `options`), a
 * {@link DirDestination} for a path; any other URL (`https://…`, `gs://…`) fails with `ERR_FRAMEPIPE_INVALID_OPTION`
 * rather than becoming a directory named after it. No request is made and no directory created before
 * `prepare()`. What `runBatch` does with its `out`, and what a queue's workers do with theirs.
 *
 * @example
 * const destination = openDestination(process.env.OUT ?? '/tmp/frames');
 * try {
 *   await destination.prepare();
 *   await destination.writeVideo('clip.mp4', 'clip', { stats: new RunStats(), progress: () => {} });
 * } finally {
 *   await destination.close();
 * }
 */
export function openDestination(out: string, options?: S3DestinationOptions): FrameDestination {
  if (typeof out !== 'string' || out.length === 0) throw invalidOption('out', 'a non-empty path or s3://bucket/prefix', out);
  if (isS3Url(out)) return new S3Destination(out, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(out)) throw invalidOption('out', 'a directory or s3://bucket/prefix (no other storage is written)', out);
  return new DirDestination(out);
}
