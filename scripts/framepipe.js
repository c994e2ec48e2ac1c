// `pnpm framepipe …` in this repository: the CLI on its TypeScript sources, no build step. JavaScript, so that the
// compile cache is on before the first TypeScript file loads.
import './compile-cache.js';

// pnpm runs package scripts in the workspace root, while paths on the command line are meant from where the user
// typed it, which pnpm (like npm) passes as INIT_CWD. The published `framepipe` bin never changes directory: in a
// user's own npm script, relative paths are the script's.
if (process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
await import('../packages/cli/src/bin.ts');
