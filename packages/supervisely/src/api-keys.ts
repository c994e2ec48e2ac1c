/**
 * The tokens of the {@link SuperviselyApi} instances, kept outside the instances: an object that does not hold its
 * token cannot show it, whatever prints it (`util.inspect` with `showHidden`, a debugger, a JSON dump). Not
 * re-exported from the package.
 */
const tokens = new WeakMap<object, string>();

/** Records the token of an API instance. */
export function rememberToken(api: object, token: string): void {
  tokens.set(api, token);
}

/** The `x-api-key` header of an API instance, or undefined for anything that is not one. */
export function apiKeyHeader(api: unknown): { 'x-api-key': string } | undefined {
  const token = typeof api === 'object' && api !== null ? tokens.get(api) : undefined;
  return token === undefined ? undefined : { 'x-api-key': token };
}
