/**
 * Exit codes: 0 success, 1 a failed run, 2 bad usage, 130 interrupted by Ctrl-C and 143 by SIGTERM (128 + the
 * signal's number, as shells report a process killed by it).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

/** What the bin aborts a run with when a signal arrives: the signal travels with it, for the exit code. */
export class Interrupted extends Error {
  readonly signal: NodeJS.Signals;

  constructor(signal: NodeJS.Signals) {
    super(`Interrupted by ${signal}`);
    this.name = 'Interrupted';
    this.signal = signal;
  }
}

/** The exit code of a run stopped by `reason` (an {@link Interrupted}, or anything else: as Ctrl-C). */
export function interruptedExit(reason: unknown): number {
  return reason instanceof Interrupted && reason.signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
}
