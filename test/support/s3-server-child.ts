/**
 * s3rver in a process of its own, started by `startS3Server` with `--openssl-legacy-provider`: s3rver makes the
 * continuation tokens of a listing cut into pages with DES, which OpenSSL 3 (Node 17 on) keeps in its legacy
 * provider, so that without it every listing of more than one page fails with InternalError. The flag stays in this
 * process; the code under test runs with the OpenSSL defaults.
 *
 * argv: directory, access key id, secret access key, bucket names. It sends `{ port }` once listening, answers
 * `'puts'` with `{ puts }` (the keys of the objects created by a PUT so far, in order) and exits on `'close'`.
 */
import { createRequire } from 'node:module';

interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: { Records: Array<{ eventName: string; s3: { object: { key: string } } }> }) => void): void;
}
const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverServer;
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account.js') as {
  DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
};

const [directory, accessKeyId, secretAccessKey, ...buckets] = process.argv.slice(2);
DUMMY_ACCOUNT.createKeyPair(accessKeyId!, secretAccessKey!);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
const puts: string[] = [];
server.on('event', (event) => {
  for (const record of event.Records) if (record.eventName === 'ObjectCreated:Put') puts.push(record.s3.object.key);
});
const { port } = await server.run();
process.send!({ port });
process.on('message', (message) => {
  if (message === 'puts') process.send!({ puts });
  if (message === 'close') server.close().then(() => process.exit(0));
});
