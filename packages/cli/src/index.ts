export { main, EXIT } from './cli.ts';
export type { CliIo } from './cli.ts';
