// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryFaults } from '../../local/event-bus.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { createAccount, logItems, openHolds, sumOf, walletOf } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * At-least-once delivery: a usage event delivered twice, or retried after a failed first attempt,
 * settles and counts exactly as a single delivery does; a malformed event is dead-lettered by both
 * consumers and changes nothing.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

const K = 6;
const CREDIT_MICROS = 1_000_000;
/** The same body every time, so every request's charge is the same. */
const BODY = JSON.stringify({
  model: 'tier-2',
  max_tokens: 50,
  messages: [{ role: 'user', content: 'delivery tokens:12' }],
});
const STREAM_BODY = JSON.stringify({
  model: 'tier-2',
  max_tokens: 50,
  stream: true,
  messages: [{ role: 'user', content: 'delivery tokens:12' }],
});

interface Guardrail {
  spendMicros: number;
  chargeMicros: number;
  requests: number;
  byTier: Record<string, { spendMicros: number; chargeMicros: number; requests: number }>;
}

async function guardrail(): Promise<Guardrail> {
  const res = await admin(runtime, 'GET', '/admin/guardrail');
  expect(res.status).toBe(200);
  return res.json as unknown as Guardrail;
}

interface Scenario {
  accountId: string;
  requestIds: string[];
  perRequestCharge: number[];
  perRequestCost: number[];
  balanceDecrease: number;
  guardrailDelta: { spendMicros: number; chargeMicros: number; requests: number; tierRequests: number };
  log: Array<Record<string, unknown>>;
}

/** K requests (half streamed) from a fresh account under the given delivery faults. */
async function runScenario(name: string, faults: DeliveryFaults): Promise<Scenario> {
  const { accountId, apiKey } = await createAccount(runtime, name, CREDIT_MICROS);
  await runtime.bus.drain();
  const before = await guardrail();
  runtime.bus.setFaults(faults);
  const requestIds: string[] = [];
  for (let i = 0; i < K; i++) {
    const res = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: i % 2 === 0 ? BODY : STREAM_BODY,
    });
    await res.text();
    expect(res.status).toBe(200);
    requestIds.push(res.headers.get('x-request-id') ?? '');
  }
  await runtime.bus.drain();
  runtime.bus.setFaults({});
  const after = await guardrail();
  const wallet = await walletOf(db, runtime.tables.ledger, accountId);
  expect(wallet.heldMicros).toBe(0);
  expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
  const log = await logItems(db, runtime.tables.requestLog, accountId);
  const byId = new Map(log.map((i) => [String(i.requestId), i]));
  return {
    accountId,
    requestIds,
    perRequestCharge: requestIds.map((id) => Number(byId.get(id)?.chargeMicros ?? Number.NaN)),
    perRequestCost: requestIds.map((id) => Number(byId.get(id)?.upstreamCostMicros ?? Number.NaN)),
    balanceDecrease: CREDIT_MICROS - wallet.balanceMicros,
    guardrailDelta: {
      spendMicros: after.spendMicros - before.spendMicros,
      chargeMicros: after.chargeMicros - before.chargeMicros,
      requests: after.requests - before.requests,
      tierRequests: (after.byTier['tier-2']?.requests ?? 0) - (before.byTier['tier-2']?.requests ?? 0),
    },
    log,
  };
}

let baseline: Scenario;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, bus: { retryDelayMs: 5 } });
  db = createDocumentClient(runtime.dynamodbEndpoint);
  baseline = await runScenario('delivery-baseline', {});
});
afterEach(() => {
  runtime.bus.setFaults({});
});
afterAll(async () => {
  await runtime?.close();
});

function expectSameAsSingleDelivery(s: Scenario): void {
  expect(s.log).toHaveLength(K);
  expect(new Set(s.log.map((i) => i.requestId))).toEqual(new Set(s.requestIds));
  expect(s.log.every((i) => i.status === 'ok')).toBe(true);
  // Identical requests: the same charge and cost as under single delivery, request by request.
  expect(s.perRequestCharge).toEqual(baseline.perRequestCharge);
  expect(s.perRequestCost).toEqual(baseline.perRequestCost);
  expect(s.balanceDecrease).toBe(sumOf(s.log, 'chargeMicros'));
  expect(s.balanceDecrease).toBe(baseline.balanceDecrease);
  expect(s.guardrailDelta).toEqual({
    spendMicros: sumOf(s.log, 'upstreamCostMicros'),
    chargeMicros: sumOf(s.log, 'chargeMicros'),
    requests: K,
    tierRequests: K,
  });
  expect(s.guardrailDelta).toEqual(baseline.guardrailDelta);
}

describe('usage event delivery', () => {
  it('single delivery (baseline) bills each request once', () => {
    expect(baseline.perRequestCharge.every((c) => Number.isInteger(c) && c > 0)).toBe(true);
    expectSameAsSingleDelivery(baseline);
  });

  it('bills and counts a request once when every event is delivered twice', async () => {
    const deliveredBefore = runtime.bus.delivered.length;
    const deadBefore = runtime.bus.deadLetters.length;
    const s = await runScenario('delivery-duplicate', { duplicate: true });
    // Both consumers really got every event twice, and accepted the second copy quietly.
    expect(runtime.bus.delivered.length - deliveredBefore).toBe(4 * K);
    expect(runtime.bus.deadLetters.length).toBe(deadBefore);
    expectSameAsSingleDelivery(s);
  });

  it('bills and counts a request once when the first delivery attempt fails and is retried', async () => {
    const deliveredBefore = runtime.bus.delivered.length;
    const deadBefore = runtime.bus.deadLetters.length;
    const s = await runScenario('delivery-retry', { dropFirstAttempt: true });
    expect(runtime.bus.delivered.length - deliveredBefore).toBe(2 * K);
    expect(runtime.bus.deadLetters.length).toBe(deadBefore);
    expectSameAsSingleDelivery(s);
  });

  it('dead-letters a malformed usage event in both consumers and changes nothing', async () => {
    await runtime.bus.drain();
    const before = await guardrail();
    const wallet = await walletOf(db, runtime.tables.ledger, runtime.accountId);
    const log = await logItems(db, runtime.tables.requestLog, runtime.accountId);
    const deadBefore = runtime.bus.deadLetters.length;
    const deliveredBefore = runtime.bus.delivered.length;

    const out = await runtime.bus.putEvents([
      { Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify({ bogus: true }) },
    ]);
    expect(out.FailedEntryCount).toBe(0);
    const eventId = out.Entries[0]?.EventId;
    expect(eventId).toBeTruthy();
    await runtime.bus.drain();

    const dead = runtime.bus.deadLetters.slice(deadBefore);
    expect(dead.map((d) => d.rule).sort()).toEqual(['BillingUsage', 'GuardrailUsage']);
    expect(dead.every((d) => d.event.id === eventId)).toBe(true);
    expect(dead.every((d) => /malformed/i.test(d.error))).toBe(true);
    expect(runtime.bus.delivered.length).toBe(deliveredBefore);
    expect(await guardrail()).toEqual(before);
    expect(await walletOf(db, runtime.tables.ledger, runtime.accountId)).toEqual(wallet);
    expect(await logItems(db, runtime.tables.requestLog, runtime.accountId)).toEqual(log);
  });
});
