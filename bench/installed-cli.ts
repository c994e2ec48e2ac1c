/**
 * The `framepipe` command as its users get it, for the whole-process cases: every package of a checkout built
 * (`pnpm run build`), packed as it would be published (publishConfig's exports and bin: built JavaScript) and
 * installed with plain npm into a project of its own under `.bench/cli/`, as test/consumer.test.ts does. What runs is then what `npx
 * framepipe` runs after `npm install framepipe`, start-up included, not the repository's TypeScript sources.
 *
 * A baseline checkout (`--baseline DIR`) is not built in place: its committed tree (`git archive HEAD`) is copied to
 * `.bench/checkouts/<commit>/`, installed there with pnpm from the store, built and packed from there, so the
 * directory given is only read.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** A checkout whose `framepipe` command the bench runs. */
export interface InstalledCli {
  /** `after` (this checkout) or `before` (the baseline), for the tables. */
  readonly label: string;
  /** The commit, with `+` when the working tree has changes. */
  readonly commit: string;
  /** The installed bin, to be run with the Node of {@link cliEnv}. */
  readonly bin: string;
}

/** The environment the installed command runs in: this Node first on PATH (the bin's `#!/usr/bin/env node`). */
export function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  // What pnpm sets for the bench's own process must not reach the user's command.
  for (const name of Object.keys(env)) if (name.startsWith('npm_') || name === 'INIT_CWD' || name === 'PNPM_SCRIPT_SRC_DIR') delete env[name];
  return env;
}

async function sh(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { cwd, env: { ...cliEnv(), npm_config_fund: 'false', npm_config_audit: 'false' }, maxBuffer: 1 << 26 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`bench: ${command} ${args.join(' ')} failed in ${cwd}:\n${stderr ?? ''}\n${stdout ?? ''}`, { cause: error });
  }
}

async function commitOf(root: string): Promise<{ commit: string; dirty: boolean }> {
  const commit = (await sh('git', ['rev-parse', '--short', 'HEAD'], root)).trim();
  const dirty = (await sh('git', ['status', '--porcelain', '--untracked-files=no'], root)).trim() !== '';
  return { commit, dirty };
}

/** Builds and packs `root`, installs the tarballs into `.bench/cli/<hash of the tarballs>/` unless already there. */
async function buildAndInstall(root: string, cache: string): Promise<string> {
  process.stderr.write(`building and packing ${root}...\n`);
  // The checkout's own build script, whatever it does at that commit.
  await sh('pnpm', ['run', 'build'], root);
  const packDir = join(cache, 'cli', `pack-${process.pid}`);
  await rm(packDir, { recursive: true, force: true });
  await sh('pnpm', ['-r', '--filter', './packages/*', 'pack', '--pack-destination', packDir], root);
  const tarballs = (await readdir(packDir)).filter((name) => name.endsWith('.tgz')).sort();
  const hash = createHash('sha256');
  for (const name of tarballs) hash.update(name).update(await readFile(join(packDir, name)));
  const project = join(cache, 'cli', hash.digest('hex').slice(0, 16));
  const bin = join(project, 'node_modules/.bin/framepipe');
  if (!existsSync(bin)) {
    process.stderr.write(`installing the packed packages into ${project} with npm...\n`);
    await rm(project, { recursive: true, force: true });
    await mkdir(project, { recursive: true });
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'bench-cli', private: true, type: 'module' }));
    await sh('npm', ['install', '--no-save', ...tarballs.map((name) => join(packDir, name))], project);
  }
  await rm(packDir, { recursive: true, force: true });
  return bin;
}

/** This checkout's command, built from its working tree. */
export async function installCurrent(root: string, cache: string): Promise<InstalledCli> {
  const { commit, dirty } = await commitOf(root);
  return { label: 'after', commit: `${commit}${dirty ? '+' : ''}`, bin: await buildAndInstall(root, cache) };
}

/** The baseline's command, from a copy of its committed tree (the directory given is only read). */
export async function installBaseline(dir: string, cache: string): Promise<InstalledCli> {
  const { commit, dirty } = await commitOf(dir);
  if (dirty) process.stderr.write(`note: ${dir} has uncommitted changes; the baseline is its commit ${commit}\n`);
  const copy = join(cache, 'checkouts', commit);
  if (!existsSync(join(copy, 'node_modules'))) {
    process.stderr.write(`copying ${dir} at ${commit} to ${copy}...\n`);
    await rm(copy, { recursive: true, force: true });
    await mkdir(copy, { recursive: true });
    await sh('sh', ['-c', `git -C '${dir}' archive HEAD | tar -x -C '${copy}'`], cache);
    await sh('pnpm', ['install', '--frozen-lockfile', '--offline'], copy);
  }
  return { label: 'before', commit, bin: await buildAndInstall(copy, cache) };
}
