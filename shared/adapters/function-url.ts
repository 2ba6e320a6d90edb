import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { invalidRequest, requestTooLarge } from '../domain/errors.js';
import type { HttpRequest } from '../http.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A Lambda Function URL event as a transport-neutral request. Bodies over `maxBodyBytes` are a
 * 413 and bodies that are not UTF-8 a 400, before anything parses them.
 */
export function fromFunctionUrlEvent(event: APIGatewayProxyEventV2, maxBodyBytes: number): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
  const raw = event.body ?? '';
  let bytes: Buffer | undefined;
  let bodyBytes: number;
  if (event.isBase64Encoded) {
    bytes = Buffer.from(raw, 'base64');
    bodyBytes = bytes.length;
  } else {
    bodyBytes = Buffer.byteLength(raw, 'utf8');
  }
  if (bodyBytes > maxBodyBytes) throw requestTooLarge(maxBodyBytes);
  let body = raw;
  if (bytes) {
    try {
      body = strictUtf8.decode(bytes);
    } catch {
      throw invalidRequest('The request body is not valid UTF-8.');
    }
  }
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    path: event.rawPath ?? event.requestContext?.http?.path ?? '/',
    headers,
    query,
    body,
    bodyBytes,
  };
}
