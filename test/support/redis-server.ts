/**
 * A real Redis for the queue's tests: Debian's `redis-server` on a free loopback port, with nothing saved to disk,
 * stopped by `close()`; with `tls`, it speaks TLS only, with a certificate for 127.0.0.1 made here by openssl.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface RedisServer {
  /** `redis://[:password@]127.0.0.1:<port>`, or `rediss://` with `tls` */
  readonly url: string;
  readonly port: number;
  /** With `tls`: the certificate a client must trust (e.g. through NODE_EXTRA_CA_CERTS). */
  readonly certificate?: string;
  close(): Promise<void>;
}

/** A free TCP port on loopback, as the system gives one. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A self-signed certificate and key for 127.0.0.1, in a new directory. */
async function certificateFor127(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'framepipe-redis-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ]);
  return { dir, cert, key };
}

/**
 * Starts redis-server; `password` sets `--requirepass`, `tls` makes it speak TLS only, `port` fixes the port (else
 * a free one). Fails with an install hint when the binary is missing.
 */
export async function startRedis(options: { password?: string; tls?: boolean; port?: number } = {}): Promise<RedisServer> {
  // A fixed port keeps tests that run side by side (several worktrees on one machine) apart.
  const port = options.port ?? (await freePort());
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const tls = options.tls ? await certificateFor127() : undefined;
  if (tls) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.cert, '--tls-auth-clients', 'no');
  } else args.push('--port', String(port));
  if (options.password) args.push('--requirepass', options.password);
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error('redis-server is not installed; the queue tests need it: apt-get install -y redis-server') : error),
    );
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it listened:\n${output}`)));
  });
  const deadline = Date.now() + 10_000;
  const listening = (async () => {
    while (Date.now() < deadline) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server did not listen on ${port} within 10 s:\n${output}`);
  })();
  await Promise.race([listening, failed]);
  failed.catch(() => {});
  const scheme = tls ? 'rediss' : 'redis';
  return {
    url: options.password ? `${scheme}://:${encodeURIComponent(options.password)}@127.0.0.1:${port}` : `${scheme}://127.0.0.1:${port}`,
    port,
    ...(tls ? { certificate: tls.cert } : {}),
    close: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      if (tls) await rm(tls.dir, { recursive: true, force: true });
    },
  };
}
