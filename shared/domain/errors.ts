/** OpenAI error `type` values used by the gateway. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'insufficient_quota'
  | 'rate_limit_error'
  | 'server_error';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export interface GatewayErrorInit {
  status: number;
  type: ErrorType;
  code: string;
  message: string;
  param?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error taxonomy of the gateway. Its message is shown to clients only when the
 * status is below 500; server errors get a generic message and the detail goes to the log.
 */
export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(init: GatewayErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'GatewayError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }

  /** The OpenAI-shaped body; 5xx messages are generic and carry only the request id. */
  toBody(requestId: string): ErrorBody {
    const message =
      this.status >= 500 && this.code === 'internal_error'
        ? `The server had an error while processing your request. Request id: ${requestId}.`
        : this.message;
    return { error: { message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null): GatewayError =>
  new GatewayError({ status: 400, type: 'invalid_request_error', code: 'invalid_request', message, param });

export const modelNotFound = (): GatewayError =>
  new GatewayError({
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param: 'model',
    message:
      'The requested model does not exist. Use one of the tiers tier-1, tier-2, tier-3, tier-4 or their aliases speed, balance, intelligence, reasoning.',
  });

export const notFound = (path: string): GatewayError =>
  new GatewayError({
    status: 404,
    type: 'invalid_request_error',
    code: 'not_found',
    message: `No route for ${path.slice(0, 200)}.`,
  });

/** Characters of a client's value an error message repeats: enough to recognise it, never the whole of a huge one. */
export const ECHO_CHARS = 64;

/** `text` as an error message repeats it: at most ECHO_CHARS characters, marked when cut. */
export const echo = (text: string, max = ECHO_CHARS): string =>
  text.length <= max ? text : `${text.slice(0, max)}…`;

/** Values an error message lists, at most. */
const ECHO_VALUES = 8;

/** `values` as an error message lists them: each echoed, comma-separated, the first ECHO_VALUES only. */
export const echoList = (values: readonly string[]): string =>
  values
    .slice(0, ECHO_VALUES)
    .map((v) => echo(v))
    .join(', ') + (values.length > ECHO_VALUES ? `, and ${values.length - ECHO_VALUES} more` : '');

/** An admin resource (an account, a key) that does not exist. */
export const resourceNotFound = (kind: 'Account' | 'Key', id: string): GatewayError =>
  new GatewayError({
    status: 404,
    type: 'invalid_request_error',
    code: 'not_found',
    message: `${kind} ${echo(id)} does not exist.`,
  });

export const accountNotFound = (id: string): GatewayError => resourceNotFound('Account', id);

export const methodNotAllowed = (method: string, allowed: readonly string[]): GatewayError =>
  new GatewayError({
    status: 405,
    type: 'invalid_request_error',
    code: 'method_not_allowed',
    message: `Method ${method.slice(0, 16)} is not allowed here. Allowed: ${allowed.join(', ')}.`,
    headers: { allow: allowed.join(', ') },
  });

export const requestTooLarge = (limitBytes: number): GatewayError =>
  new GatewayError({
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
    message: `The request body exceeds the limit of ${limitBytes} bytes.`,
  });

export const invalidApiKey = (): GatewayError =>
  new GatewayError({
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: 'Missing, unknown or revoked API key. Send it as "Authorization: Bearer <key>".',
  });

export const insufficientQuota = (): GatewayError =>
  new GatewayError({
    status: 429,
    type: 'insufficient_quota',
    code: 'insufficient_quota',
    message: 'The account balance cannot cover this request. Add credit and try again.',
    headers: { 'x-should-retry': 'false' },
  });

export const budgetExceeded = (scope: 'key' | 'account'): GatewayError =>
  new GatewayError({
    status: 429,
    type: 'insufficient_quota',
    code: 'budget_exceeded',
    message: `The ${scope} daily budget is spent. It resets at 00:00 UTC.`,
    headers: { 'x-should-retry': 'false' },
  });

/** A 429: `what` (this key, by default) has reached its rate limit. */
export const rateLimited = (
  retryAfterSeconds: number,
  headers: Record<string, string> = {},
  what = 'this key',
): GatewayError =>
  new GatewayError({
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: `Rate limit reached for ${what}. Retry after ${retryAfterSeconds} s.`,
    headers: { ...headers, 'retry-after': String(retryAfterSeconds) },
  });

export const dailySpendLimit = (retryAfterSeconds: number): GatewayError =>
  new GatewayError({
    status: 503,
    type: 'server_error',
    code: 'daily_spend_limit',
    message: 'The gateway has reached its daily spend limit. It resets at 00:00 UTC.',
    headers: { 'retry-after': String(retryAfterSeconds) },
  });

/** Idempotency-Key errors (DESIGN §16): the key, not the request, is at fault, so all are client errors. */
export const IDEMPOTENCY_KEY_PARAM = 'Idempotency-Key';

/** `param` names the header (OpenAI shape); Anthropic's shape has no `param`, so its message names it too. */
export const invalidIdempotencyKey = (): GatewayError =>
  invalidRequest(
    `The ${IDEMPOTENCY_KEY_PARAM} header must be 1 to 255 printable ASCII characters.`,
    IDEMPOTENCY_KEY_PARAM,
  );

export const idempotencyInProgress = (): GatewayError =>
  new GatewayError({
    status: 409,
    type: 'invalid_request_error',
    code: 'idempotency_in_progress',
    message: 'A request with this Idempotency-Key is still in progress. Retry once it has finished.',
  });

export const idempotencyKeyReused = (): GatewayError =>
  new GatewayError({
    status: 422,
    type: 'invalid_request_error',
    code: 'idempotency_key_reused',
    message:
      'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
  });

export const idempotencyResultTooLarge = (): GatewayError =>
  new GatewayError({
    status: 409,
    type: 'invalid_request_error',
    code: 'idempotency_result_too_large',
    message:
      'The request with this Idempotency-Key completed, but its result was too large to store for replay. ' +
      'Use a new key to run it again.',
    headers: { 'x-should-retry': 'false' },
  });

export const idempotencyResultNotStored = (): GatewayError =>
  new GatewayError({
    status: 409,
    type: 'invalid_request_error',
    code: 'idempotency_result_not_stored',
    message:
      'The request with this Idempotency-Key completed, but its result could not be stored for replay. ' +
      'Use a new key to run it again.',
    headers: { 'x-should-retry': 'false' },
  });

export const upstreamError = (cause?: unknown): GatewayError =>
  new GatewayError({
    status: 502,
    type: 'server_error',
    code: 'upstream_error',
    message: 'The upstream service failed to complete the request.',
    cause,
  });

export const upstreamTimeout = (cause?: unknown): GatewayError =>
  new GatewayError({
    status: 504,
    type: 'server_error',
    code: 'upstream_timeout',
    message: 'The upstream service did not respond in time.',
    cause,
  });

export const internalError = (cause?: unknown): GatewayError =>
  new GatewayError({
    status: 500,
    type: 'server_error',
    code: 'internal_error',
    message: 'internal error',
    cause,
  });

/** Any thrown value as a GatewayError; unknown errors become a generic 500. */
export const asGatewayError = (err: unknown): GatewayError =>
  err instanceof GatewayError ? err : internalError(err);
