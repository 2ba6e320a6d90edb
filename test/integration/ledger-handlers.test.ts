// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { Reconciler } from '../../shared/billing/reconciler.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../../shared/domain/usage.js';
import { SpendGuardrail, scopes } from '../../shared/guardrail/spend-guardrail.js';
import { type Log, silentLog } from '../../shared/http.js';
import { ledgerKeys } from '../../shared/tables.js';
import { EmfCapture, type EmittedMetric, valuesOf } from '../support/emf.js';
import { usageRecord } from '../support/money-helpers.js';

/**
 * The guardrail and reconciler handlers as Lambda runs them, on DynamoDB Local with an injected clock: the
 * GuardrailTripped metric and the "tripped" warning say whether the gateway refuses requests today, and
 * requests settled from the outbox emit their usage metrics as billing's would.
 */

// Read at import by the tracing module: no X-Ray outside Lambda.
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
const { createGuardrailHandler, createReconcilerHandler } = await import(
  '../../shared/runtime/ledger-handlers.js'
);

const SERVICE = { service: 'tiergate' };
const CAP_MICROS = 1_000;
const capture = new EmfCapture();
let db: DynamoDBDocumentClient;
let tables: { ledger: string; requestLog: string };
let endpoint: string;

/** Log lines by level, as the handlers write them. */
function recordingLog() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, message, fields });
    };
  const log: Log = { info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

function metrics(): Metrics {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  return new Metrics({ namespace: 'Tiergate', serviceName: 'tiergate' });
}

const context = { functionName: 'test', awsRequestId: 'test', getRemainingTimeInMillis: () => 60_000 };
type Invoke = (event: unknown, ctx: typeof context) => Promise<void>;

const usageEvent = (usage: UsageRecord) => ({
  id: randomBytes(8).toString('hex'),
  source: USAGE_SOURCE,
  'detail-type': USAGE_DETAIL_TYPE,
  detail: usage,
});

beforeAll(async () => {
  endpoint = inject('dynamodbEndpoint');
  db = createDocumentClient(endpoint);
  tables = await createTables(endpoint, `h${randomBytes(6).toString('hex')}`);
  capture.start();
});
afterAll(() => capture.stop());

describe('guardrail handler', () => {
  // Five seconds into a UTC day; the late event ended two seconds before it.
  const now = Date.parse('2032-05-02T00:00:05.000Z');
  const yesterday = '2032-05-01';
  const handler = () => {
    const { log, lines } = recordingLog();
    const invoke = createGuardrailHandler(
      {
        ledgerTable: tables.ledger,
        dynamodbEndpoint: endpoint,
        dailySpendCapMicros: CAP_MICROS,
        guardrailCacheTtlMs: 0,
      },
      { logger: log as unknown as Logger, metrics: metrics(), now: () => now },
    ) as unknown as Invoke;
    return { invoke, lines };
  };
  const spend = (endedAt: string) =>
    usageRecord({
      upstreamCostMicros: CAP_MICROS,
      chargeMicros: 1,
      holdMicros: 1,
      startedAt: endedAt,
      endedAt,
    });

  it('records a past day tripped by late usage without reporting the gateway as tripped', async () => {
    const { invoke, lines } = handler();
    const emitted = await capture.during(() =>
      invoke(usageEvent(spend(`${yesterday}T23:59:58.000Z`)), context),
    );
    expect(valuesOf(emitted, 'GuardrailTripped', SERVICE)).toEqual([0]);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    // The trip is history all the same.
    const guardrail = new SpendGuardrail(db, tables.ledger, CAP_MICROS, () => now);
    expect(await guardrail.totals(yesterday, scopes.global)).toMatchObject({
      upstreamCostMicros: 1_000,
      tripped: true,
    });
  });

  it('reports a trip of today', async () => {
    const { invoke, lines } = handler();
    const emitted = await capture.during(() =>
      invoke(usageEvent(spend('2032-05-02T00:00:01.000Z')), context),
    );
    expect(valuesOf(emitted, 'GuardrailTripped', SERVICE)).toEqual([1]);
    expect(lines.filter((l) => l.level === 'warn').map((l) => [l.message, l.fields?.day])).toEqual([
      ['daily spend guardrail tripped', '2032-05-02'],
    ]);
  });
});

describe('reconciler handler', () => {
  const now = Date.parse('2033-07-10T00:00:03.000Z');
  const yesterday = '2033-07-09';
  const accountId = `acct-${randomBytes(4).toString('hex')}`;
  const keyId = 'key-rec';

  const handler = () => {
    const { log, lines } = recordingLog();
    const invoke = createReconcilerHandler(
      {
        ledgerTable: tables.ledger,
        requestLogTable: tables.requestLog,
        requestLogRetentionDays: 90,
        dynamodbEndpoint: endpoint,
        dailySpendCapMicros: CAP_MICROS,
        guardrailCacheTtlMs: 0,
        reconcileAfterMs: 0,
      },
      { log, metrics: metrics(), now: () => now },
    ) as unknown as Invoke;
    return { invoke, lines, run: () => capture.during(() => invoke({}, context)) };
  };

  /** A hold placed before midnight by a function that is gone, with `outbox` parked on it when given. */
  async function hold(requestId: string, startedAt: string, outbox?: UsageRecord): Promise<void> {
    const store = new DynamoWalletStore(db, tables.ledger);
    const placed = await store.placeHold({
      accountId,
      keyId,
      requestId,
      tier: 'tier-2',
      catalogVersion: 1,
      holdMicros: 5_000,
      startedAt,
    });
    expect(placed).toEqual({ ok: true });
    if (!outbox) return;
    await db.send(
      new UpdateCommand({
        TableName: tables.ledger,
        Key: ledgerKeys.hold(accountId, requestId),
        UpdateExpression: 'SET outbox = :usage',
        ExpressionAttributeValues: { ':usage': outbox },
      }),
    );
  }

  let first: EmittedMetric[];
  let lines: ReturnType<typeof handler>['lines'];

  beforeAll(async () => {
    await db.send(
      new PutCommand({
        TableName: tables.ledger,
        Item: { ...ledgerKeys.wallet(accountId), balanceMicros: 100_000, heldMicros: 0 },
      }),
    );
    const startedAt = `${yesterday}T23:59:50.000Z`;
    const parked = usageRecord({
      requestId: 'parked',
      accountId,
      keyId,
      tier: 'tier-2',
      status: 'upstream_error',
      inputTokens: 7,
      outputTokens: 3,
      upstreamCostMicros: CAP_MICROS,
      chargeMicros: 2_000,
      holdMicros: 5_000,
      startedAt,
      endedAt: `${yesterday}T23:59:58.000Z`,
    });
    await hold('parked', startedAt, parked);
    await hold('abandoned', startedAt);
    const h = handler();
    lines = h.lines;
    first = await h.run();
  });

  it('settles a late outbox that trips a past day without reporting the gateway as tripped', async () => {
    const report = lines.find((l) => l.message === 'reconciled')?.fields;
    expect(report).toMatchObject({ fromOutbox: 1, released: 1, failed: 0, trippedGuardrail: false });
    expect(valuesOf(first, 'GuardrailTripped', SERVICE)).toEqual([0]);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'hold released in full: request abandoned',
    ]);
    const guardrail = new SpendGuardrail(db, tables.ledger, CAP_MICROS, () => now);
    expect(await guardrail.totals(yesterday, scopes.global)).toMatchObject({ tripped: true });
  });

  it("records an outbox settlement's usage metrics once, as billing would, and none for a released hold", async () => {
    const tier = { ...SERVICE, tier: 'tier-2' };
    expect(valuesOf(first, 'Requests', tier)).toEqual([1]);
    expect(valuesOf(first, 'Errors', tier)).toEqual([1]);
    expect(valuesOf(first, 'InputTokens', tier)).toEqual([7]);
    expect(valuesOf(first, 'OutputTokens', tier)).toEqual([3]);
    expect(valuesOf(first, 'ChargeMicros', tier)).toEqual([2_000]);
    expect(valuesOf(first, 'UpstreamCostMicros', tier)).toEqual([CAP_MICROS]);
    expect(valuesOf(first, 'Requests', { ...SERVICE, surface: 'chat' })).toEqual([1]);
    // Nothing is left to settle: another run emits no usage.
    const again = await handler().run();
    expect(valuesOf(again, 'Requests', tier)).toEqual([]);
    expect(valuesOf(again, 'GuardrailTripped', SERVICE)).toEqual([0]);
  });

  it('tells of no settlement for a hold that billing settled between the read and the outbox settlement', async () => {
    const startedAt = `${yesterday}T23:59:51.000Z`;
    const usage = usageRecord({
      requestId: 'raced',
      accountId,
      keyId,
      tier: 'tier-2',
      holdMicros: 5_000,
      startedAt,
    });
    await hold('raced', startedAt, usage);
    const settlement = new Settlement(db, tables.ledger, tables.requestLog, () => now);
    const settle = settlement.settle.bind(settlement);
    // Billing's delivery settles it first; the reconciler's settlement then finds it done.
    settlement.settle = async (record) => {
      await settle(record);
      return settle(record);
    };
    const told: string[] = [];
    const reconciler = new Reconciler(
      db,
      tables.ledger,
      settlement,
      new SpendGuardrail(db, tables.ledger, CAP_MICROS, () => now),
      silentLog,
      () => now,
      (settled) => told.push(settled.requestId),
    );
    expect(await reconciler.reconcile(0)).toMatchObject({ scanned: 1, alreadySettled: 1, fromOutbox: 0 });
    expect(told).toEqual([]);
  });
});
