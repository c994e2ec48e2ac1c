import { availableParallelism } from 'node:os';

/** The libuv pool's tasks of one decoding pipeline besides its writers: node-av's demuxer reads and decoder calls. */
const PIPELINE_TASKS = 2;

/** libuv's own default and its upper bound for UV_THREADPOOL_SIZE. */
const UV_DEFAULT_THREADS = 4;
const UV_MAX_THREADS = 1024;

/** What the command line asks of the process before any module runs. */
export interface ProcessEnvironment {
  /** Variables to set; only those the user did not set. */
  readonly set: Readonly<Record<string, string>>;
}

/**
 * The environment the `framepipe` process needs for the command in `argv` (without the node and script paths),
 * given the environment it has and the machine's cores:
 * - `UV_THREADPOOL_SIZE`: libuv's pool runs the encoders, file writes and node-av's asynchronous demuxer and decoder
 *   calls; its default of 4 threads would cap the writers of a machine with more cores. It gets one thread per writer
 *   (`--max-write-workers`, by default one per core and at least 4, as the library's default) plus the pipeline's own, for each video or shard run at once
 *   (`--concurrency`), and never less than libuv's 4.
 * A variable the user set, even empty, is left as it is: that is how to opt out. (glibc's malloc tunables were
 * tried for the encoders and dropped: with sharp and libjpeg-turbo they gave nothing measurable, and a second
 * start of the process cost about 100 ms; BENCHMARKS.md.)
 */
export function processEnvironment(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  { cores = availableParallelism() }: { cores?: number } = {},
): ProcessEnvironment {
  const set: Record<string, string> = {};
  const command = argv.find((arg) => !arg.startsWith('-'));
  if (env.UV_THREADPOOL_SIZE === undefined) {
    // The library's default (defaultWriteWorkers in @framepipe/common, not imported: this runs before any module).
    const writers = flagValue(argv, 'max-write-workers') ?? Math.max(4, cores);
    const lanes = command === 'worker' ? (flagValue(argv, 'concurrency') ?? 1) : command === 'batch' ? (flagValue(argv, 'concurrency') ?? cores) : 1;
    set.UV_THREADPOOL_SIZE = String(Math.min(UV_MAX_THREADS, Math.max(UV_DEFAULT_THREADS, lanes * (writers + PIPELINE_TASKS))));
  }
  return { set };
}

/** Sets the environment processEnvironment asks for: to be called before anything has used libuv's pool. */
export function prepareProcess(argv: readonly string[]): void {
  Object.assign(process.env, processEnvironment(argv, process.env).set);
}

/** The positive integer given to `--name N` or `--name=N` (or its camelCase spelling, which yargs also takes). */
function flagValue(argv: readonly string[], name: string): number | undefined {
  const spellings = [`--${name}`, `--${name.replace(/-(\w)/g, (_all, letter: string) => letter.toUpperCase())}`];
  let found: string | undefined;
  argv.forEach((arg, at) => {
    for (const flag of spellings) {
      if (arg === flag) found = argv[at + 1];
      else if (arg.startsWith(`${flag}=`)) found = arg.slice(flag.length + 1);
    }
  });
  const value = Number(found);
  // A malformed value is the parser's to report; the pool keeps its default size meanwhile.
  return found !== undefined && Number.isInteger(value) && value >= 1 ? value : undefined;
}
