import type { Tier } from '../domain/catalog.js';
import { utcDay } from '../domain/clock.js';
import {
  asGatewayError,
  budgetExceeded,
  dailySpendLimit,
  GatewayError,
  insufficientQuota,
  invalidApiKey,
  rateLimited,
} from '../domain/errors.js';
import { holdPrice, maxOutputTokensWithin, priceTokens } from '../domain/money.js';
import type { ApiSurface } from '../domain/usage.js';
import type {
  ApiKeyRecord,
  GuardrailState,
  HoldRequest,
  RateLimiter,
  RateLimits,
  WalletStore,
} from '../ports.js';
import type { RateLimitHeaders } from './dialect.js';
import type { Funds } from './funds.js';

/** Below this many affordable output tokens a request is refused with insufficient_quota. */
export const MIN_OUTPUT_TOKENS = 16;

export interface AdmissionDeps {
  wallet: WalletStore;
  rateLimiter: RateLimiter | undefined;
  funds: Funds;
  now: () => number;
  /** The surface's names for a limited key's window (the dialect's). */
  rateLimitHeaders: RateLimitHeaders;
}

/** What admission needs to know of one request. */
export interface AdmissionRequest {
  key: ApiKeyRecord;
  tier: Tier;
  requestId: string;
  catalogVersion: number;
  startedAt: number;
  /** The output cap before the wallet is consulted. */
  cap: number;
  /** Upper bound on the input's tokens. */
  inputBound: number;
  /** The request's own least output cap, when above MIN_OUTPUT_TOKENS (ParsedRequest's). */
  minOutputTokens?: number;
  choices: number;
  surface: ApiSurface;
}

export interface Admitted {
  holdMicros: number;
  outputCap: number;
  /** The rate-limit headers of a key with limits, in the surface's names. */
  limitHeaders: Record<string, string>;
}

/** A refusal that came after a hold was placed: the hold must be released. */
export class RefusedAfterHold extends Error {
  constructor(
    readonly refusal: GatewayError,
    readonly held: { holdMicros: number; outputCap: number },
  ) {
    super(refusal.message);
  }
}

const limitsOf = (key: ApiKeyRecord): RateLimits | undefined =>
  key.rpm === undefined && key.tpm === undefined
    ? undefined
    : {
        ...(key.rpm !== undefined ? { rpm: key.rpm } : {}),
        ...(key.tpm !== undefined ? { tpm: key.tpm } : {}),
      };

const hasBudget = (key: ApiKeyRecord): boolean =>
  key.dailyBudgetMicros !== undefined || key.accountDailyBudgetMicros !== undefined;

/**
 * Admission: the guardrail, the account's existence, the key's rate limit and budgets, and the
 * wallet hold with its output cap lowered to what the wallet covers. Decides, too, whether the
 * upstream may be called before the hold completes: only when admission is near-certain from
 * what this instance already knows.
 */
export class Admission {
  constructor(private readonly deps: AdmissionDeps) {}

  /** Refusals that need no storage round trip: a tripped guardrail, a deleted account. */
  precheck(key: ApiKeyRecord, guardrail: GuardrailState): void {
    if (guardrail.tripped) {
      throw dailySpendLimit(Math.max(1, Math.ceil((guardrail.resetsAt - this.deps.now()) / 1000)));
    }
    if (this.deps.funds.isDeleted(key.accountId)) throw invalidApiKey();
  }

  /**
   * Whether a tier-auto escalation call may be spent on the request before its admission: not for
   * an account this instance just refused for want of money, nor for a key with a rate limit or a budget,
   * whose edge is only known at admission. Otherwise an unfunded or throttled key could make the
   * gateway pay an escalation on every request it then refuses.
   */
  mayEscalate(key: ApiKeyRecord): boolean {
    if (limitsOf(key) !== undefined || hasBudget(key)) return false;
    return !this.deps.funds.wasShort(key.accountId);
  }

  /**
   * Whether the upstream call may start while the hold is placed. Keys with a rate limit or a
   * budget always admit first (their edge cannot be known locally); other accounts only when this
   * instance's balance snapshot covers the full hold with a margin.
   */
  mayOverlap(request: AdmissionRequest): boolean {
    const { key, tier, cap, inputBound, choices } = request;
    if (limitsOf(key) !== undefined || hasBudget(key)) return false;
    return this.deps.funds.tryReserve(
      key.accountId,
      priceTokens(holdPrice(tier.price), inputBound, cap * choices),
    );
  }

  /** Places the hold and counts the rate limit; throws the refusal (RefusedAfterHold if held). */
  async admit(request: AdmissionRequest, reserved: boolean): Promise<Admitted> {
    const { key, inputBound, cap, choices } = request;
    const limits = limitsOf(key);
    // The rate-limit count is a separate update, so it can return the count for the
    // rate-limit headers (a transaction cannot); it runs alongside the hold.
    const rateP = limits
      ? this.deps.rateLimiter?.consume(key.keyId, limits, rateTokens(inputBound) + cap * choices)
      : undefined;
    const [rate, hold] = await Promise.allSettled([rateP, this.placeHold(request, reserved)]);
    const limitHeaders =
      limits && rate.status === 'fulfilled' && rate.value
        ? this.deps.rateLimitHeaders(limits, rate.value)
        : {};
    if (rate.status === 'rejected') {
      if (hold.status === 'fulfilled') throw new RefusedAfterHold(asGatewayError(rate.reason), hold.value);
      throw rate.reason;
    }
    if (rate.value?.allowed === false) {
      const refusal = rateLimited(rate.value.resetSeconds, limitHeaders);
      if (hold.status === 'fulfilled') throw new RefusedAfterHold(refusal, hold.value);
      throw refusal;
    }
    if (hold.status === 'rejected') {
      if (hold.reason instanceof GatewayError) Object.assign(hold.reason.headers, limitHeaders);
      throw hold.reason;
    }
    return { ...hold.value, limitHeaders };
  }

  private async placeHold(
    request: AdmissionRequest,
    reserved: boolean,
  ): Promise<{ holdMicros: number; outputCap: number }> {
    const { key, tier, inputBound, choices } = request;
    const { funds, wallet } = this.deps;
    // A budget of zero allows nothing, though no spend has been counted for the day yet (the
    // hold's condition reads a day's counter, which its first request would otherwise pass).
    if (key.dailyBudgetMicros !== undefined && key.dailyBudgetMicros <= 0) throw budgetExceeded('key');
    if (key.accountDailyBudgetMicros !== undefined && key.accountDailyBudgetMicros <= 0) {
      throw budgetExceeded('account');
    }
    let cap = request.cap;
    for (let attempt = 0; attempt < 3; attempt++) {
      const holdMicros = priceTokens(holdPrice(tier.price), inputBound, cap * choices);
      const result = await wallet.placeHold(this.holdRequest(request, holdMicros));
      if (result.ok) {
        if (!reserved || attempt > 0) funds.held(key.accountId, holdMicros);
        return { holdMicros, outputCap: cap };
      }
      if (result.reason === 'no_wallet') {
        funds.gone(key.accountId);
        throw invalidApiKey(); // the account was deleted; its key is still in some cache
      }
      if (result.reason === 'budget') throw budgetExceeded(result.scope);
      funds.short(key.accountId, result.balanceMicros);
      // Lower the output cap to what the wallet covers, so the charge can never exceed the hold.
      const affordable = Math.floor(
        maxOutputTokensWithin(holdPrice(tier.price), inputBound, result.balanceMicros) / choices,
      );
      if (affordable < Math.max(MIN_OUTPUT_TOKENS, request.minOutputTokens ?? 0)) throw insufficientQuota();
      cap = Math.min(cap, affordable);
    }
    throw insufficientQuota();
  }

  private holdRequest(request: AdmissionRequest, holdMicros: number): HoldRequest {
    const { key, tier, requestId, catalogVersion, startedAt, surface } = request;
    const day = utcDay(startedAt);
    const budgets: NonNullable<HoldRequest['budgets']> = [];
    if (key.dailyBudgetMicros !== undefined)
      budgets.push({ scope: 'key', day, limitMicros: key.dailyBudgetMicros });
    if (key.accountDailyBudgetMicros !== undefined) {
      budgets.push({ scope: 'account', day, limitMicros: key.accountDailyBudgetMicros });
    }
    return {
      ...(budgets.length > 0 ? { budgets } : {}),
      accountId: key.accountId,
      keyId: key.keyId,
      requestId,
      tier: tier.id,
      catalogVersion,
      holdMicros,
      startedAt: new Date(startedAt).toISOString(),
      surface,
    };
  }
}

/** Tokens a request counts against a per-minute token limit: ~4 bytes a token of input, plus its cap. */
const rateTokens = (inputBound: number): number => Math.ceil(inputBound / 4);
