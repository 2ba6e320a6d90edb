import { Readable } from 'node:stream';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { fromFunctionUrlEvent } from '../adapters/function-url.js';
import { asGatewayError } from '../domain/errors.js';
import type { PublicApi } from '../gateway/public-api.js';
import type { HttpResponse } from '../http.js';
import { newRequestId } from '../lifecycle/lifecycle.js';

/** Counts an error response by its code (EMF line; no API call on the request path). */
export type ErrorCounter = (code: string, status: number) => void;

export interface CompletionsHandlerOptions {
  maxBodyBytes: number;
  /** Abort upstream this long before Lambda's own timeout, leaving time to settle. */
  abortMarginMs: number;
  countError?: ErrorCounter;
}

/**
 * A readable over the response frames that pulls what the body has ready at each read (the relay
 * hands every frame queued since the last read, in one string), so frames are written as soon as
 * they exist. When the consumer goes away first (the client disconnected), `cancel`
 * runs before the stream reports itself closed, so the pipeline, and with it the invocation,
 * ends only once the request is recorded.
 */
export function streamOf(frames: AsyncIterable<string>, cancel?: () => Promise<void>): Readable {
  const iterator = frames[Symbol.asyncIterator]();
  let ended = false;
  return new Readable({
    // Frames stay strings on their way to the response stream, which encodes them as it writes:
    // without an encoding, each would first be copied into a Buffer of its own.
    encoding: 'utf8',
    read() {
      iterator.next().then(
        ({ value, done }) => {
          if (done) ended = true;
          this.push(done ? null : value);
        },
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
    destroy(err, callback) {
      const close = async () => {
        if (!ended) await cancel?.();
        // Not awaited: the request is already recorded and its upstream aborted, and a read
        // still pending has ended with the cancel.
        iterator.return?.().catch(() => {});
      };
      close().then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}

/**
 * The streaming Function URL handler around the public API: event in, status + headers +
 * (possibly streamed) body out. Needs the `awslambda` global (Lambda's, or local/awslambda-shim).
 */
export function createCompletionsHandler(api: PublicApi, options: CompletionsHandlerOptions) {
  async function completions(event: APIGatewayProxyEventV2, context: Context) {
    const requestId = newRequestId();
    const remaining =
      typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 900_000;
    const deadline = Date.now() + Math.max(1_000, remaining - options.abortMarginMs);
    let response: HttpResponse;
    try {
      response = await api.handle(fromFunctionUrlEvent(event, options.maxBodyBytes), { requestId, deadline });
    } catch (err) {
      // A body the transport refused (too large, not UTF-8), in the shape of the path's surface.
      response = api.errorResponse(event.rawPath ?? '/', asGatewayError(err), requestId);
    }
    if (response.status >= 400) options.countError?.(response.errorCode ?? 'unknown', response.status);
    const body = typeof response.body === 'string' ? response.body : streamOf(response.body, response.cancel);
    return { statusCode: response.status, headers: response.headers, body };
  }
  return middy<APIGatewayProxyEventV2, Awaited<ReturnType<typeof completions>>>({
    streamifyResponse: true,
    timeoutEarlyInMillis: 0,
  }).handler(completions);
}
