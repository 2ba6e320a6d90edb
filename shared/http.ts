import type { GatewayError } from './domain/errors.js';

/** A transport-neutral HTTP request: built from a Function URL event or a node:http request. */
export interface HttpRequest {
  method: string;
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The decoded body text ('' when none). */
  body: string;
  /** Byte length of the body as received. */
  bodyBytes: number;
}

/** Where a pushed stream's frames go: the response stream, with nothing in between. */
export interface FrameSink {
  /** Writes frames; false when the sink is full: the body writes no more until `drain` is called. */
  write(frames: string): boolean;
  /** Calls `resume` once the sink has room again. */
  waitDrain(resume: () => void): void;
  /** No frame comes any more (the body ended, or failed with its error frame written). */
  end(): void;
}

/**
 * A streamed body that can also be pushed: from `pushTo` on, frames go to the sink as they are
 * made, instead of waiting to be read; the body must then no longer be iterated.
 */
export interface PushBody extends AsyncIterable<string> {
  pushTo(sink: FrameSink): void;
}

export const isPushBody = (body: string | AsyncIterable<string>): body is PushBody =>
  typeof body !== 'string' && typeof (body as Partial<PushBody>).pushTo === 'function';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /**
   * A string for buffered responses; an async iterable of text frames for streams (which may be
   * a PushBody, for writers that take frames as they come).
   */
  body: string | AsyncIterable<string>;
  /** For streams: called when the client goes away before the end; resolves once it is recorded. */
  cancel?: () => Promise<void>;
  /** The error code of an error response, for metrics (no body parsing needed). */
  errorCode?: string;
}

/** Structured logging without request content: callers pass ids, codes and figures only. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

/** An error as one bounded log line: its type, message and (one level of) cause; never request content. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 500);
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.name}: ${err.cause.message})` : '';
  return `${err.name}: ${err.message}${cause}`.slice(0, 500);
}

export function jsonResponse(
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(payload),
  };
}

export function errorResponse(err: GatewayError, requestId: string): HttpResponse {
  return {
    ...jsonResponse(err.status, err.toBody(requestId), { ...err.headers, 'x-request-id': requestId }),
    errorCode: err.code,
  };
}
