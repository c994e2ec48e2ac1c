#!/usr/bin/env node
import { Interrupted, interruptedExit, main } from './cli.ts';

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
