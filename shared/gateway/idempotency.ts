import { canonicalBodyHash } from '../domain/canonical-json.js';
import {
  asGatewayError,
  type GatewayError,
  idempotencyInProgress,
  idempotencyKeyReused,
  idempotencyResultNotStored,
  idempotencyResultTooLarge,
  invalidIdempotencyKey,
} from '../domain/errors.js';
import { describeError, type HttpRequest, type HttpResponse, type Log } from '../http.js';
import type { IdempotencyOutcome, IdempotencyRecord, IdempotencyStore, StoredResponse } from '../ports.js';

/**
 * `Idempotency-Key` (DESIGN §16) around one route, as a wrapper that sees only HTTP requests and
 * responses: the first request with a key runs, a repeat with an equal JSON body gets the stored
 * result and is never run, charged or rate-limited again.
 */

/** How long a key answers repeats, from its first request. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Stored result cap: UTF-8 bytes of the body (or of a stream's frames, plus one per frame for
 * DynamoDB's list overhead). DynamoDB items hold at most 400 KB; the rest is left for the
 * headers and the record's own attributes.
 */
export const MAX_STORED_RESULT_BYTES = 350_000;

/**
 * An unfinished claim holds its key this long past the request's deadline (the function's, or the
 * longest a tier lets a request run, whichever comes first), then a retry may run.
 */
export const LEASE_MARGIN_MS = 60_000;

const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Sent by the Stainless-generated SDKs (OpenAI, Anthropic): 0 on the first attempt. */
const RETRY_COUNT_HEADER = 'x-stainless-retry-count';
const REPLAYED_HEADER = 'idempotent-replayed';
/** Printable ASCII, 1 to 255 characters. */
const KEY_PATTERN = /^[ -~]{1,255}$/;

export interface RouteContext {
  requestId: string;
  /** Epoch ms by which the request must be finished. */
  deadline: number;
}

export type RouteHandler = (req: HttpRequest, ctx: RouteContext) => Promise<HttpResponse>;

export interface IdempotencyOptions {
  store: IdempotencyStore;
  /** Hashed with the body, so one key cannot answer for two routes. */
  route: string;
  /** The authenticated account of a request; a client error when it has none. */
  accountOf(req: HttpRequest): Promise<string>;
  /**
   * The longest any request may run (the catalog's longest tier time limit): an attempt that died
   * frees its key this long after it began, not at the function's deadline.
   */
  longestRequestMs?: () => Promise<number>;
  /** The route's error shape. */
  errorResponse(err: GatewayError, requestId: string): HttpResponse;
  /**
   * Whether a 200 stream ran to its proper end, judged on its frames (only the last one once the
   * stream is past the size cap). Chat: the last frame is `data: [DONE]`.
   */
  isComplete(frames: readonly string[]): boolean;
  /** Whether a header is one of the route's rate-limit headers: a replay does not repeat them. */
  isRateLimitHeader(name: string): boolean;
  /** Counts a client retry sent without a key: each may be billed twice. */
  countRetryWithoutKey?: () => void;
  log: Log;
  now?: () => number;
  maxStoredBytes?: number;
}

/** One request's hold on its key. */
interface Claim {
  accountId: string;
  key: string;
  requestId: string;
}

export function withIdempotency(handler: RouteHandler, options: IdempotencyOptions): RouteHandler {
  const now = options.now ?? Date.now;
  const cap = options.maxStoredBytes ?? MAX_STORED_RESULT_BYTES;
  const { store, log } = options;

  return async (req, ctx) => {
    const key = req.headers[IDEMPOTENCY_HEADER];
    if (key === undefined) {
      if (Number(req.headers[RETRY_COUNT_HEADER]) > 0) options.countRetryWithoutKey?.();
      return handler(req, ctx);
    }
    // A body that is not a JSON object is refused by the route; nothing is recorded for it.
    const bodyHash = canonicalBodyHash(options.route, req.body);
    if (bodyHash === undefined) return handler(req, ctx);
    let accountId: string;
    try {
      accountId = await options.accountOf(req);
    } catch (err) {
      // No account (a 401, which comes before a bad header): the route answers in its own words.
      // Anything else is a server error.
      if (asGatewayError(err).status < 500) return handler(req, ctx);
      throw err;
    }
    if (!KEY_PATTERN.test(key)) return options.errorResponse(invalidIdempotencyKey(), ctx.requestId);
    const started = now();
    const claim: Claim = { accountId, key, requestId: ctx.requestId };
    const result = await store.claim({
      ...claim,
      bodyHash,
      now: started,
      leaseUntil: (await requestEnd(started, ctx.deadline)) + LEASE_MARGIN_MS,
      expiresAt: started + IDEMPOTENCY_TTL_MS,
    });
    if (!result.claimed) return answerRepeat(result.record, bodyHash, ctx);
    let response: HttpResponse;
    try {
      response = await handler(req, ctx);
    } catch (err) {
      await release(claim);
      throw err;
    }
    if (response.status !== 200) {
      await release(claim);
      return response;
    }
    if (typeof response.body === 'string') {
      const stored = storable(response, response.body, byteLength(response.body));
      await complete(claim, stored);
      return response;
    }
    return recordStream(response, response.body, claim);
  };

  /** When a request that began at `started` ends at the latest. */
  async function requestEnd(started: number, deadline: number): Promise<number> {
    let end = deadline;
    try {
      const longest = await options.longestRequestMs?.();
      if (longest !== undefined) end = Math.min(end, started + longest);
    } catch {
      // Without the catalog the function's deadline bounds it.
    }
    return Math.max(end, started);
  }

  function answerRepeat(record: IdempotencyRecord, bodyHash: string, ctx: RouteContext): HttpResponse {
    if (record.bodyHash !== bodyHash) return options.errorResponse(idempotencyKeyReused(), ctx.requestId);
    if (record.state === 'in_flight') return options.errorResponse(idempotencyInProgress(), ctx.requestId);
    if (record.state === 'completed_too_large') {
      return options.errorResponse(idempotencyResultTooLarge(), ctx.requestId);
    }
    if (record.state === 'completed_unstored') {
      return options.errorResponse(idempotencyResultNotStored(), ctx.requestId);
    }
    log.info('idempotent replay', { requestId: ctx.requestId, originalRequestId: record.requestId });
    const { status, headers, body } = record.response;
    return {
      status,
      headers: { ...headers, [REPLAYED_HEADER]: 'true' },
      body: typeof body === 'string' ? body : replayFrames(body),
    };
  }

  /** The result to store, or 'too_large' past the cap. */
  function storable(response: HttpResponse, body: string | string[], bytes: number) {
    if (bytes > cap) return 'too_large' as const;
    // Rate-limit headers describe the first request's window, not the replay's: they are not kept.
    const headers = Object.fromEntries(
      Object.entries(response.headers).filter(([name]) => !options.isRateLimitHeader(name)),
    );
    return { status: response.status, headers, body };
  }

  /** Passes every frame on as it comes, keeps a copy, and records the stream once it has ended. */
  function recordStream(response: HttpResponse, frames: AsyncIterable<string>, claim: Claim): HttpResponse {
    let settled = false;
    const settle = async (outcome: StoredResponse | 'too_large' | 'failed'): Promise<void> => {
      if (settled) return;
      settled = true;
      if (outcome === 'failed') await release(claim);
      else await complete(claim, outcome);
    };
    async function* tee(): AsyncGenerator<string, void, undefined> {
      const kept: string[] = [];
      let bytes = 0;
      let last: string | undefined;
      let ended = false;
      try {
        for await (const frame of frames) {
          last = frame;
          if (bytes <= cap) {
            bytes += byteLength(frame) + 1;
            if (bytes <= cap) kept.push(frame);
            else kept.length = 0;
          }
          yield frame;
        }
        ended = true;
      } finally {
        // Reached on the stream's end, on its failure and when the consumer leaves early.
        const tooLarge = bytes > cap;
        const complete = ended && options.isComplete(tooLarge ? (last === undefined ? [] : [last]) : kept);
        await settle(complete ? storable(response, kept, bytes) : 'failed');
      }
    }
    return {
      ...response,
      body: tee(),
      cancel: async () => {
        // The client left, possibly before the first read, when the body never started.
        try {
          await response.cancel?.();
        } finally {
          await settle('failed');
        }
      },
    };
  }

  /**
   * Never throws: the client gets its response even when the record cannot be written. When the
   * result cannot be stored, a small marker says the request completed, so a repeat is refused
   * (409, not to be retried) rather than left in progress until the lease ends and then run and
   * charged again.
   */
  async function complete(claim: Claim, result: IdempotencyOutcome): Promise<void> {
    const { requestId } = claim;
    try {
      const stored = await store.complete(claim.accountId, claim.key, requestId, result);
      if (!stored) log.warn('idempotency claim lost before completion', { requestId });
      if (result === 'too_large') log.info('idempotent result too large to store', { requestId });
      return;
    } catch (err) {
      log.warn('idempotent result not stored', { requestId, err: describeError(err) });
    }
    if (result === 'unstored') return;
    try {
      await store.complete(claim.accountId, claim.key, requestId, 'unstored');
    } catch (err) {
      // The claim stays in flight until its lease ends; a retry after that runs again.
      log.error('idempotency claim left in flight', { requestId, err: describeError(err) });
    }
  }

  /** Never throws: an unreleased claim frees its key when its lease ends. */
  async function release(claim: Claim): Promise<void> {
    try {
      await store.release(claim.accountId, claim.key, claim.requestId);
    } catch (err) {
      log.warn('idempotency claim not released', { requestId: claim.requestId, err: describeError(err) });
    }
  }
}

async function* replayFrames(frames: string[]): AsyncGenerator<string, void, undefined> {
  yield* frames;
}

const byteLength = (text: string): number => Buffer.byteLength(text, 'utf8');
