import { availableParallelism } from 'node:os';

/**
 * glibc's malloc settings for a process that encodes images: allocations up to 256 MiB come from the heap instead of
 * fresh `mmap`s, and freed memory goes back to the system only past 512 MiB. Frame-sized buffers (6 MB at 1080p) are
 * then reused instead of mapped, zeroed by the kernel and unmapped for every image. glibc reads them once, when the
 * process starts.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=536870912';

/** The commands that decode and encode images, and so gain from MALLOC_TUNABLES; the others start without a re-exec. */
const ENCODING_COMMANDS = new Set(['frames', 'batch', 'worker']);

/** The libuv pool's tasks of one decoding pipeline besides its writers: node-av's demuxer reads and decoder calls. */
const PIPELINE_TASKS = 2;

/** libuv's own default and its upper bound for UV_THREADPOOL_SIZE. */
const UV_DEFAULT_THREADS = 4;
const UV_MAX_THREADS = 1024;

/** What the command line asks of the process before any module runs. */
export interface ProcessEnvironment {
  /** Variables to set; only those the user did not set. */
  readonly set: Readonly<Record<string, string>>;
  /** Whether the process must start again for them to apply (glibc reads its tunables only at start). */
  readonly restart: boolean;
}

/**
 * The environment the `framepipe` process needs for the command in `argv` (without the node and script paths),
 * given the environment it has and the machine's cores:
 * - `UV_THREADPOOL_SIZE`: libuv's pool runs the encoders, file writes and node-av's asynchronous demuxer and decoder
 *   calls; its default of 4 threads would cap the writers of a machine with more cores. It gets one thread per writer
 *   (`--max-write-workers`, by default one per core) plus the pipeline's own, for each video or shard run at once
 *   (`--concurrency`), and never less than libuv's 4.
 * - `GLIBC_TUNABLES` (MALLOC_TUNABLES) for the commands that encode, on glibc, which needs the process to start
 *   again; `canRestart` says whether it can (`process.execve`).
 * A variable the user set, even empty, is left as it is: that is how to opt out.
 */
export function processEnvironment(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  { cores = availableParallelism(), glibc, canRestart = typeof process.execve === 'function' }: { cores?: number; glibc?: boolean; canRestart?: boolean } = {},
): ProcessEnvironment {
  const set: Record<string, string> = {};
  const command = argv.find((arg) => !arg.startsWith('-'));
  if (env.UV_THREADPOOL_SIZE === undefined) {
    const writers = flagValue(argv, 'max-write-workers') ?? cores;
    const lanes = command === 'worker' ? (flagValue(argv, 'concurrency') ?? 1) : command === 'batch' ? (flagValue(argv, 'concurrency') ?? cores) : 1;
    set.UV_THREADPOOL_SIZE = String(Math.min(UV_MAX_THREADS, Math.max(UV_DEFAULT_THREADS, lanes * (writers + PIPELINE_TASKS))));
  }
  let restart = false;
  if (env.GLIBC_TUNABLES === undefined && command !== undefined && ENCODING_COMMANDS.has(command) && canRestart && (glibc ?? isGlibc())) {
    set.GLIBC_TUNABLES = MALLOC_TUNABLES;
    restart = true;
  }
  return { set, restart };
}

/**
 * Sets the environment processEnvironment asks for, before anything has used libuv's pool; when glibc's tunables
 * need it, starts the same command again in this process (same pid, same stdio) with them, and does not return.
 */
export function prepareProcess(argv: readonly string[]): void {
  const { set, restart } = processEnvironment(argv, process.env);
  Object.assign(process.env, set);
  if (restart) process.execve!(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], process.env);
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

function isGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const { header } = process.report.getReport() as { header: { glibcVersionRuntime?: string } };
  return header.glibcVersionRuntime !== undefined;
}
