import { invalidApiKey } from '../../shared/domain/errors.js';
import { SSE_DONE } from '../../shared/domain/sse.js';
import { type IdempotencyOptions, withIdempotency } from '../../shared/gateway/idempotency.js';
import {
  errorResponse,
  type HttpRequest,
  type HttpResponse,
  jsonResponse,
  silentLog,
} from '../../shared/http.js';
import type {
  ClaimResult,
  IdempotencyClaim,
  IdempotencyOutcome,
  IdempotencyRecord,
  IdempotencyStore,
} from '../../shared/ports.js';

/** The Idempotency-Key wrapper around a scripted route, over an in-memory store and clock (unit tests). */

export const ROUTE = 'POST /v1/chat/completions';

/** The DynamoDB adapter's conditions, in memory (test/integration/idempotency-store.test.ts checks the real ones). */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly items = new Map<
    string,
    IdempotencyRecord & { expiresAt: number; released?: boolean; accountId: string }
  >();
  failWrites = false;
  /** Only the writes of a whole result fail (as one too large for an item would); markers pass. */
  failResults = false;

  async claim(claim: IdempotencyClaim): Promise<ClaimResult> {
    const id = `${claim.accountId}\n${claim.key}`;
    const held = this.items.get(id);
    const free =
      !held ||
      held.released === true ||
      held.expiresAt <= claim.now ||
      (held.state === 'in_flight' && held.leaseUntil <= claim.now);
    if (!free) {
      const { expiresAt: _e, released: _r, accountId: _a, ...record } = held;
      return { claimed: false, record: structuredClone(record) as IdempotencyRecord };
    }
    this.items.set(id, {
      state: 'in_flight',
      requestId: claim.requestId,
      bodyHash: claim.bodyHash,
      leaseUntil: claim.leaseUntil,
      expiresAt: claim.expiresAt,
      accountId: claim.accountId,
    });
    return { claimed: true };
  }

  async complete(accountId: string, key: string, requestId: string, result: IdempotencyOutcome) {
    if (this.failWrites || (this.failResults && typeof result !== 'string')) {
      throw new Error('storage unavailable');
    }
    const held = this.owned(accountId, key, requestId);
    if (!held) return false;
    const { bodyHash, expiresAt } = held;
    this.items.set(
      `${accountId}\n${key}`,
      typeof result === 'string'
        ? {
            state: result === 'too_large' ? 'completed_too_large' : 'completed_unstored',
            requestId,
            bodyHash,
            expiresAt,
            accountId,
          }
        : {
            state: 'completed',
            requestId,
            bodyHash,
            expiresAt,
            accountId,
            response: structuredClone(result),
          },
    );
    return true;
  }

  async release(accountId: string, key: string, requestId: string): Promise<void> {
    if (this.failWrites) throw new Error('storage unavailable');
    const held = this.owned(accountId, key, requestId);
    if (held) held.released = true;
  }

  state(accountId: string, key: string): string | undefined {
    const held = this.items.get(`${accountId}\n${key}`);
    return held?.released ? 'released' : held?.state;
  }

  private owned(accountId: string, key: string, requestId: string) {
    const held = this.items.get(`${accountId}\n${key}`);
    return held?.state === 'in_flight' && !held.released && held.requestId === requestId ? held : undefined;
  }
}

/** A promise with its resolver, to hold a handler or a stream at a point of the test's choosing. */
export function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export const DEADLINE_MS = 60_000;

interface SendOptions {
  key?: string;
  headers?: Record<string, string>;
  account?: string;
}

/** The wrapper around `route`, which answers every call in turn, over an in-memory store and clock. */
export function harness(
  route: (call: number, req: HttpRequest) => Promise<HttpResponse>,
  extra: Partial<IdempotencyOptions> = {},
) {
  const store = new MemoryIdempotencyStore();
  const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
  const counts = { calls: 0, retries: 0 };
  const wrapped = withIdempotency(async (req) => route(++counts.calls, req), {
    store,
    route: ROUTE,
    // The Authorization header names the account here; 'broken' stands for a failing key store.
    accountOf: async (req) => {
      const account = req.headers.authorization;
      if (!account) throw invalidApiKey();
      if (account === 'broken') throw new Error('key store down');
      return account;
    },
    errorResponse,
    isComplete: (frames) => frames.at(-1) === SSE_DONE,
    isRateLimitHeader: (name) => name.startsWith('x-ratelimit-'),
    countRetryWithoutKey: () => {
      counts.retries++;
    },
    log: silentLog,
    now: () => clock.now,
    ...extra,
  });
  let sequence = 0;
  const send = (body: unknown, opts: SendOptions = {}): Promise<HttpResponse> => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string | undefined> = {
      authorization: opts.account ?? 'acct-1',
      ...(opts.key === undefined ? {} : { 'idempotency-key': opts.key }),
      ...opts.headers,
    };
    return wrapped(
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers,
        query: {},
        body: text,
        bodyBytes: text.length,
      },
      { requestId: `req-${++sequence}`, deadline: clock.now + DEADLINE_MS },
    );
  };
  return { store, clock, counts, send };
}

export const BODY = { model: 'tier-1', messages: [{ role: 'user', content: 'Hello' }] };

/** A 200 completion that names its call, with the gateway's headers. */
export const completion = (call: number, req: HttpRequest) =>
  jsonResponse(
    200,
    { id: `chatcmpl-call${call}`, choices: [{ message: { content: `answer ${call}` } }] },
    {
      'x-request-id': `call${call}`,
      'x-tier': 'tier-1',
      'x-tier-catalog-version': '3',
      'x-ratelimit-remaining-requests': '9',
      ...(req.headers['x-extra'] ? { 'x-extra': req.headers['x-extra'] } : {}),
    },
  );

export async function read(response: HttpResponse): Promise<string[]> {
  if (typeof response.body === 'string') return [response.body];
  const frames: string[] = [];
  for await (const frame of response.body) frames.push(frame);
  return frames;
}

export const errorOf = (response: HttpResponse) =>
  (JSON.parse(response.body as string) as { error: { type: string; code: string } }).error;

/** A stream source whose frames the test releases one at a time. */
export function controlledStream(frames: string[]) {
  const steps = frames.map(() => gate());
  let cancelled = 0;
  const produced: string[] = [];
  async function* body() {
    for (const [i, frame] of frames.entries()) {
      await steps[i]?.promise;
      produced.push(frame);
      yield frame;
    }
  }
  return {
    response: {
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': 'call1' },
      body: body(),
      cancel: async () => {
        cancelled++;
      },
    } satisfies HttpResponse,
    step: (i: number) => steps[i]?.open(),
    /** Lets every frame through at once. */
    flowing() {
      for (const step of steps) step.open();
      return this.response;
    },
    produced,
    cancelled: () => cancelled,
  };
}

export const FRAMES = ['data: {"n":1}\n\n', 'data: {"n":2}\n\n', SSE_DONE];
