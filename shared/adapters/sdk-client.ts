/**
 * The AWS SDK's logger middleware runs on every call, after the response: even with no logger
 * configured (the default is a no-op logger whose `info` exists), it copies the command's input
 * and output through the service schema's sensitive-data filter to build a log entry nobody reads.
 * For a DynamoDB transaction that walk costs more CPU than marshalling the request. The gateway
 * never gives the SDK a logger, so the middleware is removed from every client it builds.
 */
export const SDK_LOGGER_MIDDLEWARE = 'loggerMiddleware';

interface HasMiddlewareStack {
  middlewareStack: { remove(toRemove: string): boolean };
}

/** `client`, without the SDK's per-call log entry. */
export function withoutSdkLogging<C extends HasMiddlewareStack>(client: C): C {
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  return client;
}

/**
 * Per attempt, how long an AWS call may take before it fails. The SDK's HTTP handler has no timeout
 * by default, so a socket that stalls without closing would hold a call until the function's own
 * timeout (15 minutes on completions): a usage event stuck in PutEvents would then be neither
 * published nor written to the outbox, and the reconciler would release its hold uncharged. A
 * timed-out attempt is retried like any other failure (DynamoDB transactions carry a client
 * request token, so a retry of one that did commit is not applied twice).
 */
export const SDK_REQUEST_TIMEOUT_MS = 5_000;
export const SDK_CONNECTION_TIMEOUT_MS = 1_000;

/** The HTTP handler options of every AWS client the gateway builds. */
export const sdkRequestHandler = (requestTimeout = SDK_REQUEST_TIMEOUT_MS) => ({
  requestTimeout,
  connectionTimeout: Math.min(SDK_CONNECTION_TIMEOUT_MS, requestTimeout),
  throwOnRequestTimeout: true,
});
