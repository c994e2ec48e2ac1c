import { AbortError, ErrorCode, FramepipeError, invalidOption } from '@framepipe/common';

/** The scheme of an object-storage destination: `s3://bucket/prefix`. */
export const S3_SCHEME = 's3://';

/** True for `s3://…`, in any case. */
export function isS3Url(value: string): boolean {
  return value.slice(0, S3_SCHEME.length).toLowerCase() === S3_SCHEME;
}

// The rule of AWS S3, MinIO and R2 (lower case; upper case and `_` only in legacy us-east-1 buckets, which are kept).
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/i;

/** A place in a bucket: the bucket, and a prefix of keys that is empty or ends in `/`. */
export class S3Location {
  readonly bucket: string;
  /** Empty (the whole bucket), or ends in `/`. */
  readonly prefix: string;

  constructor(bucket: string, prefix: string) {
    this.bucket = bucket;
    this.prefix = prefix;
  }

  /**
   * Reads `s3://bucket`, `s3://bucket/prefix` or `s3://bucket/prefix/` (the prefix as written: keys are not URL
   * paths, so nothing is percent-decoded; slashes at its ends and doubled ones are dropped). A URL with no bucket,
   * or a bucket name S3 does not allow, fails with `ERR_FRAMEPIPE_INVALID_OPTION` for `option`.
   */
  static parse(url: string, option: string): S3Location {
    const rest = isS3Url(url) ? url.slice(S3_SCHEME.length) : '';
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    if (!BUCKET.test(bucket)) throw invalidOption(option, 's3://bucket/prefix with a bucket name of 3 to 63 letters, digits, dots and hyphens', url);
    const parts = slash === -1 ? [] : rest.slice(slash + 1).split('/').filter((part) => part.length > 0);
    return new S3Location(bucket, parts.map((part) => `${part}/`).join(''));
  }

  /** The location of the keys under `<prefix><name>/`. */
  child(name: string): S3Location {
    return new S3Location(this.bucket, `${this.prefix}${name}/`);
  }

  /** The key of `name` under the prefix. */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** `s3://bucket/prefix`, without the slash at its end, as shown to people. */
  toString(): string {
    return `${S3_SCHEME}${this.bucket}/${this.prefix}`.replace(/\/$/, '');
  }

  /** `s3://bucket/key`. */
  url(key: string): string {
    return `${S3_SCHEME}${this.bucket}/${key}`;
  }
}

/**
 * The error of a request that object storage refused or failed: `message`, then the storage's own error name and
 * text (`NoSuchBucket: The specified bucket does not exist`), with the HTTP status and the SDK's error as `cause`.
 * The SDK's messages hold no credentials (a signed request shows at most the access key id, in headers we never
 * print). An abort stays an abort.
 */
export function storageFailed(message: string, cause: unknown): FramepipeError {
  const error = cause as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  if (error?.name === 'AbortError') return new AbortError(cause);
  const status = typeof error?.$metadata?.httpStatusCode === 'number' ? error.$metadata.httpStatusCode : undefined;
  const name = typeof error?.name === 'string' && error.name !== 'Error' ? `${error.name}: ` : '';
  const text = typeof error?.message === 'string' && error.message.length > 0 ? error.message : (status === undefined ? 'failed' : `HTTP ${status}`);
  const hint = storageHint(error?.name, typeof error?.message === 'string' ? error.message : '');
  return new FramepipeError(ErrorCode.STORAGE_FAILED, `${message}: ${name}${text}${hint}`, { cause, ...(status === undefined ? {} : { status }) });
}

/** What to do about a storage failure that comes from this machine's settings rather than from the storage. */
function storageHint(name: unknown, message: string): string {
  if (name === 'NoSuchBucket') return ' (create the bucket, or check its name and AWS_ENDPOINT_URL)';
  // The SDK finds no region in AWS_REGION, AWS_DEFAULT_REGION or the shared config files.
  if (/region is missing|region not accepted/i.test(message)) return ' (set AWS_REGION, or a region in ~/.aws/config for AWS_PROFILE)';
  if (name === 'CredentialsProviderError') {
    return ' (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, in this process\'s environment)';
  }
  return '';
}
