/**
 * A real S3-compatible server on loopback for the tests: s3rver (from npm), storing objects in a temporary
 * directory, in a child process (see s3-server-child.ts), talked to over HTTP by the official AWS SDK client. It
 * tells which objects PUTs created, so that a test can tell that a run put nothing. s3rver checks the access key id
 * of a request, not its SigV4 signature.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { removeDir, tempDir } from './pipeline-helpers.ts';

/** Credentials the server accepts, distinct from s3rver's built-in pair so that a test can look for them in output. */
export const S3_CREDENTIALS = { accessKeyId: 'framepipe-test-key', secretAccessKey: 'framepipe-test-secret-0f9e' } as const;
/** The region every client of the tests signs for. */
export const S3_REGION = 'us-east-1';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** The standard AWS variables that lead a process (a CLI run, a worker) to this server with its credentials. */
  readonly env: Readonly<Record<string, string>>;
  /** A client of the test's own (path-style, checksums only where S3 requires them), to read what a run wrote. */
  readonly client: S3Client;
  /** Keys of the objects created by a PUT since the server started, in order. */
  puts(): Promise<string[]>;
  /** Every key under `prefix`, sorted. */
  keys(bucket: string, prefix?: string): Promise<string[]>;
  /** The bytes of an object, with its Content-Type. */
  get(bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined }>;
  close(): Promise<void>;
}

/** Starts s3rver on a free loopback port with `buckets` created. */
export async function startS3Server(buckets: readonly string[]): Promise<S3TestServer> {
  const directory = await tempDir('framepipe-s3rver-');
  const child = fork(new URL('./s3-server-child.ts', import.meta.url), [directory, S3_CREDENTIALS.accessKeyId, S3_CREDENTIALS.secretAccessKey, ...buckets], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { port } = (await reply(child)) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: S3_REGION,
    credentials: S3_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: S3_REGION,
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      // s3rver predates the SDK's default CRC checksums: send and check them only where S3 requires them.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    },
    client,
    async puts() {
      // Messages of one channel arrive in order: every PUT event sent before this answer has been received.
      child.send('puts');
      return ((await reply(child)) as { puts: string[] }).puts;
    },
    async keys(bucket, prefix = '') {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) keys.push(object.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async get(bucket, key) {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { body: Buffer.from(await object.Body!.transformToByteArray()), contentType: object.ContentType };
    },
    async close() {
      client.destroy();
      child.send('close');
      if (child.exitCode === null) await once(child, 'exit');
      await removeDir(directory);
    },
  };
}

/** The next message of the child, or its exit as an error. */
async function reply(child: ChildProcess): Promise<unknown> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`s3rver exited (code ${code}) before it answered`);
  });
  try {
    const [message] = await Promise.race([once(child, 'message'), exited]);
    return message;
  } finally {
    exited.catch(() => {});
  }
}
