import { setTimeout as sleep } from 'node:timers/promises';
import { InternalException } from '@aws-sdk/client-eventbridge';
import { compilePattern, type EventMatcher } from '../shared/events/pattern-matcher.js';
import type { RuleDefinition } from '../shared/events/rules.js';
import {
  type BusEvent,
  checkEntryCount,
  eventFromEntry,
  type PutEventsEntry,
  type PutEventsResult,
  type PutEventsResultEntry,
} from './put-events.js';

/**
 * An in-process stand-in for the EventBridge bus, running the deployed rule patterns (shared/events/rules.ts)
 * against the same handlers. It keeps the properties the consumers must cope with in AWS: PutEvents returns
 * before delivery, delivery is at least once, a failing target is retried, then dead-lettered.
 *
 * This file holds delivery: rules, targets, retries, dead letters, injected faults and the concurrency cap.
 * What PutEvents accepts, and the event it makes of an entry, is in put-events.ts.
 */

/** The Lambda handler invoked with the EventBridge event. */
export type EventTarget = (event: BusEvent) => Promise<void>;

/** Test hooks. Read when an event is accepted, so changing them never affects deliveries already under way. */
export interface DeliveryFaults {
  /** Deliver every event twice, as at-least-once delivery may. */
  duplicate?: boolean;
  /** Fail the first delivery attempt of every event (the target is not invoked), so it is retried. */
  dropFirstAttempt?: boolean;
  /** Fail every attempt to these targets (not invoked), so their events end in `deadLetters`, as an outage would. */
  failTargets?: ReadonlyArray<RuleDefinition['target']>;
}

export interface LocalEventBusOptions {
  /** Delivery attempts per event and rule before it goes to `deadLetters`. Default 4. */
  maxAttempts?: number;
  /** Wait between attempts. Default 10 ms. */
  retryDelayMs?: number;
  faults?: DeliveryFaults;
  /**
   * Target invocations running at once, across rules, as a Lambda concurrency limit would cap
   * them. Default 8: an unbounded burst would queue every settlement in front of new holds.
   */
  maxConcurrentInvocations?: number;
}

export interface DeadLetter {
  rule: string;
  event: BusEvent;
  error: string;
}

export interface Delivery {
  rule: string;
  eventId: string;
}

interface CompiledRule {
  id: string;
  matches: EventMatcher;
  targetName: RuleDefinition['target'];
  target: EventTarget | undefined;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** At most `limit` tasks at once; the rest wait their turn in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class LocalEventBus {
  /** Deliveries that failed every attempt. */
  readonly deadLetters: DeadLetter[] = [];
  /** Successful deliveries, one per target invocation that resolved. */
  readonly delivered: Delivery[] = [];

  private readonly rules: readonly CompiledRule[];
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly region: string;
  private faults: DeliveryFaults;
  private failPutEvents = false;
  private readonly disabledTargets = new Set<RuleDefinition['target']>();
  private closed = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly invocations: Semaphore;

  constructor(
    rules: readonly RuleDefinition[],
    targets: Partial<Record<RuleDefinition['target'], EventTarget>>,
    options: LocalEventBusOptions = {},
  ) {
    const maxAttempts = options.maxAttempts ?? 4;
    const retryDelayMs = options.retryDelayMs ?? 10;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new Error(`maxAttempts must be an integer >= 1, got ${maxAttempts}`);
    }
    if (!Number.isFinite(retryDelayMs) || retryDelayMs < 0) {
      throw new Error(`retryDelayMs must be a finite number >= 0, got ${retryDelayMs}`);
    }
    const concurrency = options.maxConcurrentInvocations ?? 8;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`maxConcurrentInvocations must be an integer >= 1, got ${concurrency}`);
    }
    this.invocations = new Semaphore(concurrency);
    const ids = new Set<string>();
    this.rules = rules.map((rule) => {
      if (ids.has(rule.id)) throw new Error(`Duplicate rule id "${rule.id}"`);
      ids.add(rule.id);
      let matches: EventMatcher;
      try {
        matches = compilePattern(rule.pattern);
      } catch (error) {
        throw new Error(`Rule "${rule.id}": ${errorMessage(error)}`);
      }
      return { id: rule.id, matches, targetName: rule.target, target: targets[rule.target] };
    });
    this.maxAttempts = maxAttempts;
    this.retryDelayMs = retryDelayMs;
    this.faults = { ...options.faults };
    this.region = process.env.AWS_REGION ?? 'us-east-1';
  }

  setFaults(faults: DeliveryFaults): void {
    this.faults = { ...faults };
  }

  /** While set, putEvents rejects the whole call, as a PutEvents outage would. */
  setFailPutEvents(fail: boolean): void {
    this.failPutEvents = fail;
  }

  /**
   * Test hook: while a target is disabled, events accepted for it are dropped, as when its rule is disabled in
   * AWS (a consumer that is not running). Deliveries already under way are not affected.
   */
  setTargetEnabled(target: RuleDefinition['target'], enabled: boolean): void {
    if (enabled) this.disabledTargets.delete(target);
    else this.disabledTargets.add(target);
  }

  async putEvents(entries: readonly PutEventsEntry[]): Promise<PutEventsResult> {
    if (this.closed) throw new Error('LocalEventBus is closed');
    if (this.failPutEvents) {
      throw new InternalException({
        message: 'PutEvents failed (injected by setFailPutEvents)',
        $metadata: {},
      });
    }
    checkEntryCount(entries);
    const results: PutEventsResultEntry[] = [];
    let failed = 0;
    const now = new Date();
    for (const entry of entries) {
      const outcome = eventFromEntry(entry, now, this.region);
      if (!outcome.ok) {
        failed++;
        results.push({ ErrorCode: outcome.ErrorCode, ErrorMessage: outcome.ErrorMessage });
        continue;
      }
      this.accept(outcome.event);
      results.push({ EventId: outcome.event.id });
    }
    return { FailedEntryCount: failed, Entries: results };
  }

  /**
   * Delivers the dead letters of one rule again, as redriving its DLQ does; they leave `deadLetters` (and come
   * back if they fail again). Returns how many were redriven; `drain()` waits for them.
   */
  redrive(rule: string): number {
    const target = this.rules.find((r) => r.id === rule)?.target;
    if (target === undefined) throw new Error(`No rule "${rule}" with a target`);
    const letters = this.deadLetters.filter((d) => d.rule === rule);
    for (const letter of letters) this.deadLetters.splice(this.deadLetters.indexOf(letter), 1);
    for (const letter of letters) this.track(this.deliver(rule, target, letter.event, false));
    return letters.length;
  }

  /** Resolves when every delivery started so far, retries included, has finished. */
  async drain(): Promise<void> {
    // Loop: a target may publish further events while we wait.
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
    }
  }

  /** Stops accepting events and waits for the deliveries under way. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  private accept(event: BusEvent): void {
    const faults = { ...this.faults };
    const disabled = new Set(this.disabledTargets);
    const work = (async () => {
      // Deliver on a later turn of the event loop: PutEvents returns before any target runs.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const copies = faults.duplicate ? 2 : 1;
      const deliveries: Promise<void>[] = [];
      for (const rule of this.rules) {
        if (rule.target === undefined || disabled.has(rule.targetName) || !rule.matches(event)) continue;
        const fail = faults.failTargets?.includes(rule.targetName) === true;
        for (let copy = 0; copy < copies; copy++) {
          deliveries.push(this.deliver(rule.id, rule.target, event, faults.dropFirstAttempt === true, fail));
        }
      }
      await Promise.all(deliveries);
    })();
    this.track(work);
  }

  private track(work: Promise<void>): void {
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async deliver(
    rule: string,
    target: EventTarget,
    event: BusEvent,
    dropFirst: boolean,
    failAll = false,
  ): Promise<void> {
    let lastError = 'no attempt made';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        if (failAll) throw new Error('target unavailable (injected fault)');
        if (attempt === 1 && dropFirst) throw new Error('first delivery attempt dropped (injected fault)');
        // Each invocation gets its own copy, as each Lambda invocation deserialises its own event.
        await this.invocations.run(() => target(structuredClone(event)));
        this.delivered.push({ rule, eventId: event.id });
        return;
      } catch (error) {
        lastError = errorMessage(error);
      }
      if (attempt < this.maxAttempts) await sleep(this.retryDelayMs);
    }
    this.deadLetters.push({ rule, event: structuredClone(event), error: lastError });
  }
}
