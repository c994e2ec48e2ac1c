import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { parseRange } from '@framepipe/supervisely/stand-in';

/** The embedded sample: 3 s of 320×240 H.264 with B-frames, each frame showing its own number. */
export const SAMPLE_VIDEO = new URL('../assets/sample.mp4', import.meta.url).pathname;

/**
 * Serves one file on 127.0.0.1 with HTTP Range support, the way a storage server or CDN does, so the examples
 * stream over real HTTP without reaching any other host. Resolves with its URL and a `close` function.
 */
export async function serveFile(path: string): Promise<{ url: string; close: () => Promise<void> }> {
  const { size } = await stat(path);
  const server = createServer((request, response) => {
    const range = parseRange(request.headers.range, size);
    if (range === undefined) {
      response.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes', 'content-type': 'video/mp4' });
      createReadStream(path).pipe(response);
      return;
    }
    if (range === 'unsatisfiable') {
      response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const [start, end] = range;
    response.writeHead(206, {
      'content-range': `bytes ${start}-${end}/${size}`,
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      'content-type': 'video/mp4',
    });
    createReadStream(path, { start, end }).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${basename(path)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
