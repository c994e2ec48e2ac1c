export { main, EXIT, VERSION } from './cli.ts';
export type { CliIo } from './cli.ts';
export { FRAME_FLAGS, SOURCE_FLAGS } from './flags.ts';
export type { OptionFlag } from './flags.ts';
