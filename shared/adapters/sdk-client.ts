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
