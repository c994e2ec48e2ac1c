export { ErrorCode, FramepipeError, InvalidOptionError, ResumeMismatchError, AbortError, isAbortError, naming, spellOptions, throwIfAborted } from './errors.ts';
export type { FfmpegStatus, FramepipeErrorDetails, InvalidOptionDetails, OptionText, ResumeMismatchDetails } from './errors.ts';
export {
  invalidOption,
  conflictingOptions,
  assertKnownKeys,
  assertOptionsObject,
  checkInteger,
  checkPositiveNumber,
  checkOneOf,
  checkFunction,
  checkBoolean,
  checkSignal,
  checkHeaders,
  checkOptions,
  rules,
} from './options.ts';
export type { DefaultedRule, OptionRule, RuleTable, SettingsOf } from './options.ts';
export { FrameBudget, checkBudget, defaultWriteWorkers } from './frame-budget.ts';
export type { FrameBudgetOptions } from './frame-budget.ts';
export { BufferPool, checkPool } from './buffer-pool.ts';
export { DISCONTINUITY, InFlight, SharedAttempt, StageBuffers, isDiscontinuity, objectStreamOptions } from './streams.ts';
export type { BufferedRelease } from './streams.ts';
export { PIXEL_FORMATS, PIXEL_LAYOUT } from './pixel-format.ts';
export type { PixelFormat } from './pixel-format.ts';
