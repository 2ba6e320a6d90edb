import type { GatewayError } from '../../domain/errors.js';
import { type HttpResponse, jsonResponse } from '../../http.js';

/**
 * Errors in Anthropic's shape (DESIGN §12): `{"type":"error","error":{"type","message"}}` with the
 * request id in the body and in `request-id` and `x-request-id`. The gateway's one error taxonomy
 * is mapped here; its codes stay the metrics' codes.
 */

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  request_id: string;
}

interface Mapped {
  status: number;
  type: AnthropicErrorType;
  /** Replaces the gateway's message where it speaks of another surface. */
  message?: string;
}

const BY_CODE: Readonly<Record<string, Mapped>> = {
  // A wallet or budget that cannot pay is a billing matter, not a rate limit: Anthropic's 402.
  insufficient_quota: { status: 402, type: 'billing_error' },
  budget_exceeded: { status: 402, type: 'billing_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  daily_spend_limit: { status: 503, type: 'overloaded_error' },
  model_not_found: {
    status: 404,
    type: 'not_found_error',
    message:
      'The requested model does not exist. Use a tier (tier-1 … tier-4), an alias (speed, balance, ' +
      'intelligence, reasoning) or a model family name this gateway maps to a tier.',
  },
  not_found: { status: 404, type: 'not_found_error' },
  request_too_large: { status: 413, type: 'request_too_large' },
  invalid_api_key: {
    status: 401,
    type: 'authentication_error',
    message:
      'Missing, unknown or revoked API key. Send it as "x-api-key: <key>" or "Authorization: Bearer <key>".',
  },
};

function mapError(error: GatewayError): Mapped {
  const known = BY_CODE[error.code];
  if (known) return known;
  if (error.status === 503) return { status: 503, type: 'overloaded_error' };
  if (error.status >= 500) return { status: error.status, type: 'api_error' };
  if (error.status === 401) return { status: 401, type: 'authentication_error' };
  return { status: error.status, type: 'invalid_request_error' };
}

/** The body of an error (also the data of a stream's `error` event). */
export function anthropicErrorBody(error: GatewayError, requestId: string): AnthropicErrorBody {
  const mapped = mapError(error);
  // 5xx messages are generic (the detail is logged); the gateway's own say nothing internal.
  const message =
    error.code === 'internal_error'
      ? `Internal server error. Request id: ${requestId}.`
      : (mapped.message ?? error.message);
  return { type: 'error', error: { type: mapped.type, message }, request_id: requestId };
}

/** A whole error response, with the request id headers every Messages response carries. */
export function anthropicErrorResponse(error: GatewayError, requestId: string): HttpResponse {
  const { status } = mapError(error);
  return {
    ...jsonResponse(status, anthropicErrorBody(error, requestId), {
      ...error.headers,
      'request-id': requestId,
      'x-request-id': requestId,
    }),
    errorCode: error.code,
  };
}
