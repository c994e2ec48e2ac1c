#!/usr/bin/env node
import { EXIT, main } from './cli.ts';

const controller = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C while stopping exits at once.
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    controller.abort(new Error(`Interrupted by ${signal}`));
  });
}

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
process.exitCode = code;
