/**
 * Resolves once the I/O callbacks already due have run: after every `process.nextTick` and
 * microtask queued by now, in the event loop's check phase.
 *
 * A background read (a cache refreshing ahead of expiry, a balance snapshot) started from a
 * request's path waits for this before it starts: an AWS SDK call runs a long chain of
 * microtasks before its first byte leaves, and Node sends a pooled HTTP request on a nextTick that
 * runs only once the microtask queue is empty, so a read started alongside the upstream call would
 * hold that call back by the SDK's CPU, ahead of the first token.
 */
export const afterPendingIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
