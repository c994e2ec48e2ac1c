// Preloaded into a CLI run (NODE_OPTIONS=--import) by cold-start tests: records every module the process resolves,
// the environment it started with, and the libuv pool's threads, into the JSON file named by FRAMEPIPE_TRACE_OUT.
import { registerHooks } from 'node:module';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const out = process.env.FRAMEPIPE_TRACE_OUT;
const atStart = { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? null };
const modules = new Set<string>();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    modules.add(resolved.url);
    return resolved;
  },
});
process.on('exit', () => {
  if (!out) return;
  const threads = readdirSync('/proc/self/task').filter((task) => readFileSync(`/proc/self/task/${task}/comm`, 'utf8').startsWith('libuv-worker')).length;
  const atExit = { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? null };
  writeFileSync(out, JSON.stringify({ modules: [...modules], atStart, atExit, threads }));
});
