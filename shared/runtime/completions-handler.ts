import { finished, type Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { fromFunctionUrlEvent } from '../adapters/function-url.js';
import { asGatewayError } from '../domain/errors.js';
import type { PublicApi } from '../gateway/public-api.js';
import { type HttpResponse, isPushBody, type PushBody } from '../http.js';
import { newRequestId } from '../lifecycle/lifecycle.js';

/** Counts an error response by its code (EMF line; no API call on the request path). */
export type ErrorCounter = (code: string, status: number) => void;

export interface CompletionsHandlerOptions {
  maxBodyBytes: number;
  /** Abort upstream this long before Lambda's own timeout, leaving time to settle. */
  abortMarginMs: number;
  countError?: ErrorCounter;
}

/** The response stream a streaming handler writes to (Lambda's, or local/awslambda-shim's). */
export type ResponseStream = Writable;

/** The client went away: the response stream failed or closed before its end. */
const gone = (out: ResponseStream, err: Error): Error => (out.errored as Error | null) ?? err;

/**
 * Writes a response body to the response stream: a buffered body at once, a stream frame by frame
 * as the body yields them (the relay hands every frame queued since the last read in one string,
 * so frames are written as soon as they exist), waiting for 'drain' when the stream is full.
 * Nothing stands between the frames and the stream: no Readable, no pipeline, no extra tick.
 *
 * When the client goes away first (the stream fails or closes before its end), `cancel` runs at
 * once, even while a read waits for upstream, and the write rejects only once it has resolved, so
 * the invocation ends only once the request is recorded.
 *
 * Lambda's response stream is not a whole Writable (aws-lambda-nodejs-runtime-interface-client,
 * src/ResponseStream.js): its `end` takes only a callback, and the status and headers given to
 * `HttpResponseStream.from` leave with the first `write`. So every body is written, never passed
 * to `end`, and a stream that yielded nothing still gets one (empty) write before its end.
 */
export async function writeBody(
  out: ResponseStream,
  body: string | AsyncIterable<string>,
  cancel?: () => Promise<void>,
): Promise<void> {
  if (typeof body === 'string') {
    out.write(body);
    return endStream(out);
  }
  if (isPushBody(body)) return pushBody(out, body, cancel);
  const iterator = body[Symbol.asyncIterator]();
  let wrote = false;
  let ended = false;
  let left: Error | undefined;
  let cancelled: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const onGone = (err: Error): void => {
    if (left || ended) return;
    left = gone(out, err);
    // Not awaited here: the loop below awaits it. A read still pending ends with the cancel.
    cancelled = (cancel?.() ?? Promise.resolve()).catch(() => {});
    wake?.();
  };
  // Also when the stream had already failed (the client left while the response was prepared).
  const stopWatching = finished(out, { readable: false }, (err) => {
    if (err) onGone(err);
  });
  try {
    for (;;) {
      const next = await iterator.next();
      if (left) break;
      if (next.done) break;
      wrote = true;
      if (!out.write(next.value)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            out.off('drain', done);
            wake = undefined;
            resolve();
          };
          wake = done;
          out.on('drain', done);
        });
        if (left) break;
      }
    }
    if (!left) {
      ended = true;
      if (!wrote) out.write('');
      await endStream(out);
      return;
    }
  } catch (err) {
    // The body failed (it never does once the relay has started): the client gets no clean end.
    if (!left) {
      onGone(err instanceof Error ? err : new Error(String(err)));
    }
  } finally {
    stopWatching();
  }
  await cancelled;
  iterator.return?.().catch(() => {});
  out.destroy();
  throw left;
}

/**
 * Writes a push body: its frames are written from the relay's pump as the upstream sends them (one
 * write per upstream read), with no read, promise or tick per frame. The same rules as for an
 * iterated body: backpressure through the sink's drain, `cancel` at once when the client goes
 * away and a rejection only once it has resolved, bodies written and never passed to `end`.
 */
function pushBody(out: ResponseStream, body: PushBody, cancel?: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let wrote = false;
    let over = false;
    const onGone = (err: Error): void => {
      if (over) return;
      over = true;
      stopWatching();
      const left = gone(out, err);
      (cancel?.() ?? Promise.resolve())
        .catch(() => {})
        .then(() => {
          out.destroy();
          reject(left);
        });
    };
    const stopWatching = finished(out, { readable: false }, (err) => {
      if (err) onGone(err);
    });
    body.pushTo({
      write: (frames) => {
        if (over) return true;
        wrote = true;
        try {
          return out.write(frames);
        } catch (err) {
          onGone(err instanceof Error ? err : new Error(String(err)));
          return true;
        }
      },
      waitDrain: (resume) => {
        if (!over) out.once('drain', resume);
      },
      end: () => {
        if (over) return;
        over = true;
        stopWatching();
        if (!wrote) out.write('');
        endStream(out).then(resolve, reject);
      },
    });
  });
}

/** Ends the stream (`end` with a callback only, as Lambda's takes) and resolves once it has finished. */
function endStream(out: ResponseStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    out.once('error', onError);
    out.end((err?: Error | null) => {
      out.off('error', onError);
      if (err) reject(err);
      else resolve();
    });
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
    return response;
  }
  // No middleware runs here: the handler writes its body straight to Lambda's response stream.
  return awslambda.streamifyResponse<APIGatewayProxyEventV2, void>(async (event, responseStream, context) => {
    const response = await completions(event, context);
    const out = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: response.status,
      headers: response.headers,
    });
    await writeBody(out, response.body, response.cancel);
  });
}
