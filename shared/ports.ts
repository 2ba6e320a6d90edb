import type { Catalog, CatalogDocument, TierId } from './domain/catalog.js';
import type { ApiSurface, UsageRecord } from './domain/usage.js';

/**
 * The ports the domain depends on. DynamoDB, EventBridge and HTTP implement them in
 * shared/adapters; unit tests use in-memory fakes of these, never of the AWS SDK.
 */

export interface ApiKeyRecord {
  keyId: string;
  accountId: string;
  status: 'active' | 'revoked';
  name?: string;
  rpm?: number;
  tpm?: number;
  dailyBudgetMicros?: number;
  /** The account's daily budget, copied onto each of its keys so admission needs no extra read. */
  accountDailyBudgetMicros?: number;
}

export interface KeyStore {
  /** The key record stored under the SHA-256 of a plaintext key. */
  findByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
}

export interface CatalogVersionInfo {
  version: number;
  publishedAt: string;
}

export interface CatalogStore {
  /** The active catalog; seeds the default catalog as version 1 on first use. */
  getActive(): Promise<Catalog>;
  listVersions(): Promise<{ active: number; versions: CatalogVersionInfo[] }>;
  publish(document: CatalogDocument): Promise<CatalogVersionInfo>;
  rollback(version: number): Promise<CatalogVersionInfo>;
}

export interface HoldRequest {
  accountId: string;
  keyId: string;
  requestId: string;
  tier: TierId;
  catalogVersion: number;
  holdMicros: number;
  startedAt: string;
  /** Kept on the hold, so a request the reconciler releases is still logged under its surface. */
  surface?: ApiSurface;
  /** Daily budgets checked in the same transaction against today's settled charges. */
  budgets?: Array<{ scope: 'key' | 'account'; day: string; limitMicros: number }>;
}

export type HoldResult =
  | { ok: true }
  | { ok: false; reason: 'budget'; scope: 'key' | 'account' }
  | { ok: false; reason: 'insufficient'; balanceMicros: number }
  | { ok: false; reason: 'no_wallet' };

export interface WalletStore {
  /** Atomically moves `holdMicros` from the balance into a hold item; fails closed. */
  placeHold(hold: HoldRequest): Promise<HoldResult>;
  /** The wallet's balance, or undefined when the account has no wallet (deleted). */
  readBalance(accountId: string): Promise<number | undefined>;
  /** Writes the usage onto the hold item when publishing the usage event failed. */
  writeOutbox(accountId: string, requestId: string, usage: UsageRecord): Promise<void>;
}

export interface UsagePublisher {
  /** Publishes one `usage.recorded` event; rejects when it could not be accepted. */
  publish(usage: UsageRecord): Promise<void>;
}

export interface RateLimits {
  rpm?: number;
  tpm?: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the current one-minute window ends. */
  resetSeconds: number;
  /** Epoch ms at which the current window ends and the limits are whole again. */
  resetsAt: number;
  remainingRequests?: number;
  remainingTokens?: number;
}

export interface RateLimiter {
  /** Counts one request of `tokens` estimated tokens against the key's current window. */
  consume(keyId: string, limits: RateLimits, tokens: number): Promise<RateDecision>;
}

export interface GuardrailState {
  tripped: boolean;
  /** Epoch ms at which a trip lifts (next UTC midnight). */
  resetsAt: number;
}

export interface GuardrailReader {
  state(): Promise<GuardrailState>;
}

/** One server-sent event from the upstream: its `event:` name (when sent) and its data. */
export interface UpstreamEvent {
  event: string | undefined;
  data: string;
}

/** A request to the upstream, in its own wire format: the path below the base URL and the body. */
export interface UpstreamRequest {
  path: string;
  body: Record<string, unknown>;
  /** Headers a dialect forwards as the client sent them (e.g. a protocol version). */
  headers?: Record<string, string>;
  /**
   * How the gateway's upstream key is sent: as a bearer token (the default), or also as
   * `x-api-key`, which Anthropic-style endpoints read.
   */
  auth?: 'bearer' | 'bearer+x-api-key';
}

/**
 * Why an upstream refused a request, classified by the adapter (its statuses and error texts are
 * its own business): `unavailable` may succeed on another model, `context_length` only on a model
 * with a larger window, `unauthorized` is the gateway's own credential or funding, `refused` is the
 * request itself.
 */
export interface UpstreamFailure {
  kind: 'unavailable' | 'context_length' | 'unauthorized' | 'refused';
  /** A short code for the request log, e.g. `status_503`. */
  outcome: string;
}

/** The upstream's answer: a failure, or a success whose body is read as text or as events. */
/**
 * An upstream's server-sent events, read one by one. An upstream that parses a whole read at once
 * may also offer `takeBuffered`: an event of the read already made, handed over without a promise
 * (undefined when the next must be awaited), so a read's frames leave together.
 */
export interface UpstreamEventIterator extends AsyncIterator<UpstreamEvent> {
  takeBuffered?(): UpstreamEvent | undefined;
}

export type UpstreamReply =
  | { ok: false; failure: UpstreamFailure }
  | {
      ok: true;
      /** The whole body (non-streaming responses). */
      text(): Promise<string>;
      /** Server-sent events as they arrive; ends when the upstream closes the stream. */
      events(): { [Symbol.asyncIterator](): UpstreamEventIterator };
    };

/** An upstream kind (OpenAI-compatible HTTP today). Rejects only when no reply came (network). */
export interface Upstream {
  send(request: UpstreamRequest, signal: AbortSignal): Promise<UpstreamReply>;
}

/** A route's 200 response as stored for Idempotency-Key replays. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  /** The buffered body, or a stream's frames in order. */
  body: string | string[];
}

/** What holds an (account, Idempotency-Key) pair. */
export type IdempotencyRecord =
  | { state: 'in_flight'; requestId: string; bodyHash: string; leaseUntil: number }
  | { state: 'completed'; requestId: string; bodyHash: string; response: StoredResponse }
  | { state: 'completed_too_large'; requestId: string; bodyHash: string }
  | { state: 'completed_unstored'; requestId: string; bodyHash: string };

/**
 * How a request that holds a claim completed: its result, or only that it was too large to store,
 * or that storing it failed (a small marker, so a repeat is refused rather than run and charged again).
 */
export type IdempotencyOutcome = StoredResponse | 'too_large' | 'unstored';

export interface IdempotencyClaim {
  accountId: string;
  key: string;
  requestId: string;
  bodyHash: string;
  /** Epoch ms: a record whose lease or lifetime ended before this no longer holds the key. */
  now: number;
  /** Epoch ms until which an unfinished claim holds the key, so a crashed attempt frees it in time. */
  leaseUntil: number;
  /** Epoch ms at which the record expires (DynamoDB TTL). */
  expiresAt: number;
}

export type ClaimResult = { claimed: true } | { claimed: false; record: IdempotencyRecord };

export interface IdempotencyStore {
  /** Takes the key for a request, or returns the live record that holds it: one winner per key. */
  claim(claim: IdempotencyClaim): Promise<ClaimResult>;
  /**
   * Stores how the request that holds the claim completed; false when that request no longer
   * holds it.
   */
  complete(accountId: string, key: string, requestId: string, result: IdempotencyOutcome): Promise<boolean>;
  /** Frees the key after a failed attempt, so a retry may run; only the claiming request can. */
  release(accountId: string, key: string, requestId: string): Promise<void>;
}
