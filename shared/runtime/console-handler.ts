import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { API_BASE_PLACEHOLDER, type ConsolePage } from '../../console/page.js';

/** Where the console is served: /console (the stack's console URL also answers at its root). */
export const CONSOLE_PATHS = ['/console', '/console/'] as const;

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(statusCode: number, body: string, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers },
    body,
  };
}

/**
 * The console's Function URL handler: GET /console answers the built page with the API's base URL
 * filled in, under a Content-Security-Policy that allows its own inline script and style (by hash)
 * and connections to that API only. `apiBase` is '' when the page and the API share an origin.
 */
export function createConsoleHandler(
  page: ConsolePage,
  apiBase: () => Promise<string>,
  paths: readonly string[] = CONSOLE_PATHS,
) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    if (!paths.includes(event.rawPath)) return text(404, 'Not found. The console is at /console.\n');
    const method = event.requestContext?.http?.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD')
      return text(405, 'Method not allowed.\n', { allow: 'GET, HEAD' });
    let base: string;
    try {
      base = (await apiBase()).replace(/\/+$/, '');
    } catch {
      return text(503, 'The console cannot find the gateway right now. Try again in a moment.\n');
    }
    const api = base ? new URL(base).origin : "'self'";
    const csp = [
      "default-src 'none'",
      `script-src ${page.scriptHash}`,
      `style-src ${page.styleHash}`,
      `connect-src ${api}`,
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    return {
      statusCode: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'cache-control': 'no-cache',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
      },
      body: method === 'HEAD' ? '' : page.html.split(API_BASE_PLACEHOLDER).join(escapeAttribute(base)),
    };
  };
}
