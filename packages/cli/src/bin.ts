#!/usr/bin/env node
import { enableCompileCache } from 'node:module';
import { prepareProcess } from './process-env.ts';

// Before anything uses libuv's pool or allocates much: the pool's size and glibc's malloc settings (which may start
// the process again), then V8's code cache for the modules the command loads. The command's modules come after.
prepareProcess(process.argv.slice(2));
enableCompileCache();
const { Interrupted, interruptedExit, main } = await import('./cli.ts');

const controller = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C while stopping exits at once.
    const reason = new Interrupted(signal);
    if (interrupted) process.exit(interruptedExit(reason));
    interrupted = true;
    controller.abort(reason);
  });
}

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, signal: controller.signal });
process.exitCode = code;
