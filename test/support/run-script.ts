import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** The CLI's entry point. */
export const BIN = resolve(ROOT, 'packages/cli/src/bin.ts');

/** What a finished script left behind. */
export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunScriptOptions {
  /** Working directory. @default the repository root */
  cwd?: string;
  /**
   * HOME of the child. Always a directory the test controls, so no real `~/supervisely.env` is read.
   * @default the system temp dir
   */
  home?: string;
  /** Extra environment variables; one set to `undefined` is taken out of the child's environment. */
  env?: Record<string, string | undefined>;
  /** What the child reads on stdin; without it, stdin ends at once. */
  input?: string;
  /** Called once the child runs, e.g. to send it a signal. */
  onSpawn?: (child: ChildProcess) => void;
}

// Credentials a developer may have in the environment; a test must never send them anywhere.
const SCRUBBED = ['SERVER_ADDRESS', 'API_TOKEN', 'SUPERVISELY_API_SERVER_ADDRESS', 'VIDEO_ID', 'TASK_ID'];

/**
 * Runs a script with the Node that runs the tests (24), with an environment free of Supervisely credentials, and
 * resolves with its exit code and output, whatever the code.
 */
export function runScript(script: string, args: string[], options: RunScriptOptions = {}): Promise<ScriptResult> {
  const env: Record<string, string | undefined> = { ...process.env, HOME: options.home ?? '/tmp', ...options.env };
  for (const name of SCRUBBED) if (!options.env?.[name]) delete env[name];
  const child = spawn(process.execPath, [script, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  options.onSpawn?.(child);
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

/** Runs the CLI with each set of `args` and asserts a usage error: exit 2, nothing on stdout, `ERR_FRAMEPIPE_USAGE` and `message` on stderr. */
export async function assertUsageErrors(cases: Array<[string[], RegExp]>): Promise<void> {
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await runScript(BIN, args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.match(stderr, /^ERR_FRAMEPIPE_USAGE /);
    assert.match(stderr, message);
  }
}
