// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI, { type APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoGuardrailReader } from '../../shared/adapters/dynamodb/guardrail-reader.js';
import { nextUtcMidnight } from '../../shared/domain/clock.js';
import { USAGE_ARCHIVE_RETENTION_DAYS } from '../../shared/events/rules.js';
import { SpendGuardrail, scopes } from '../../shared/guardrail/spend-guardrail.js';
import { ledgerKeys } from '../../shared/tables.js';
import { rawRequest, roomInUtcDay, waitFor } from '../support/e2e-helpers.js';
import { usageRecord } from '../support/money-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** The daily spend guardrail: exact trip at the cap, idempotent counting, reset at UTC midnight. */

describe('spend guardrail against DynamoDB Local (injected clock)', () => {
  let db: DynamoDBDocumentClient;
  let ledger: string;
  const day = '2031-03-14';
  const now = Date.parse(`${day}T15:09:26.535Z`);
  const nextDay = Date.parse('2031-03-15T00:00:00.000Z');

  beforeAll(async () => {
    const endpoint = inject('dynamodbEndpoint');
    db = createDocumentClient(endpoint);
    ({ ledger } = await createTables(endpoint, `g${randomBytes(6).toString('hex')}`));
  });

  const record = (cost: number, requestId = `req-${randomBytes(6).toString('hex')}`) =>
    usageRecord({
      requestId,
      accountId: 'acct-guard',
      keyId: 'key-guard',
      tier: 'tier-3',
      upstreamCostMicros: cost,
      chargeMicros: cost + 1,
      holdMicros: cost + 10,
      startedAt: `${day}T10:00:00.000Z`,
      endedAt: `${day}T10:00:01.000Z`,
    });

  it('trips exactly at the cap, counts each request once and starts untripped the next UTC day', async () => {
    const guardrail = new SpendGuardrail(db, ledger, 1_000, () => now);
    const reader = new DynamoGuardrailReader(db, ledger, 0, () => now);

    const outcomes = [];
    for (const cost of [400, 300, 299]) outcomes.push(await guardrail.record(record(cost)));
    expect(outcomes.map((o) => [o.counted, o.trippedNow, o.day, o.today])).toEqual([
      [true, false, day, true],
      [true, false, day, true],
      [true, false, day, true],
    ]);
    expect(await reader.state()).toEqual({ tripped: false, resetsAt: nextDay });
    expect(await guardrail.totals(day, scopes.global)).toMatchObject({
      requests: 3,
      upstreamCostMicros: 999,
      tripped: false,
    });

    // One more micro-dollar reaches the cap: the day trips, once.
    const last = record(1);
    expect(await guardrail.record(last)).toEqual({ counted: true, day, today: true, trippedNow: true });
    expect(await reader.state()).toEqual({ tripped: true, resetsAt: nextDay });
    expect(nextDay).toBe(nextUtcMidnight(now));

    // The same request again (a redelivery, or the outbox after the event): not counted.
    expect(await guardrail.record(last)).toEqual({ counted: false, day, today: true, trippedNow: false });
    // Further spend the same day is counted but trips nothing new.
    expect(await guardrail.record(record(5))).toEqual({ counted: true, day, today: true, trippedNow: false });
    expect(await guardrail.totals(day, scopes.global)).toMatchObject({
      requests: 5,
      upstreamCostMicros: 1_005,
      chargeMicros: 1_005 + 5,
      tripped: true,
    });
    for (const scope of [scopes.tier('tier-3'), scopes.account('acct-guard'), scopes.key('key-guard')]) {
      expect(await guardrail.totals(day, scope), scope).toMatchObject({
        requests: 5,
        upstreamCostMicros: 1_005,
      });
    }

    // A new UTC day has new aggregates: untripped, resetting at the following midnight.
    const tomorrow = nextDay + 1;
    const nextReader = new DynamoGuardrailReader(db, ledger, 0, () => tomorrow);
    expect(await nextReader.state()).toEqual({
      tripped: false,
      resetsAt: Date.parse('2031-03-16T00:00:00.000Z'),
    });
    // The last millisecond of the tripped day is still tripped.
    const lastMs = new DynamoGuardrailReader(db, ledger, 0, () => nextDay - 1);
    expect(await lastMs.state()).toEqual({ tripped: true, resetsAt: nextDay });
  });

  it('counts a request across midnight on its end day globally, and on its start day for its account and key', async () => {
    const guardrail = new SpendGuardrail(db, ledger, 1_000_000, () => now);
    const [d1, d2] = ['2031-05-01', '2031-05-02'];
    const late = usageRecord({
      requestId: `req-${randomBytes(6).toString('hex')}`,
      accountId: 'acct-midnight',
      keyId: 'key-midnight',
      tier: 'tier-2',
      upstreamCostMicros: 300,
      chargeMicros: 400,
      holdMicros: 500,
      startedAt: `${d1}T23:59:58.000Z`,
      endedAt: `${d2}T00:00:03.000Z`,
    });
    expect(await guardrail.record(late)).toMatchObject({ counted: true, day: d2 });
    // The budget of the day it was admitted on, as the hold checks it and the request log counts it.
    for (const scope of [scopes.account('acct-midnight'), scopes.key('key-midnight')]) {
      expect(await guardrail.totals(d1, scope), scope).toMatchObject({ requests: 1, chargeMicros: 400 });
      expect(await guardrail.totals(d2, scope), scope).toMatchObject({ requests: 0, chargeMicros: 0 });
    }
    // The day's upstream spend, when it was spent.
    expect(await guardrail.totals(d2, scopes.global)).toMatchObject({ requests: 1, upstreamCostMicros: 300 });
    expect(await guardrail.totals(d1, scopes.global)).toMatchObject({ requests: 0 });
  });

  it('keeps its dedupe marker as long as the bus archives the event, so a replay is not counted twice', async () => {
    const guardrail = new SpendGuardrail(db, ledger, 1_000_000, () => now);
    const usage = record(7);
    await guardrail.record(usage);
    const marker = await db.send(
      new GetCommand({ TableName: ledger, Key: ledgerKeys.eventDedupe('guardrail', usage.requestId) }),
    );
    const keptDays = ((marker.Item?.expiresAt as number) * 1000 - now) / 86_400_000;
    expect(keptDays).toBeGreaterThan(USAGE_ARCHIVE_RETENTION_DAYS);
  });

  it('trips on a redelivery when the delivery that counted the spend failed before its trip check', async () => {
    const otherDay = '2031-04-02';
    const at = Date.parse(`${otherDay}T12:00:00.000Z`);
    const flaky = createDocumentClient(inject('dynamodbEndpoint'));
    let failQueries = 1;
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand' && failQueries-- > 0)
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        return next(args);
      },
      { step: 'initialize', name: 'throttleOnce' },
    );
    const guardrail = new SpendGuardrail(flaky, ledger, 1_000, () => at);
    const over = usageRecord({
      upstreamCostMicros: 1_000,
      startedAt: `${otherDay}T11:00:00.000Z`,
      endedAt: `${otherDay}T11:00:00.000Z`,
    });
    // The count commits, then the trip check's Query fails: the invocation fails and is retried.
    await expect(guardrail.record(over)).rejects.toThrow('Rate exceeded');
    expect(await guardrail.totals(otherDay, scopes.global)).toMatchObject({
      upstreamCostMicros: 1_000,
      tripped: false,
    });
    // The retry is not counted again, but it trips the day.
    expect(await guardrail.record(over)).toEqual({
      counted: false,
      day: otherDay,
      today: true,
      trippedNow: true,
    });
    expect(await new DynamoGuardrailReader(db, ledger, 0, () => at).state()).toMatchObject({ tripped: true });
    expect(await guardrail.totals(otherDay, scopes.global)).toMatchObject({
      requests: 1,
      upstreamCostMicros: 1_000,
    });
  });

  it('trips a past day on late usage, telling it is not today, which stays untripped', async () => {
    // Just after UTC midnight; the request ended just before it.
    const at = Date.parse('2031-05-02T00:00:01.000Z');
    const guardrail = new SpendGuardrail(db, ledger, 1_000, () => at);
    const late = usageRecord({
      upstreamCostMicros: 1_000,
      startedAt: '2031-05-01T23:59:58.000Z',
      endedAt: '2031-05-01T23:59:59.999Z',
    });
    expect(await guardrail.record(late)).toEqual({
      counted: true,
      day: '2031-05-01',
      today: false,
      trippedNow: true,
    });
    expect(await guardrail.totals('2031-05-01', scopes.global)).toMatchObject({ tripped: true });
    expect(await new DynamoGuardrailReader(db, ledger, 0, () => at).state()).toMatchObject({
      tripped: false,
    });
  });

  it('does not trip one micro-dollar below the cap', async () => {
    const otherDay = '2031-04-01';
    const at = Date.parse(`${otherDay}T12:00:00.000Z`);
    const guardrail = new SpendGuardrail(db, ledger, 1_000, () => at);
    const below = usageRecord({
      upstreamCostMicros: 999,
      startedAt: `${otherDay}T11:00:00.000Z`,
      endedAt: `${otherDay}T11:00:00.000Z`,
    });
    expect(await guardrail.record(below)).toEqual({
      counted: true,
      day: otherDay,
      today: true,
      trippedNow: false,
    });
    expect(await new DynamoGuardrailReader(db, ledger, 0, () => at).state()).toEqual({
      tripped: false,
      resetsAt: Date.parse('2031-04-02T00:00:00.000Z'),
    });
  });
});

describe('spend guardrail through the gateway', () => {
  let runtime: LocalRuntime;

  beforeAll(async () => {
    runtime = await startTestRuntime({
      dailySpendCapUsd: 0.000001,
      reconcileEveryMs: 0,
      env: { GUARDRAIL_CACHE_TTL_MS: '50' },
    });
  });
  afterAll(async () => {
    await runtime?.close();
  });
  // The gateway's clock is the real one: the cap is spent and then enforced on the same UTC day.
  beforeEach(() => roomInUtcDay(30_000));

  it('answers 503 daily_spend_limit with retry-after until UTC midnight once the cap is spent', async () => {
    const body = { model: 'tier-1', messages: [{ role: 'user', content: 'guardrail tokens:5' }] };
    const first = await rawRequest(runtime, body);
    expect(first.status).toBe(200);
    await first.text();
    await runtime.bus.drain();

    const state = await admin(runtime, 'GET', '/admin/guardrail');
    expect(state.json).toMatchObject({ capMicros: 1, tripped: true, requests: 1 });
    expect(Number(state.json.spendMicros)).toBeGreaterThanOrEqual(1);

    // The gateway reads the trip within its (50 ms) cache lifetime.
    let passed = 1;
    const refused = await waitFor(
      async () => {
        const res = await rawRequest(runtime, body);
        if (res.status === 200) {
          passed++;
          await res.text();
          return undefined;
        }
        return res;
      },
      { timeoutMs: 3_000, intervalMs: 60, what: 'a refused request' },
    );
    const at = Date.now();
    expect(refused.status).toBe(503);
    const json = assertValid(validateError, await refused.json()) as {
      error: { type: string; code: string; message: string; param: unknown };
    };
    expect(json.error.code).toBe('daily_spend_limit');
    expect(json.error.type).toBe('server_error');
    expect(refused.headers.get('x-request-id')).toBeTruthy();
    const retryAfter = refused.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(Math.ceil((nextUtcMidnight(at) - at) / 1000) + 1);

    // Streaming requests and the official SDK see the same refusal.
    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: 'tier-1', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as APIError).status).toBe(503);
    expect((err as APIError).code).toBe('daily_spend_limit');

    // Refused requests hold nothing and are not counted.
    await runtime.bus.drain();
    const account = await admin(runtime, 'GET', `/admin/accounts/${runtime.accountId}`);
    expect(account.json.heldMicros).toBe(0);
    expect((await admin(runtime, 'GET', '/admin/guardrail')).json.requests).toBe(passed);
  });
});
