import http from 'node:http';
import got from 'got';
import { AbortError, ErrorCode, FramepipeError } from '@framepipe/common';
import type { FramepipeErrorDetails } from '@framepipe/common';
import { PassingFailure, hideRequestOptions, isPassingNetworkError, isPassingStatus, pauseBeforeRetry, retriesSpent } from '@framepipe/http-source';

/** How API calls reach the server; the API class fills it in. */
export interface ApiConnection {
  /** The address to name in messages: the one API calls go to, as configured. */
  serverAddress: string;
  /** True when API calls go to `SUPERVISELY_API_SERVER_ADDRESS` rather than to `SERVER_ADDRESS`. */
  internalAddress: boolean;
  headers: Record<string, string>;
  timeout: number;
  /** Retries after a failure that may pass (a broken connection, a timeout, 408/429/5xx). */
  retries: number;
  /** Milliseconds before the first retry, doubling after that. */
  retryDelay: number;
  signal: AbortSignal | undefined;
}

/** One call of the API: `POST <url>` with a JSON body, and what its messages say about it. */
export interface ApiCall extends ApiConnection {
  /** `<apiServerAddress>/v3/<method>` */
  url: string;
  /** The API method, e.g. `videos.info`. */
  method: string;
  body: Record<string, unknown>;
  /** What the call is about, for messages: `video 42`, `dataset 7`. */
  subject: string;
  /** What a good answer is: a test of the parsed JSON object, and its words for a message when it fails. */
  expected: { what: string; test: (answer: Record<string, unknown>) => boolean };
  /** The error for a 404 answered in JSON (`answered`: the status and the server's explanation). */
  notFound: (answered: string, details: FramepipeErrorDetails) => FramepipeError;
}

/**
 * The `notFound` of a call about one thing by id: `code`, and a message that says the token does not see it, and
 * what to check.
 */
export function notVisible(code: ErrorCode, kind: 'video' | 'dataset', id: number, serverAddress: string): ApiCall['notFound'] {
  return (answered, details) =>
    new FramepipeError(
      code,
      `No ${kind} with id ${id} is visible to this API token on ${serverAddress} (${answered}): ` +
        `check the ${kind} id, and that the token belongs to a member of the ${kind}'s team`,
      details,
    );
}

const TOKEN_HELP = 'Copy a valid token from Account settings > API token in Supervisely and set API_TOKEN in ~/supervisely.env';

/**
 * `POST <url>` with the call's body, turned into its JSON answer or a {@link FramepipeError} that says what to do;
 * failures that may pass are retried. Redirects are not followed: the request carries the token, which must not
 * travel to another host, and a redirect usually means the address should be written differently.
 */
export async function postApi<T>(call: ApiCall): Promise<T> {
  const failures: FramepipeError[] = [];
  for (;;) {
    try {
      return (await postOnce(call)) as T;
    } catch (error) {
      if (!(error instanceof PassingFailure)) throw error;
      failures.push(error.error);
      if (failures.length > call.retries) throw retriesSpent(failures);
      await pauseBeforeRetry(error, failures.length, call.retryDelay, call.signal, call.retries);
    }
  }
}

async function postOnce(call: ApiCall): Promise<Record<string, unknown>> {
  const { url, timeout, signal } = call;
  if (signal?.aborted) throw new AbortError(signal.reason);
  let response;
  try {
    response = await got.post(url, {
      json: call.body,
      headers: { ...call.headers, accept: 'application/json' },
      responseType: 'text',
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      timeout: { socket: timeout },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    const failure = connectionError(call, hideRequestOptions(error));
    throw failure.code !== ErrorCode.ABORTED && isPassingNetworkError(error) ? new PassingFailure(failure) : failure;
  }
  const status = response.statusCode;
  const body = response.body;
  const type = String(response.headers['content-type'] ?? '');
  if (status >= 200 && status < 300) return parseAnswer(call, body, type, status);
  const failure = statusError(call, status, response.statusMessage, body, type, response.headers.location);
  throw isPassingStatus(status) ? new PassingFailure(failure, response.headers['retry-after']) : failure;
}

function parseAnswer(call: ApiCall, body: string, type: string, status: number): Record<string, unknown> {
  const { method, subject, url, serverAddress } = call;
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch (error) {
    throw new FramepipeError(
      ErrorCode.INVALID_DATA,
      `${serverAddress} answered ${method} for ${subject} with something that is not JSON (${describeBody(body, type)}): ` +
        `is ${addressVariables(call)} the address of a Supervisely instance?`,
      { source: url, status, cause: error },
    );
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer) || !call.expected.test(answer as Record<string, unknown>)) {
    throw new FramepipeError(
      ErrorCode.INVALID_DATA,
      `${serverAddress} answered ${method} for ${subject} with JSON that is not ${call.expected.what}`,
      { source: url, status, cause: new Error(`Unexpected answer: ${snippet(body)}`) },
    );
  }
  return answer as Record<string, unknown>;
}

function statusError(call: ApiCall, status: number, statusMessage: string | undefined, body: string, type: string, location: string | undefined): FramepipeError {
  const { method, subject, url, serverAddress } = call;
  const reason = statusMessage || http.STATUS_CODES[status] || '';
  const said = serverMessage(body);
  const cause = new Error(`HTTP ${status}${reason ? ` ${reason}` : ''} from ${url}: ${snippet(body) || '(empty body)'}`);
  const details = { source: url, status, cause };
  const answered = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 401 || status === 403) {
    const what = status === 403 ? `, or it may not access ${subject}` : '';
    return new FramepipeError(
      ErrorCode.AUTH_FAILED,
      `${serverAddress} rejected the API token (${answered}): the token is wrong or expired${what}. ${TOKEN_HELP} (or pass it as token)`,
      details,
    );
  }
  if (status === 404 && !/html/i.test(type)) return call.notFound(answered, details);
  if (status >= 300 && status < 400) {
    return new FramepipeError(
      ErrorCode.HTTP_STATUS,
      `${serverAddress} redirects API calls (HTTP ${status}${location ? ` to ${location}` : ''}): ` +
        `set ${addressVariables(call)} to the address it redirects to (e.g. https:// instead of http://)`,
      details,
    );
  }
  const hint = /html/i.test(type) ? `; the answer is a web page: is ${addressVariables(call)} the address of a Supervisely instance?` : '';
  return new FramepipeError(
    ErrorCode.HTTP_STATUS,
    `${serverAddress} answered HTTP ${status}${reason ? ` ${reason}` : ''} to ${method} for ${subject}${said ? `: ${said}` : ''}${hint}`,
    details,
  );
}

function connectionError(call: ApiCall, error: unknown): FramepipeError {
  const { method, url, serverAddress, timeout, signal } = call;
  if (signal?.aborted) return new AbortError(signal.reason);
  const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
  if (name === 'AbortError' || code === 'ERR_ABORTED') return new AbortError(error);
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new FramepipeError(
      ErrorCode.TIMEOUT,
      `No answer from ${serverAddress} for ${timeout} ms (${method}): the server is slow or unreachable; ` +
        `check ${addressVariables(call)}, or allow more time with the timeout option`,
      { source: url, cause: error },
    );
  }
  return new FramepipeError(
    ErrorCode.UNREACHABLE,
    `Could not reach Supervisely at ${serverAddress} (${code ?? message ?? String(error)}): ` +
      `check ${addressVariables(call)} and your network`,
    { source: url, cause: error },
  );
}

function addressVariables(call: ApiConnection): string {
  return call.internalAddress ? 'SUPERVISELY_API_SERVER_ADDRESS' : 'SERVER_ADDRESS';
}

/** The explanation in a Supervisely error body (`{ error, details: { message } }`), if there is one. */
function serverMessage(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return '';
  }
  if (parsed === null || typeof parsed !== 'object') return '';
  const { error, message, details } = parsed as { error?: unknown; message?: unknown; details?: unknown };
  const first = Array.isArray(details) ? details[0] : details;
  const detail = first !== null && typeof first === 'object' ? (first as { message?: unknown }).message : undefined;
  const parts = [error, message, detail].filter((part): part is string => typeof part === 'string' && part !== '');
  return [...new Set(parts)].join(' - ').slice(0, 300);
}

function describeBody(body: string, type: string): string {
  return `${type || 'no content type'}, ${body.length} characters${body ? `: ${JSON.stringify(snippet(body, 60))}` : ''}`;
}

function snippet(body: string, length = 300): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 3)}...` : flat;
}
