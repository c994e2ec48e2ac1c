import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { BufferPool, FrameBudget, ResumeMismatchError, assertKnownKeys, assertOptionsObject, checkBoolean, invalidOption } from '@framepipe/common';
import { OPTION_KEYS, checkDirOptions, openFrameStages, runFrameSink } from '@framepipe/core';
import type { ByteSourceInput, FrameOutput, FrameStagesOptions } from '@framepipe/core';
import { NameTemplate, describeImageShape, imageShapeOf, judgeKept, parseFrameFileName, parseImageHeader } from '@framepipe/sink';
import type { ImageExtension } from '@framepipe/sink';
import { BATCH_RESUME_ADVICE, batchUnreadableAdvice } from './destination.ts';
import type { DestinationCheckOptions, FrameDestination, VideoWriteOptions } from './destination.ts';
import { S3FrameSink } from './s3-frame-sink.ts';
import { S3Location, storageFailed } from './s3-location.ts';

/** The first bytes of a kept object read for its header: any PNG or WebP header, a JPEG's behind its metadata. */
const HEADER_BYTES = 64 * 1024;

/** Options of {@link S3Destination} (and of {@link openDestination} for an `s3://` URL). */
export interface S3DestinationOptions {
  /**
   * A client of your own, used as it is (and left open by {@link S3Destination.close}). Without it, the destination
   * makes one from the standard AWS environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   * `AWS_SESSION_TOKEN`, `AWS_PROFILE`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, the shared config files) and
   * `clientConfig`. Not with `clientConfig` or `forcePathStyle`.
   */
  client?: S3Client | undefined;
  /**
   * Settings of the client the destination makes, over those of the environment: `region`, `endpoint`,
   * `credentials`, `requestChecksumCalculation`, ...
   * @example
   * { endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } }
   */
  clientConfig?: S3ClientConfig | undefined;
  /**
   * Address a bucket in the path (`<endpoint>/<bucket>/<key>`) instead of the host name
   * (`<bucket>.<endpoint>/<key>`), as MinIO and most servers of one's own need.
   * @default true when an endpoint is set (`clientConfig.endpoint`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), false for AWS S3
   */
  forcePathStyle?: boolean | undefined;
}

/**
 * A bucket of S3-compatible object storage (AWS S3, MinIO, Cloudflare R2, ...) as the destination of a batch, through
 * the official AWS SDK: each frame of video `<name>` is the object `<prefix>/<name>/frame_<index:06d>.<ext>` (or as `nameTemplate` says), byte for
 * byte the file a directory run writes, put with one `PutObject` (an object exists whole or not at all), up to
 * `maxWriteWorkers` at once. Frames are encoded as they are decoded and uploaded from memory, nothing is staged on
 * disk, and the frames alive at once are bounded as for a directory.
 *
 * A video run again lists its prefix first (`ListObjectsV2`) and writes only the frames of its selection that have
 * no object yet, so a second run puts nothing and a retried shard overwrites no object. `signal` aborts the uploads
 * under way: no object is half-written, and none appears after the call has settled. A request that storage refuses
 * or fails fails with `ERR_FRAMEPIPE_STORAGE_FAILED` (after the SDK's own retries of transient failures). Not with
 * `manifest` (see {@link S3Destination.prepare}) or `imageWriter`.
 *
 * @example
 * const destination = new S3Destination('s3://my-bucket/datasets/v1');
 * await runBatch(['https://example.com/a.mp4'], { out: destination, step: 10 }); // s3://my-bucket/datasets/v1/a/frame_000000.png, ...
 */
export class S3Destination implements FrameDestination {
  /** `s3://bucket/prefix`, without a slash at its end. */
  readonly location: string;
  /** The client every request goes through. */
  readonly client: S3Client;
  readonly #root: S3Location;
  readonly #ownsClient: boolean;

  /** `url` is `s3://bucket` or `s3://bucket/prefix`; the client is made at once, but no request is made. */
  constructor(url: string, options: S3DestinationOptions = {}) {
    if (typeof url !== 'string') throw invalidOption('out', 's3://bucket/prefix', url);
    this.#root = S3Location.parse(url, 'out');
    this.location = this.#root.toString();
    const opts = assertOptionsObject(options, 'S3Destination');
    assertKnownKeys(opts, ['client', 'clientConfig', 'forcePathStyle'], 'S3Destination');
    if (opts.client !== undefined) {
      // Not instanceof: a client from another copy of the SDK (the application's own version) serves as well.
      if (typeof (opts.client as Partial<S3Client> | null)?.send !== 'function') throw invalidOption('client', 'an S3Client', opts.client);
      if (opts.clientConfig !== undefined || opts.forcePathStyle !== undefined) {
        throw invalidOption('client', 'no clientConfig or forcePathStyle with a client of your own (give them to the client)', opts.client);
      }
      this.client = opts.client;
      this.#ownsClient = false;
    } else {
      const config = opts.clientConfig ?? {};
      if (typeof config !== 'object' || config === null) throw invalidOption('clientConfig', 'an S3ClientConfig object', config);
      const endpoint = config.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
      const forcePathStyle = checkBoolean('forcePathStyle', opts.forcePathStyle, endpoint !== undefined && endpoint !== '');
      this.client = new S3Client({ forcePathStyle, ...config });
      this.#ownsClient = true;
    }
  }

  /**
   * Refuses `manifest` and `imageWriter`, then lists the prefix once, so that a bucket that does not exist, or
   * credentials that cannot read it, fail before any video runs.
   *
   * `manifest` is refused because `frames.jsonl` is one object that every run of a video rewrites from the one
   * before: the shards of one video, run at once by several workers, would each put their own, and the last one
   * would win, without the lines of the others. (A directory has the same race; a bucket makes it the normal case.)
   */
  async prepare(options: DestinationCheckOptions = {}): Promise<void> {
    this.#refuse(options);
    await this.#list(this.#root, 1, options.signal);
  }

  /** Throws for an option this destination cannot honour (see {@link S3Destination.prepare}). */
  #refuse(options: DestinationCheckOptions): void {
    if (options.manifest) {
      throw invalidOption('manifest', `no manifest for ${this.location} (frames.jsonl would be rewritten by each shard of a video, losing the others' lines)`, options.manifest);
    }
    if (options.imageWriter !== undefined) {
      throw invalidOption('imageWriter', `no imageWriter for ${this.location} (it writes files; frames go to object storage with the built-in encoder)`, options.imageWriter);
    }
  }

  videoLocation(name: string): string {
    return this.#root.child(name).toString();
  }

  async writeVideo(source: ByteSourceInput, name: string, options: VideoWriteOptions): Promise<number> {
    const { reused, ...given } = options;
    let kept = 0;
    try {
      const location = this.#root.child(name);
      const settings = checkDirOptions(location.toString(), { ...given, resume: true });
      this.#refuse(settings);
      const { queueMaxSize, maxWriteWorkers, signal, ext, nameTemplate } = settings;
      const saved = new Set<number>();
      for (const key of await this.#list(location, Infinity, signal)) {
        const file = parseFrameFileName(key.slice(location.prefix.length), nameTemplate);
        if (file?.ext === ext) saved.add(file.index);
      }
      // Frames alive at once, as for a directory: the queue, one per uploader, and the one being converted.
      const budget = new FrameBudget(queueMaxSize + maxWriteWorkers + 1);
      const pool = new BufferPool(budget.capacity);
      const sink = new S3FrameSink(this.client, location, { ext, maxWriteWorkers, highWaterMark: queueMaxSize, budget, pool, progress: settings.progress, nameTemplate });
      const decode: Record<string, unknown> = {};
      for (const key of OPTION_KEYS.stages) if (settings[key as keyof typeof settings] !== undefined) decode[key] = settings[key as keyof typeof settings];
      try {
        const stages = await runFrameSink(sink, signal, {
          open: () => openFrameStages(source, settings.selection, { ...(decode as FrameStagesOptions), budget, pool, skip: saved, highWaterMark: 1 }),
          opened: async (stages) => {
            const first = stages.skipped[0];
            if (first && stages.output) await this.#checkKept(location, first.index, stages.skipped.length, stages.output, settings, signal);
            kept = stages.skipped.length;
          },
        });
        return stages.skipped.length + sink.framesWritten;
      } finally {
        budget.close();
      }
    } finally {
      reused?.(kept);
    }
  }

  /**
   * Reads the header of the first object a resumed video keeps (one ranged GET of its first bytes, not the pixels) and
   * fails with `ERR_FRAMEPIPE_RESUME_MISMATCH` when it holds another size or pixel layout than this run makes, or no
   * image. One object stands for all: a GET of each would cost a request per kept frame. Credentials that may list
   * and put but not get (a write-only role) skip the check: the objects are kept, as before there was one.
   */
  async #checkKept(
    location: S3Location,
    index: number,
    kept: number,
    output: FrameOutput,
    settings: { ext: ImageExtension; nameTemplate: string },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const key = location.key(NameTemplate.from(settings.nameTemplate).format(index, settings.ext));
    let bytes: Buffer;
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: location.bucket, Key: key, Range: `bytes=0-${HEADER_BYTES - 1}` }),
        signal ? { abortSignal: signal } : {},
      );
      bytes = Buffer.from(await object.Body!.transformToByteArray());
    } catch (cause) {
      if (isDenied(cause)) return;
      throw storageFailed(`Cannot read ${location.url(key)}`, cause);
    }
    const header = parseImageHeader(bytes);
    const expected = imageShapeOf(settings.ext, output);
    const mismatch = judgeKept([typeof header === 'number' ? null : header], settings.ext, expected);
    if (!mismatch) return;
    const url = location.url(key);
    throw new ResumeMismatchError(url, {
      found: mismatch.found,
      options: mismatch.options,
      expected: describeImageShape(expected),
      differing: 1,
      kept,
      checked: 1,
      advice: mismatch.options.length > 0 ? BATCH_RESUME_ADVICE : batchUnreadableAdvice(url),
    });
  }

  async writeReport(fileName: string, text: string): Promise<string> {
    const key = this.#root.key(fileName);
    const body = Buffer.from(text);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.#root.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'application/x-ndjson' }),
      );
    } catch (cause) {
      throw storageFailed(`Cannot upload ${this.#root.url(key)}`, cause);
    }
    return this.#root.url(key);
  }

  /** Closes the connections of the client it made; a client you gave stays open. */
  async close(): Promise<void> {
    if (this.#ownsClient) this.client.destroy();
  }

  /**
   * The keys under `location`'s prefix, up to `limit`, page by page. Keys further down (`<name>/x/frame_…`) come too,
   * and are no frame of the video: their names, once the prefix is cut off, still hold a `/`.
   */
  async #list(location: S3Location, limit: number, signal: AbortSignal | undefined): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix, ContinuationToken: token, ...(limit < 1000 ? { MaxKeys: limit } : {}) }),
          signal ? { abortSignal: signal } : {},
        );
      } catch (cause) {
        throw storageFailed(`Cannot list ${location.toString() || location.url('')}`, cause);
      }
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined && keys.length < limit);
    return keys;
  }
}

/** A request the storage refused for want of permission (HTTP 401 or 403, `AccessDenied`), not for a failure. */
function isDenied(cause: unknown): boolean {
  const error = cause as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const status = error?.$metadata?.httpStatusCode;
  return error?.name === 'AccessDenied' || status === 401 || status === 403;
}
