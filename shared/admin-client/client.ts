/**
 * A minimal client for the gateway's admin HTTP API: builds the URL, authenticates (bearer token,
 * or SigV4 for Lambda Function URLs), sends JSON and turns failures into one-line errors.
 */
import { type CredentialSource, lambdaUrlRegion, signLambdaRequest } from './sigv4.js';

export type Query = Record<string, string | number | undefined>;

export interface AdminRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The route, starting with /admin. */
  path: string;
  query?: Query;
  body?: unknown;
}

export interface AdminClientOptions {
  /** The base URL as the user gave it, with or without a trailing /admin. */
  baseUrl: string;
  token?: string;
  fetch: typeof fetch;
  credentials: CredentialSource;
  /** How long a call may take, answer included, before it fails (default ADMIN_CALL_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * An admin call, answer included, gives up after this long: a hung connection must not hold the CLI,
 * or the local probe scheduler, which runs no probe while one is in flight, forever. Longer than any
 * report takes (the admin function's own timeout is 30 s).
 */
export const ADMIN_CALL_TIMEOUT_MS = 60_000;

/** The server answered with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** The request never got an HTTP answer. */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${reason}`);
  }
}

/**
 * The origin plus any path prefix, without a trailing `/admin` or slash, so that both
 * `http://host:8787/admin` and a bare Lambda Function URL lead to `<base>/admin/...`.
 */
export function normaliseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new TypeError(`invalid URL "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`URL must be http or https, got "${raw}"`);
  }
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname
    .replace(/\/+$/, '')
    .replace(/\/admin$/, '')
    .replace(/\/+$/, '');
  return url;
}

/** RFC 3986 encoding, the same as SigV4's canonical form, so the signed and sent query agree. */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A path segment from user input, e.g. an account id. */
export function segment(text: string): string {
  return encodeRfc3986(text);
}

export function buildUrl(base: URL, path: string, query: Query = {}): URL {
  const url = new URL(base.href);
  // A bare origin's pathname is "/", which must not double the route's leading slash.
  url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  const pairs = Object.entries(query)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(String(value))}`);
  url.search = pairs.length > 0 ? `?${pairs.join('&')}` : '';
  return url;
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'no answer in time';
  // fetch reports "fetch failed" and keeps the useful detail (ECONNREFUSED, ENOTFOUND...) in cause.
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const message = cause.message || (typeof code === 'string' ? code : '');
    if (message) return message;
  }
  return err.message;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function errorFromResponse(status: number, statusText: string, text: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object') {
    const error = (parsed as { error?: unknown }).error;
    if (error && typeof error === 'object') {
      const { message, code, type } = error as { message?: unknown; code?: unknown; type?: unknown };
      const label =
        typeof code === 'string' && code ? code : typeof type === 'string' && type ? type : undefined;
      return new ApiError(status, label, oneLine(typeof message === 'string' ? message : statusText));
    }
    // AWS front ends (e.g. a Function URL refusing a signature) answer {"Message": "..."}.
    const awsMessage = (parsed as { Message?: unknown; message?: unknown }).Message;
    if (typeof awsMessage === 'string') return new ApiError(status, undefined, oneLine(awsMessage));
  }
  const snippet = oneLine(text).slice(0, 200);
  return new ApiError(status, undefined, snippet || statusText || 'request failed');
}

export class AdminClient {
  private readonly base: URL;
  private readonly lambdaRegion: string | undefined;

  constructor(private readonly options: AdminClientOptions) {
    this.base = normaliseBaseUrl(options.baseUrl);
    this.lambdaRegion = lambdaUrlRegion(this.base.hostname);
  }

  /** Sends the request; resolves to the parsed JSON body, or undefined for an empty one. */
  async send(request: AdminRequest): Promise<unknown> {
    const url = buildUrl(this.base, request.path, request.query);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    let headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.lambdaRegion) {
      // IAM-authorised Function URLs take the Authorization header for the signature, so no token.
      headers = await signLambdaRequest(
        { method: request.method, url, headers, ...(body === undefined ? {} : { body }) },
        this.lambdaRegion,
        this.options.credentials,
      );
    } else if (this.options.token) {
      headers.authorization = `Bearer ${this.options.token}`;
    }

    let response: Response;
    let text: string;
    try {
      response = await this.options.fetch(url.href, {
        method: request.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? ADMIN_CALL_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (err) {
      throw new NetworkError(url.href, describeNetworkError(err));
    }
    if (!response.ok) throw errorFromResponse(response.status, response.statusText, text);
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(
        response.status,
        undefined,
        `the server sent a response that is not JSON: ${oneLine(text).slice(0, 200)}`,
      );
    }
  }
}
