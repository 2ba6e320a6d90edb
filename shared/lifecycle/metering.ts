import type { Tier, UpstreamModel } from '../domain/catalog.js';
import { ceilMicros, priceNumerator, priceUsage, type TokenPrice } from '../domain/money.js';
import type { ApiSurface, UsageRecord, UsageRoute, UsageStatus } from '../domain/usage.js';
import { describeError, type Log } from '../http.js';
import type { ApiKeyRecord, UsagePublisher, WalletStore } from '../ports.js';
import type { Billed, MeteredUsage } from './dialect.js';
import { estimateOutputTokens } from './estimate.js';

export interface MeterDeps {
  usage: UsagePublisher;
  wallet: WalletStore;
  log: Log;
  now: () => number;
}

export interface MeterInit {
  key: ApiKeyRecord;
  tier: Tier;
  catalogVersion: number;
  requestId: string;
  startedAt: number;
  stream: boolean;
  surface: ApiSurface;
  /** Choices requested: the output cap applies to each. */
  choices: number;
  /** tier-auto's decision, served or (shadow mode) only recorded. */
  route?: UsageRoute;
  /** Shadow mode: the chosen tier's price, for what it would have charged. */
  shadowPrice?: TokenPrice;
  /** Input tokens of the forwarded request, counted only when the upstream reported no usage. */
  estimateInput: () => Promise<number>;
}

/**
 * The one exit of an admitted request: whatever ends it (an answer, an upstream failure, a
 * deadline, a client that left or stalled, a refusal after an upstream call started), `finish`
 * publishes exactly one usage record, or writes it to the hold's outbox when publishing fails.
 */
export class Meter {
  holdMicros = 0;
  outputCap = 0;
  /** The model that produced the answer, once one did. */
  served: UpstreamModel | undefined;
  /** The model of the attempt under way. */
  current: UpstreamModel | undefined;
  ttftMs: number | null = null;
  readonly attempts: NonNullable<UsageRecord['attempts']> = [];
  /** Usage as the upstream reported it; read at finish. */
  usage: () => MeteredUsage | undefined = () => undefined;
  /** The prompt's counts reported before the final usage; read at finish when no usage came. */
  partialUsage: () => MeteredUsage | undefined = () => undefined;
  /** Generated text so far; read at finish for an estimate when no usage came. */
  generated: () => string = () => '';
  /** Generated output tokens with no text to count (redacted thinking), as the dialect estimated them. */
  opaqueOutput: () => number = () => 0;
  private finished: Promise<Billed> | undefined;
  /** A hold item was placed (a free tier's holds 0 µ$ but is still an item the usage settles). */
  private held = false;
  /** An upstream call started and was then stopped: it may have read the prompt. */
  private promptSent = false;
  /** Models of attempts given up after their upstream had the prompt (timed out, or answered badly). */
  private readonly abandoned: UpstreamModel[] = [];
  private inputEstimate: Promise<number> | undefined;
  /** The input estimate, counted once however many figures of the record need it. */
  private readonly estimateInput = (): Promise<number> => {
    this.inputEstimate ??= this.init.estimateInput();
    return this.inputEstimate;
  };

  constructor(
    private readonly deps: MeterDeps,
    private readonly init: MeterInit,
  ) {}

  get requestId(): string {
    return this.init.requestId;
  }

  admitted(holdMicros: number, outputCap: number): void {
    this.held = true;
    this.holdMicros = holdMicros;
    this.outputCap = outputCap;
  }

  /**
   * Marks an upstream call that started before admission and was aborted when admission refused:
   * its input is counted as upstream spend (for the guardrail); nothing is charged.
   */
  upstreamAbandoned(): void {
    this.promptSent = true;
  }

  /**
   * An attempt given up after its upstream had the prompt (it timed out, or its answer was empty or
   * broken), while another attempt went on or the request failed: the upstream may bill that
   * prompt, so its estimate at the model's cost is upstream spend of the request (the guardrail
   * counts it). Nothing is charged for it.
   */
  promptAbandoned(model: UpstreamModel): void {
    this.abandoned.push(model);
  }

  /** A tier-auto escalation call was made for this request: it is upstream spend to record. */
  get escalated(): boolean {
    return this.init.route?.escalation !== undefined;
  }

  /**
   * Records the request once and resolves to the token counts it was billed on and its charge;
   * later calls return the first call's promise. Never rejects.
   */
  finish(status: UsageStatus, errorCode?: string): Promise<Billed> {
    this.finished ??= this.record(status, errorCode).catch((err: unknown) => {
      this.deps.log.error('usage not recorded', { requestId: this.init.requestId, err: describeError(err) });
      return { inputTokens: 0, outputTokens: 0, chargeMicros: 0 };
    });
    return this.finished;
  }

  private async counts(): Promise<MeteredUsage & { source: 'upstream' | 'estimated' }> {
    const reported = this.usage();
    if (reported) return { ...reported, source: 'upstream' };
    const text = this.generated();
    const opaque = this.opaqueOutput();
    // Nothing generated and no model served: the upstream did no billable work for us.
    if (this.served === undefined && text === '' && opaque === 0 && !this.promptSent) {
      return { inputTokens: 0, outputTokens: 0, source: 'estimated' };
    }
    const partial = this.partialUsage();
    if (partial) {
      // The prompt was counted before the answer stopped: only the output is estimated.
      const estimated = (await estimateOutputTokens(text)) + opaque;
      return { ...partial, outputTokens: Math.max(partial.outputTokens, estimated), source: 'estimated' };
    }
    const [inputTokens, outputTokens] = await Promise.all([this.estimateInput(), estimateOutputTokens(text)]);
    return { inputTokens, outputTokens: outputTokens + opaque, source: 'estimated' };
  }

  /**
   * What the prompts of abandoned attempts may have cost upstream: the input estimate at each model's
   * cost, unrounded (DESIGN §13 rounds the whole sum once).
   */
  private async abandonedPromptCost(): Promise<bigint> {
    if (this.abandoned.length === 0) return 0n;
    const inputTokens = await this.estimateInput();
    return this.abandoned.reduce(
      (sum, model) => sum + priceNumerator(model.cost, { inputTokens, outputTokens: 0 }),
      0n,
    );
  }

  private async record(status: UsageStatus, errorCode?: string): Promise<Billed> {
    const { tier, key, requestId } = this.init;
    const [{ source, upstreamCostMicros: reportedCost, ...counts }, abandoned] = await Promise.all([
      this.counts(),
      this.abandonedPromptCost(),
    ]);
    const model = this.served ?? this.current;
    // The hold bounds the charge: the cap sent upstream makes this a no-op unless the upstream
    // counts more input than the bound allowed for (e.g. a very large image): say so when it does.
    const fullCharge = priceUsage(tier.price, counts);
    const chargeMicros = Math.min(fullCharge, this.holdMicros);
    const clipped = fullCharge > this.holdMicros && this.holdMicros > 0;
    if (clipped) {
      this.deps.log.warn('charge clipped to the hold', {
        requestId,
        chargeMicros: fullCharge,
        holdMicros: this.holdMicros,
      });
    }
    // The upstream's own cost when it reports one (whole micro-USD), else the catalog's price of the
    // serving model; with the abandoned attempts' prompts, rounded up once over the sum.
    const catalogCost = model ? priceNumerator(model.cost, counts) : 0n;
    const upstreamCostMicros =
      reportedCost === undefined ? ceilMicros(catalogCost + abandoned) : reportedCost + ceilMicros(abandoned);
    const endedAt = this.deps.now();
    const { route, shadowPrice } = this.init;
    // An escalation call's cost is upstream spend of this request (the guardrail counts it).
    const escalationMicros = route?.escalation?.upstreamCostMicros ?? 0;
    const record: UsageRecord = {
      requestId,
      accountId: key.accountId,
      keyId: key.keyId,
      tier: tier.id,
      catalogVersion: this.init.catalogVersion,
      model: model?.id ?? '',
      status,
      inputTokens: counts.inputTokens,
      outputTokens: counts.outputTokens,
      cachedInputTokens: counts.cachedInputTokens ?? 0,
      cacheWriteTokens: counts.cacheWriteTokens ?? 0,
      reasoningTokens: counts.reasoningTokens ?? 0,
      usageSource: source,
      upstreamCostMicros: upstreamCostMicros + escalationMicros,
      // 'upstream' only when the whole figure is the upstream's own (no abandoned prompt's estimate in it).
      upstreamCostSource: reportedCost === undefined || abandoned > 0n ? 'catalog' : 'upstream',
      chargeMicros,
      holdMicros: this.holdMicros,
      ...(clipped ? { clippedChargeMicros: fullCharge } : {}),
      ttftMs: this.ttftMs,
      latencyMs: Math.max(0, endedAt - this.init.startedAt),
      startedAt: new Date(this.init.startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      stream: this.init.stream,
      surface: this.init.surface,
      ...(errorCode ? { errorCode } : {}),
      ...(this.attempts.length > 0 ? { attempts: this.attempts } : {}),
      ...(route
        ? {
            route: shadowPrice ? { ...route, chargeMicros: priceUsage(shadowPrice, counts) } : route,
          }
        : {}),
    };
    await this.deliver(record);
    return { ...counts, chargeMicros };
  }

  private async deliver(record: UsageRecord): Promise<void> {
    const { requestId } = record;
    try {
      await this.deps.usage.publish(record);
    } catch (err) {
      this.deps.log.warn('usage event not published; writing outbox', { requestId, err: describeError(err) });
      // No hold, no outbox: nothing was charged. A free tier's 0 µ$ hold still keeps the record, so
      // the guardrail counts its upstream cost and the log shows its usage, not an abandoned hold.
      if (!this.held) return;
      try {
        await this.deps.wallet.writeOutbox(record.accountId, requestId, record);
      } catch (outboxErr) {
        // The reconciler will release the hold in full and keep a record of it, so the usage
        // event can still charge if it is delivered later.
        this.deps.log.error('outbox write failed', { requestId, err: describeError(outboxErr) });
      }
    }
  }
}
