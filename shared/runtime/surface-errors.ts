import { anthropicErrorResponse } from '../dialects/anthropic-messages/errors.js';
import type { GatewayError } from '../domain/errors.js';
import type { ApiSurface } from '../domain/usage.js';
import { type ErrorResponder, errorSurfaceOf } from '../gateway/public-api.js';
import { errorResponse, type HttpResponse } from '../http.js';

/** Each API surface's error shape (DESIGN §12): OpenAI's for chat completions, Anthropic's for Messages. */
export const SURFACE_ERROR_RESPONSES: Readonly<Record<ApiSurface, ErrorResponder>> = {
  chat: errorResponse,
  messages: anthropicErrorResponse,
};

/**
 * An error in the shape of the surface a path belongs to, for a request refused before the public
 * API sees it (the local server's oversized bodies).
 */
export function pathErrorResponse(rawPath: string, error: GatewayError, requestId: string): HttpResponse {
  return SURFACE_ERROR_RESPONSES[errorSurfaceOf(rawPath)](error, requestId);
}
