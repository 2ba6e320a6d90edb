// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { Reconciler } from '../../shared/billing/reconciler.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { silentLog } from '../../shared/http.js';
import { ledgerKeys } from '../../shared/tables.js';
import {
  chargeFor,
  createAccount,
  holdFor,
  logItems,
  openHolds,
  uniqueId,
  walletOf,
} from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * When PutEvents fails the completions function parks the usage on the hold (the outbox) and the
 * reconciler settles it later; a hold whose function died is released in full as abandoned.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, env: { RECONCILE_AFTER_MS: '0' } });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterEach(() => {
  runtime.bus.setFailPutEvents(false);
});
afterAll(async () => {
  await runtime?.close();
});

interface GuardrailView {
  spendMicros: number;
  chargeMicros: number;
  requests: number;
}

async function guardrail(): Promise<GuardrailView> {
  const res = await admin(runtime, 'GET', '/admin/guardrail');
  expect(res.status).toBe(200);
  const { spendMicros, chargeMicros, requests } = res.json as unknown as GuardrailView;
  return { spendMicros, chargeMicros, requests };
}

describe('outbox', () => {
  it('parks the usage on the hold when PutEvents fails; the reconciler settles it once', async () => {
    const credit = 200_000;
    const { accountId, apiKey } = await createAccount(runtime, 'outbox', credit);
    const body = JSON.stringify({
      model: 'tier-1',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'outbox tokens:9' }],
    });
    const hold = holdFor('tier-1', body, 100);
    const guardBefore = await guardrail();

    runtime.bus.setFailPutEvents(true);
    const res = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body,
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id') ?? '';
    const completion = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(completion.usage.completion_tokens).toBe(9);
    const expectedCharge = chargeFor(
      'tier-1',
      completion.usage.prompt_tokens,
      completion.usage.completion_tokens,
    );
    await runtime.bus.drain();

    // Nothing was settled: the hold is still open, carrying the usage; the balance still lacks the hold.
    const holds = await openHolds(db, runtime.tables.ledger, accountId);
    expect(holds).toHaveLength(1);
    const parked = holds[0] as Record<string, unknown>;
    expect(parked.sk).toBe(`HOLD#${requestId}`);
    expect(parked.holdMicros).toBe(hold);
    const outbox = parked.outbox as Record<string, unknown> | undefined;
    expect(outbox).toBeDefined();
    expect(outbox?.requestId).toBe(requestId);
    expect(outbox?.chargeMicros).toBe(expectedCharge);
    expect(outbox?.status).toBe('ok');
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit - hold,
      heldMicros: hold,
    });
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toEqual([]);
    expect(await guardrail()).toEqual(guardBefore);

    runtime.bus.setFailPutEvents(false);
    await runtime.runReconciler();
    await runtime.bus.drain();

    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(log).toHaveLength(1);
    const item = log[0] as Record<string, unknown>;
    expect(item.requestId).toBe(requestId);
    expect(item.status).toBe('ok');
    expect(item.chargeMicros).toBe(expectedCharge);
    expect(item.inputTokens).toBe(completion.usage.prompt_tokens);
    expect(item.outputTokens).toBe(completion.usage.completion_tokens);
    const wallet = await walletOf(db, runtime.tables.ledger, accountId);
    expect(wallet).toEqual({ balanceMicros: credit - expectedCharge, heldMicros: 0 });
    const guardAfter = await guardrail();
    expect(guardAfter).toEqual({
      spendMicros: guardBefore.spendMicros + Number(item.upstreamCostMicros),
      chargeMicros: guardBefore.chargeMicros + expectedCharge,
      requests: guardBefore.requests + 1,
    });

    // A second pass finds nothing left to do.
    await runtime.runReconciler();
    await runtime.bus.drain();
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual(wallet);
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toEqual(log);
    expect(await guardrail()).toEqual(guardAfter);
  });

  it('settles a streamed request from the outbox too', async () => {
    const credit = 200_000;
    const { accountId, apiKey } = await createAccount(runtime, 'outbox-stream', credit);
    const body = JSON.stringify({
      model: 'tier-1',
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'outbox stream tokens:7' }],
    });
    runtime.bus.setFailPutEvents(true);
    const res = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body,
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const usageLine = text.split('\n').find((l) => l.includes('"usage":{'));
    const usage = (
      JSON.parse((usageLine ?? '').replace(/^data: /, '')) as {
        usage: { prompt_tokens: number; completion_tokens: number };
      }
    ).usage;
    const holds = await openHolds(db, runtime.tables.ledger, accountId);
    expect(holds).toHaveLength(1);
    expect((holds[0] as Record<string, unknown>).outbox).toBeDefined();

    runtime.bus.setFailPutEvents(false);
    await runtime.runReconciler();
    await runtime.bus.drain();
    const charge = chargeFor('tier-1', usage.prompt_tokens, usage.completion_tokens);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit - charge,
      heldMicros: 0,
    });
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(log.map((i) => [i.status, i.chargeMicros, i.stream])).toEqual([['ok', charge, true]]);
  });
});

describe('the reconciler when the guardrail fails', () => {
  it("counts an outbox's spend on a later run: the hold is settled only once the spend is counted", async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'outbox-guardrail', 200_000);
    runtime.bus.setFailPutEvents(true);
    const res = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ model: 'tier-1', messages: [{ role: 'user', content: 'outbox tokens:5' }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await runtime.bus.drain();
    runtime.bus.setFailPutEvents(false);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toHaveLength(1);
    const guardBefore = await guardrail();

    // The guardrail's write fails once (throttled, say), as the first run reaches it.
    let failures = 1;
    const guardrailStore = new SpendGuardrail(db, runtime.tables.ledger, Number.MAX_SAFE_INTEGER);
    const record = guardrailStore.record.bind(guardrailStore);
    guardrailStore.record = async (usage) => {
      if (failures-- > 0) throw new Error('ProvisionedThroughputExceededException');
      return record(usage);
    };
    const settlement = new Settlement(db, runtime.tables.ledger, runtime.tables.requestLog);
    const reconciler = new Reconciler(db, runtime.tables.ledger, settlement, guardrailStore, silentLog);

    expect(await reconciler.reconcile(0)).toMatchObject({ failed: 1, fromOutbox: 0 });
    // Nothing was settled without its spend: the next run still finds the hold, and does both.
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toHaveLength(1);
    expect(await reconciler.reconcile(0)).toMatchObject({ failed: 0, fromOutbox: 1 });
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    const [item] = await logItems(db, runtime.tables.requestLog, accountId);
    expect(item).toMatchObject({ status: 'ok' });
    expect(await guardrail()).toEqual({
      spendMicros: guardBefore.spendMicros + Number(item?.upstreamCostMicros),
      chargeMicros: guardBefore.chargeMicros + Number(item?.chargeMicros),
      requests: guardBefore.requests + 1,
    });
  });
});

describe('abandoned holds', () => {
  it('releases a hold whose function died in full and logs the request as abandoned', async () => {
    const credit = 50_000;
    const { accountId, keyId } = await createAccount(runtime, 'abandoned', credit);
    const requestId = uniqueId('dead');
    const store = new DynamoWalletStore(db, runtime.tables.ledger);
    const result = await store.placeHold({
      accountId,
      keyId,
      requestId,
      tier: 'tier-2',
      catalogVersion: 1,
      holdMicros: 12_345,
      startedAt: new Date(Date.now() - 1_000).toISOString(),
    });
    expect(result).toEqual({ ok: true });
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit - 12_345,
      heldMicros: 12_345,
    });
    const guardBefore = await guardrail();

    await runtime.runReconciler();
    await runtime.bus.drain();

    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit,
      heldMicros: 0,
    });
    const { Item } = await db.send(
      new GetCommand({
        TableName: runtime.tables.ledger,
        Key: ledgerKeys.hold(accountId, requestId),
        ConsistentRead: true,
      }),
    );
    expect(Item).toBeUndefined();
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      requestId,
      keyId,
      status: 'abandoned',
      chargeMicros: 0,
      holdMicros: 12_345,
      tier: 'tier-2',
    });
    // No spend was counted for a request that produced nothing.
    expect((await guardrail()).spendMicros).toBe(guardBefore.spendMicros);

    // Idempotent: another pass changes nothing.
    await runtime.runReconciler();
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit,
      heldMicros: 0,
    });
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toHaveLength(1);
  });
});
