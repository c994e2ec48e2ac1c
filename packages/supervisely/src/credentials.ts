import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { ErrorCode, FramepipeError } from '@framepipe/common';

/** The variables the Python SDK reads its connection from. */
export const ENV = {
  serverAddress: 'SERVER_ADDRESS',
  token: 'API_TOKEN',
  apiServerAddress: 'SUPERVISELY_API_SERVER_ADDRESS',
} as const;

type Field = keyof typeof ENV;

/** One place a value may come from, in the order they are consulted. */
interface Layer {
  /** For messages: "the environment", or a file path. */
  readonly label: string;
  /** Set for a file that does not exist. */
  readonly missing: boolean;
  readonly values: Readonly<Record<string, string | undefined>>;
}

/** A value found, and where (for messages about a bad value). */
export interface Found {
  readonly value: string;
  /** e.g. `SERVER_ADDRESS in /home/me/supervisely.env`, or `the serverAddress option`. */
  readonly from: string;
}

/** What {@link findCredentials} needs; every field is already checked. */
export interface CredentialSources {
  explicit: Partial<Record<Field, string | undefined>>;
  env: Readonly<Record<string, string | undefined>>;
  homeDir: string;
  cwd: string;
}

export interface FoundCredentials {
  serverAddress: Found;
  token: Found;
  apiServerAddress: Found | undefined;
}

/**
 * Looks each value up in the explicit options, then the environment, then `<cwd>/local.env`, then
 * `<homeDir>/supervisely.env`: the first non-empty one wins. That is the SDK's order (variables already set are not
 * overridden by a file, and `local.env` is loaded before `~/supervisely.env`), without touching `process.env`.
 *
 * @throws FramepipeError `ERR_FRAMEPIPE_MISSING_CREDENTIALS` naming each missing variable and every place looked in;
 * `ERR_FRAMEPIPE_FILE_NOT_FOUND` for an env file that exists but cannot be read.
 */
export function findCredentials(sources: CredentialSources): FoundCredentials {
  const layers: Layer[] = [
    { label: 'the environment', missing: false, values: sources.env },
    readEnvFile(join(sources.cwd, 'local.env')),
    readEnvFile(join(sources.homeDir, 'supervisely.env')),
  ];
  const find = (field: Field): Found | undefined => {
    const given = sources.explicit[field];
    if (given !== undefined && given.trim() !== '') return { value: given, from: `the ${field} option` };
    for (const layer of layers) {
      const value = layer.values[ENV[field]];
      if (value !== undefined && value.trim() !== '') {
        return { value, from: layer.label === 'the environment' ? `${ENV[field]} in the environment` : `${ENV[field]} in ${layer.label}` };
      }
    }
    return undefined;
  };
  const serverAddress = find('serverAddress');
  const token = find('token');
  if (!serverAddress || !token) throw missingCredentials(!serverAddress, !token, layers);
  return { serverAddress, token, apiServerAddress: find('apiServerAddress') };
}

function readEnvFile(path: string): Layer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { label: path, missing: true, values: {} };
    throw new FramepipeError(ErrorCode.FILE_NOT_FOUND, `Could not read ${path}: ${(error as Error).message}`, { path, cause: error });
  }
  return { label: path, missing: false, values: parseEnv(text) };
}

function missingCredentials(noAddress: boolean, noToken: boolean, layers: Layer[]): FramepipeError {
  const names = [noAddress ? ENV.serverAddress : undefined, noToken ? ENV.token : undefined].filter((n) => n !== undefined);
  const places = layers.map((layer) => (layer.missing ? `${layer.label} (no such file)` : layer.label));
  const where = `${places.slice(0, -1).join(', ')} or ${places.at(-1)}`;
  const home = layers.at(-1)!.label;
  const lines = [
    noAddress ? `${ENV.serverAddress}=https://app.supervisely.com (the address of your Supervisely instance)` : undefined,
    noToken ? `${ENV.token}=<your token> (copy it from Account settings > API token in Supervisely)` : undefined,
  ].filter((line) => line !== undefined);
  return new FramepipeError(
    ErrorCode.MISSING_CREDENTIALS,
    `Supervisely credentials not found: ${names.join(' and ')} ${names.length > 1 ? 'are' : 'is'} not set in ${where}. ` +
      `Put ${lines.join(' and ')} in ${home}`,
  );
}
