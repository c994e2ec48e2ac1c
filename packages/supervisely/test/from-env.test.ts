import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { ErrorCode, FramepipeError, InvalidOptionError } from '@framepipe/common';
import { SuperviselyApi } from '../src/index.ts';
import { startStandInServer, type StandInServer } from '../src/stand-in-server.ts';

/** A fresh home and project directory, never the real HOME. */
async function dirs(): Promise<{ homeDir: string; cwd: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'framepipe-sly-env-'));
  const homeDir = join(root, 'home');
  const cwd = join(root, 'project');
  await Promise.all([mkdir(homeDir, { recursive: true }), mkdir(cwd, { recursive: true })]);
  return { homeDir, cwd, root };
}

function thrown(fn: () => unknown): FramepipeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FramepipeError, `expected a FramepipeError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a throw');
}

/** The token an api sends, read from what the stand-in received (the api never shows it). */
async function tokenSent(api: SuperviselyApi, server: StandInServer): Promise<string | undefined> {
  await api.videoInfo(1).catch(() => {});
  return server.requests.at(-1)?.apiKey;
}

let server: StandInServer;
const roots: string[] = [];
before(async () => {
  server = await startStandInServer({ videos: { 1: { bytes: Buffer.from('not a video') } }, token: 'env-token' });
});
after(async () => {
  await server.close();
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});
async function fresh(): Promise<{ homeDir: string; cwd: string }> {
  const made = await dirs();
  roots.push(made.root);
  return made;
}

describe('SuperviselyApi.fromEnv: where values come from', () => {
  test('~/supervisely.env alone', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), `SERVER_ADDRESS="${server.address}/"\nAPI_TOKEN=env-token # mine\n`);
    const api = SuperviselyApi.fromEnv({ env: {}, homeDir, cwd });
    assert.equal(api.serverAddress, server.address);
    assert.equal(api.apiServerAddress, `${server.address}/public/api`);
    assert.equal(api.timeout, 30000);
    assert.equal(await tokenSent(api, server), 'env-token');
  });

  test('precedence: options > env > local.env > supervisely.env, per variable', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), 'SERVER_ADDRESS=http://home.example:1\nAPI_TOKEN=home-token\nSUPERVISELY_API_SERVER_ADDRESS=http://home-api:3000\n');
    await writeFile(join(cwd, 'local.env'), `SERVER_ADDRESS=http://local.example:2\nAPI_TOKEN=local-token\n`);

    const fromFiles = SuperviselyApi.fromEnv({ env: {}, homeDir, cwd });
    assert.equal(fromFiles.serverAddress, 'http://local.example:2', 'local.env overrides supervisely.env');
    assert.equal(fromFiles.apiServerAddress, 'http://home-api:3000', 'a value only supervisely.env has is still used');

    const env = { SERVER_ADDRESS: 'http://env.example:3', SUPERVISELY_API_SERVER_ADDRESS: 'env-api:4000/' };
    const fromEnv = SuperviselyApi.fromEnv({ env, homeDir, cwd });
    assert.equal(fromEnv.serverAddress, 'http://env.example:3', 'the environment wins over the files');
    assert.equal(fromEnv.apiServerAddress, 'http://env-api:4000');

    const explicit = SuperviselyApi.fromEnv({ env, homeDir, cwd, serverAddress: 'https://given.example', apiServerAddress: 'https://given-api.example/' });
    assert.equal(explicit.serverAddress, 'https://given.example');
    assert.equal(explicit.apiServerAddress, 'https://given-api.example');
  });

  test('the token follows the same order', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), `SERVER_ADDRESS=${server.address}\nAPI_TOKEN=home-token\n`);
    assert.equal(await tokenSent(SuperviselyApi.fromEnv({ env: {}, homeDir, cwd }), server), 'home-token');
    await writeFile(join(cwd, 'local.env'), 'API_TOKEN=local-token\n');
    assert.equal(await tokenSent(SuperviselyApi.fromEnv({ env: {}, homeDir, cwd }), server), 'local-token');
    assert.equal(await tokenSent(SuperviselyApi.fromEnv({ env: { API_TOKEN: 'env-token' }, homeDir, cwd }), server), 'env-token');
    assert.equal(await tokenSent(SuperviselyApi.fromEnv({ env: { API_TOKEN: 'env-token' }, homeDir, cwd, token: 'given-token' }), server), 'given-token');
  });

  test('empty values count as unset, wherever they are', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), `SERVER_ADDRESS=http://home.example\nAPI_TOKEN=home-token\n`);
    await writeFile(join(cwd, 'local.env'), 'SERVER_ADDRESS=\nAPI_TOKEN=""\nSUPERVISELY_API_SERVER_ADDRESS=\n');
    const api = SuperviselyApi.fromEnv({
      env: { SERVER_ADDRESS: '', API_TOKEN: '  ', SUPERVISELY_API_SERVER_ADDRESS: '' },
      homeDir,
      cwd,
      serverAddress: '',
      apiServerAddress: '',
    });
    assert.equal(api.serverAddress, 'http://home.example');
    assert.equal(api.apiServerAddress, 'http://home.example/public/api', 'an empty internal address means none');
  });

  test('missing files are skipped; the environment alone is enough', async () => {
    const { homeDir, cwd } = await fresh();
    const api = SuperviselyApi.fromEnv({ env: { SERVER_ADDRESS: '127.0.0.1:8080', API_TOKEN: 't' }, homeDir: join(homeDir, 'nowhere'), cwd });
    assert.equal(api.serverAddress, 'http://127.0.0.1:8080', 'host:port without a scheme gets http://');
  });

  test('the environment object and process.env are never modified', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), 'SERVER_ADDRESS=http://home.example\nAPI_TOKEN=home-token\nOTHER=1\n');
    const env = { PATH: '/bin' };
    const before = { ...process.env };
    SuperviselyApi.fromEnv({ env, homeDir, cwd });
    assert.deepEqual(env, { PATH: '/bin' });
    assert.deepEqual({ ...process.env }, before);
  });

  test('timeout is passed on', async () => {
    const { homeDir, cwd } = await fresh();
    const api = SuperviselyApi.fromEnv({ env: { SERVER_ADDRESS: 'http://h', API_TOKEN: 't' }, homeDir, cwd, timeout: 1500 });
    assert.equal(api.timeout, 1500);
  });
});

describe('SuperviselyApi.fromEnv: missing credentials say what to do', () => {
  test('no address', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), 'API_TOKEN=home-token\n');
    const error = thrown(() => SuperviselyApi.fromEnv({ env: {}, homeDir, cwd }));
    assert.equal(error.code, ErrorCode.MISSING_CREDENTIALS);
    const home = join(homeDir, 'supervisely.env');
    const local = join(cwd, 'local.env');
    assert.equal(
      error.message,
      `Supervisely credentials not found: SERVER_ADDRESS is not set in the environment, ${local} (no such file) or ${home}. ` +
        `Put SERVER_ADDRESS=https://app.supervisely.com (the address of your Supervisely instance) in ${home}`,
    );
  });

  test('no token', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(cwd, 'local.env'), 'SERVER_ADDRESS=http://h\nAPI_TOKEN=\n');
    const error = thrown(() => SuperviselyApi.fromEnv({ env: { API_TOKEN: '' }, homeDir, cwd }));
    assert.equal(error.code, ErrorCode.MISSING_CREDENTIALS);
    const home = join(homeDir, 'supervisely.env');
    assert.equal(
      error.message,
      `Supervisely credentials not found: API_TOKEN is not set in the environment, ${join(cwd, 'local.env')} or ${home} (no such file). ` +
        `Put API_TOKEN=<your token> (copy it from Account settings > API token in Supervisely) in ${home}`,
    );
  });

  test('neither: both named, one line', async () => {
    const { homeDir, cwd } = await fresh();
    const error = thrown(() => SuperviselyApi.fromEnv({ env: {}, homeDir, cwd }));
    assert.match(error.message, /^Supervisely credentials not found: SERVER_ADDRESS and API_TOKEN are not set in the environment, /);
    assert.match(error.message, /Put SERVER_ADDRESS=.* and API_TOKEN=.* in /);
    assert.ok(!error.message.includes('\n'));
  });
});

describe('SuperviselyApi options', () => {
  const token = 'a'.repeat(128);

  test('addresses are normalized as the SDK does', () => {
    const cases: Array<[string, string]> = [
      ['https://app.supervisely.com/', 'https://app.supervisely.com'],
      ['//app.supervisely.com//', 'http://app.supervisely.com'],
      ['localhost:8080', 'http://localhost:8080'],
      ['  HTTP://Host:1/base/  ', 'HTTP://Host:1/base'],
    ];
    for (const [given, expected] of cases) assert.equal(new SuperviselyApi({ serverAddress: given, token }).serverAddress, expected, given);
    assert.equal(SuperviselyApi.normalizeServerAddress('10.0.0.5:30080/'), 'http://10.0.0.5:30080');
  });

  test('bad options fail with the one message format', () => {
    const message = (fn: () => unknown) => thrown(fn).message;
    assert.equal(
      message(() => new SuperviselyApi({ serverAddress: 'ftp://files.example', token })),
      'Expected an http(s) address such as https://app.supervisely.com for serverAddress but received "ftp://files.example" of type string',
    );
    assert.equal(
      message(() => new SuperviselyApi({ serverAddress: 'https://h', token: undefined as unknown as string })),
      'Expected a non-empty string for token but received undefined of type undefined',
    );
    assert.equal(
      message(() => new SuperviselyApi({ serverAddress: 'https://h', token, timeout: 0 })),
      'Expected a positive number for timeout but received 0 of type number',
    );
    assert.equal(
      message(() => new SuperviselyApi({ serverAddress: 'https://h', token, apiKey: 'x' } as never)),
      'Unknown option apiKey for SuperviselyApi; known options: serverAddress, token, apiServerAddress, timeout',
    );
    assert.equal(
      message(() => SuperviselyApi.fromEnv({ env: 'SERVER_ADDRESS=x' as never })),
      'Expected an object of environment variables for env but received "SERVER_ADDRESS=x" of type string',
    );
    const spaced = thrown(() => new SuperviselyApi({ serverAddress: 'https://h', token: 'secret part two' }));
    assert.ok(spaced instanceof InvalidOptionError);
    assert.equal(spaced.option, 'token');
    assert.ok(!spaced.message.includes('secret'), 'the token is not shown');
  });

  test('an invalid address from a file names the file', async () => {
    const { homeDir, cwd } = await fresh();
    await writeFile(join(homeDir, 'supervisely.env'), 'SERVER_ADDRESS=ftp://files.example\nAPI_TOKEN=t\n');
    const error = thrown(() => SuperviselyApi.fromEnv({ env: {}, homeDir, cwd }));
    assert.equal(error.option, 'serverAddress');
    assert.ok(error.message.endsWith(`(SERVER_ADDRESS in ${join(homeDir, 'supervisely.env')}; fix SERVER_ADDRESS there)`), error.message);
  });

  test('the token never shows: inspect, JSON, toString', async () => {
    const secret = 'S3cr3tT0k3n'.repeat(10);
    const api = new SuperviselyApi({ serverAddress: 'https://h.example', token: secret });
    for (const shown of [
      inspect(api),
      inspect(api, { showHidden: true, depth: Infinity, getters: true }),
      JSON.stringify(api),
      String(api),
      `${api}`,
      inspect(api.videoSource(5), { showHidden: true, depth: Infinity }),
      JSON.stringify(api.videoSource(5)),
    ]) {
      assert.ok(!shown.includes(secret), shown);
    }
    assert.match(inspect(api), /token: '\(hidden\)'/);
    assert.deepEqual(JSON.parse(JSON.stringify(api)), { serverAddress: 'https://h.example', apiServerAddress: 'https://h.example/public/api', timeout: 30000 });
    assert.equal(String(api), 'SuperviselyApi(https://h.example)');
  });
});
