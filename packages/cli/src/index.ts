export { main, EXIT, VERSION } from './cli.ts';
export type { CliIo } from './cli.ts';
export { FRAME_FLAGS, SOURCE_FLAGS, optionsFromFlags } from './flags.ts';
export { reportFailure } from './report.ts';
export type { OptionFlag } from './flags.ts';
