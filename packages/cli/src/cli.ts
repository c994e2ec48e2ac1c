import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import type { Argv, CommandModule } from 'yargs';
import { EXIT } from './exit.ts';
import type { CliIo } from './report.ts';
import type { CommandRun } from './command-run.ts';

export { EXIT, Interrupted, interruptedExit } from './exit.ts';
export type { CliIo } from './report.ts';

/** This package's version (all framepipe packages share one), read from its package.json, one level above src/ and dist/. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A command's options and handler (a yargs CommandModule's `builder` and `handler`), from its module. */
type CommandParts = (run: CommandRun) => object;

/**
 * The commands as the help lists them. Each one's module is imported only when the command line names it: `--help`
 * loads none, `probe` no image encoder, a URL no Supervisely client, and only the queue's commands load BullMQ.
 */
const COMMANDS: Record<string, { command: string; describe: string; load: () => Promise<CommandParts> }> = {
  frames: {
    command: 'frames [source]',
    describe: 'Save a range of frames as PNG/JPEG/WebP files',
    load: async () => (await import('./frames-command.ts')).framesCommand,
  },
  probe: {
    command: 'probe [source]',
    describe: 'Describe a video: codec, size, frame count, fps, duration, B-frames, rotation',
    load: async () => (await import('./probe-command.ts')).probeCommand,
  },
  batch: {
    command: 'batch [sources..]',
    describe: 'Save the frames of many videos, each into a directory of its own; run again, it does what is missing',
    load: async () => (await import('./batch-command.ts')).batchCommand,
  },
  enqueue: {
    command: 'enqueue [sources..]',
    describe: 'Add a batch of videos to the work queue in Redis, for workers on any machine',
    load: async () => (await import('./enqueue-command.ts')).enqueueCommand,
  },
  worker: {
    command: 'worker',
    describe: 'Run shards of the work queue until stopped',
    load: async () => (await import('./worker-command.ts')).workerCommand,
  },
  queue: {
    command: 'queue <command>',
    describe: 'Look at the work queue: queue status, queue dashboard',
    load: async () => (await import('./queue-status-command.ts')).queueCommand,
  },
};

/** Runs the CLI on `argv` (without the node and script paths) and resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const columns = (io.stdout as { columns?: number }).columns;
  const run: CommandRun = {
    io,
    usageFailed: () => exitCode === EXIT.usage,
    usage,
    exit: (code) => (exitCode = code),
  };
  const chosen = argv.find((arg) => Object.hasOwn(COMMANDS, arg));
  const parts = chosen === undefined ? undefined : (await COMMANDS[chosen]!.load())(run);
  let parser: Argv = yargs(argv)
    .scriptName('framepipe')
    .usage('Usage: $0 <command> [options]\n\nStream the frames of a video behind a URL, on disk or on Supervisely into image files.');
  for (const [name, { command, describe }] of Object.entries(COMMANDS)) {
    // The other commands need only their name and line in the help.
    parser = parser.command({ command, describe, ...(name === chosen ? parts : { handler: () => {} }) } as CommandModule);
  }
  parser = parser
    .demandCommand(1, 'Name a command: frames, probe, batch, enqueue, worker or queue')
    .strict()
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .epilog('Exit codes: 0 done, 1 the run failed, 2 bad usage or option, 130 interrupted (Ctrl-C),\n143 terminated (SIGTERM).\nRun "framepipe <command> --help" for the options of a command.')
    // yargs lays out a command's whole help before running it, to show it on a later failure (this CLI shows its own
    // message instead): fitting the text to the terminal costs about 0.1 s, spent only when the help is asked for.
    .wrap(argv.includes('--help') || argv.includes('-h') ? Math.min(110, columns ?? 100) : null)
    .fail((message, error) => {
      // Commands report their own failures; what reaches here is a usage mistake that yargs found.
      usage(message || (error instanceof Error ? error.message : String(error)));
    })
    .exitProcess(false);
  // Given a callback, yargs hands over the help text instead of printing it with console.log.
  const help = await new Promise<string>((done) => {
    parser.parseAsync(argv, {}, (_error, _parsed, text) => done(text)).catch(() => done(''));
  });
  if (help) (exitCode === EXIT.ok ? io.stdout : io.stderr).write(`${help}\n`);
  return exitCode;

  function usage(message: string): void {
    // yargs names a missing option by its key ("Missing required argument: out"); users know it by its flag.
    message = message.replace(/^(Missing required arguments?): (.+)$/, (_all, head: string, names: string) => {
      return `${head}: ${names.split(', ').map((name) => `--${name}`).join(', ')}`;
    });
    // A flag that another command takes, refused here on purpose: say why rather than only that it is unknown.
    message = message.replace(/^(Unknown arguments?): (.+)$/, (all, _head: string, names: string) => {
      const why = names.split(', ').flatMap((name) => {
        const reason = chosen === undefined ? undefined : NOT_HERE[chosen]?.[name];
        return reason ? [`--${name} is not taken by ${chosen}: ${reason}`] : [];
      });
      return why.length > 0 ? `${all}. ${why.join('. ')}` : all;
    });
    io.stderr.write(`ERR_FRAMEPIPE_USAGE ${message}\nRun framepipe --help for usage.\n`);
    exitCode = EXIT.usage;
  }
}

/** Flags of other commands that a command refuses on purpose, and why, by command and flag name. */
const NOT_HERE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  enqueue: { header: 'the batch is stored in Redis, and request headers never go there; give them to each worker (framepipe worker --header "Name: value")' },
};
