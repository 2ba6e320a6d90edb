import { randomBytes } from 'node:crypto';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  DynamoWalletStore,
  holdAgeKey,
  holdsIndexPartition,
} from '../../shared/adapters/dynamodb/wallet-store.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../../shared/domain/usage.js';
import { SURFACE_METRICS, TIER_METRICS } from '../../shared/runtime/metric-names.js';
import { ledgerKeys } from '../../shared/tables.js';
import { EmfCapture, type EmittedMetric, valuesOf } from '../support/emf.js';
import { createAccount } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';
import { removeTestOutput, testStack } from './support.js';
import { alarmMetrics, dashboardMetrics, type ReferencedMetric } from './template-metrics.js';
import { topicAcceptsAlarm } from './topic-policy.js';

/**
 * The contract between the template and the code: every metric an alarm or a dashboard widget reads in the
 * gateway's own namespace must be one the code really emits, with exactly that dimension set. The stack is
 * synthesized as for `cdk deploy`; the EMF is what the real handler modules print (the local runtime, metrics
 * on) through normal traffic, error responses, reconciler runs, a failing hold, both probes and a guardrail
 * trip on the reconciler's outbox path.
 */

const NAMESPACE = 'Tiergate';
const SERVICE = { service: 'tiergate' };

let template: Template;
let referenced: ReferencedMetric[];
let runtime: LocalRuntime;
const capture = new EmfCapture();
/** The metrics each stage of the scenario emitted. */
const stage: Record<string, EmittedMetric[]> = {};

async function complete(
  model: string,
  content: string,
  extra: Record<string, unknown> = {},
): Promise<Response> {
  const res = await fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runtime.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra }),
  });
  await res.text();
  return res;
}

/** One Messages request, as Claude Code would send it. */
async function message(model: string, stream: boolean): Promise<Response> {
  const res = await fetch(`${runtime.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': runtime.apiKey,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'Hello' }] }),
  });
  await res.text();
  return res;
}

/** A usage event for the guardrail (and billing, which finds no hold and ignores it), as a request would end. */
function usageEvent(): UsageRecord {
  const at = new Date().toISOString();
  return {
    requestId: randomBytes(12).toString('hex'),
    accountId: runtime.accountId,
    keyId: 'key_contract',
    tier: 'tier-1',
    catalogVersion: 1,
    model: 'openai/gpt-4o-mini',
    status: 'ok',
    inputTokens: 1,
    outputTokens: 1,
    usageSource: 'upstream',
    upstreamCostMicros: 1,
    chargeMicros: 1,
    holdMicros: 1,
    ttftMs: 1,
    latencyMs: 1,
    startedAt: at,
    endedAt: at,
    stream: false,
    surface: 'chat',
  };
}

/** The probe function as the state machine runs it: each task in order, the state passed along. */
async function runLambdaProbe(): Promise<void> {
  Object.assign(process.env, {
    PROBE_PUBLIC_URL: runtime.url,
    PROBE_ADMIN_URL: runtime.adminUrl,
    TIERGATE_ADMIN_TOKEN: runtime.adminToken,
  });
  const probe = (await import('../../lambdas/probe/handler.js')).handler as unknown as (
    event: unknown,
    context: unknown,
  ) => Promise<unknown>;
  const context = { functionName: 'probe', awsRequestId: 'contract', getRemainingTimeInMillis: () => 60_000 };
  let state: unknown = { startedAt: new Date().toISOString(), steps: [] };
  for (const step of ['signUp', 'complete', 'messages', 'verifyBilling', 'cleanup', 'record']) {
    state = await probe({ step, state }, context);
  }
}

beforeAll(async () => {
  const { stack } = testStack();
  template = Template.fromStack(stack);
  referenced = [...alarmMetrics(template), ...dashboardMetrics(template)].filter(
    (metric) => metric.namespace === NAMESPACE,
  );

  runtime = await startTestRuntime({
    reconcileEveryMs: 0,
    // Far above the scenario's traffic, far below the one expensive request that trips it.
    dailySpendCapUsd: 0.01,
    demoUpstream: { ttftMs: 1, tokensPerSecond: 0 },
    env: { POWERTOOLS_METRICS_DISABLED: 'false', RECONCILE_AFTER_MS: '0', GUARDRAIL_CACHE_TTL_MS: '0' },
  });
  const db = createDocumentClient(runtime.dynamodbEndpoint);
  const { bus } = runtime;
  capture.start();
  try {
    stage.traffic = await capture.during(async () => {
      for (const tier of TIER_IDS) {
        expect((await complete(tier, 'Hello')).status).toBe(200);
        const streamed = await complete(tier, 'Hello', {
          stream: true,
          stream_options: { include_usage: true },
        });
        expect(streamed.status).toBe(200);
      }
      await bus.drain();
    });
    stage.messages = await capture.during(async () => {
      expect((await message('claude-haiku-4-5', false)).status).toBe(200);
      expect((await message('claude-sonnet-4-5', true)).status).toBe(200);
      await bus.drain();
    });
    stage.probe = await capture.during(async () => {
      expect((await runtime.runProbe()).result.passed).toBe(true);
    });
    stage.lambdaProbe = await capture.during(runLambdaProbe);
    stage.errors = await capture.during(async () => {
      runtime.upstream?.injectFault({ fault: { kind: 'status', status: 500 } });
      expect((await complete('tier-2', 'Hello')).status).toBe(502);
      runtime.upstream?.clearFaults();
      expect((await complete('no-such-tier', 'Hello')).status).toBe(404);
      await bus.drain();
    });
    stage.reconcile = await capture.during(() => runtime.runReconciler());
    // A hold the reconciler cannot settle (no amount, no start time): it fails on every run until fixed.
    const corrupt = { ...ledgerKeys.hold(runtime.accountId, 'corrupt') };
    await db.send(
      new PutCommand({
        TableName: runtime.tables.ledger,
        Item: {
          ...corrupt,
          gsi1pk: holdsIndexPartition('corrupt'),
          gsi1sk: holdAgeKey('2000-01-01T00:00:00.000Z', 'corrupt'),
        },
      }),
    );
    stage.failingHold = await capture.during(() => runtime.runReconciler());
    await db.send(new DeleteCommand({ TableName: runtime.tables.ledger, Key: corrupt }));
    // PutEvents fails, so the expensive request's usage is parked on its hold; the reconciler then settles it
    // and that spend trips the guardrail: the trip happens on the reconciler's outbox path.
    bus.setFailPutEvents(true);
    const expensive = await complete('tier-3', 'tokens:3000', { max_tokens: 3000 });
    bus.setFailPutEvents(false);
    expect(expensive.status).toBe(200);
    stage.outboxTrip = await capture.during(async () => {
      await runtime.runReconciler();
      await bus.drain();
    });
    stage.tripped = await capture.during(async () => {
      expect((await complete('tier-1', 'Hello')).status).toBe(503);
      await runtime.runReconciler();
      // A request admitted before the trip ends now: the guardrail function counts it.
      await bus.putEvents([
        { Source: USAGE_SOURCE, DetailType: USAGE_DETAIL_TYPE, Detail: JSON.stringify(usageEvent()) },
      ]);
      await bus.drain();
    });
    // Late usage the wallet cannot cover: a hold the reconciler released, the wallet spent meanwhile, then the
    // request's usage event arriving after all (a DLQ redrive): the shortfall is recorded as a debt.
    stage.debt = await capture.during(async () => {
      const { accountId } = await createAccount(runtime, 'debtor', 1_000);
      const wallet = new DynamoWalletStore(db, runtime.tables.ledger);
      const startedAt = '2000-01-01T00:00:00.000Z';
      const hold = { accountId, keyId: 'key_late', tier: 'tier-1' as const, catalogVersion: 1 };
      expect(await wallet.placeHold({ ...hold, requestId: 'late', holdMicros: 1_000, startedAt })).toEqual({
        ok: true,
      });
      await runtime.runReconciler(); // releases it in full, leaving a release record
      const now = new Date().toISOString();
      expect(
        await wallet.placeHold({ ...hold, requestId: 'spend', holdMicros: 995, startedAt: now }),
      ).toEqual({ ok: true });
      const late = {
        ...usageEvent(),
        ...hold,
        requestId: 'late',
        startedAt,
        holdMicros: 1_000,
        chargeMicros: 1_000,
      };
      await bus.putEvents([
        { Source: USAGE_SOURCE, DetailType: USAGE_DETAIL_TYPE, Detail: JSON.stringify(late) },
      ]);
      await bus.drain();
    });
  } finally {
    capture.stop();
  }
});

afterAll(async () => {
  capture.stop();
  await runtime?.close();
  removeTestOutput();
});

const describeDimensions = (dimensions: Record<string, string | undefined>): string =>
  `{${Object.entries(dimensions)
    .map(([key, value]) => (value === undefined ? key : `${key}=${value}`))
    .sort()
    .join(', ')}}`;

/** Whether an emitted metric is the referenced one: same name, the same dimension keys and the same values. */
function emits(emitted: EmittedMetric, wanted: ReferencedMetric): boolean {
  if (emitted.namespace !== wanted.namespace || emitted.name !== wanted.name) return false;
  const keys = Object.keys(emitted.dimensions).sort();
  const wantedKeys = Object.keys(wanted.dimensions).sort();
  if (keys.join() !== wantedKeys.join()) return false;
  return wantedKeys.every(
    (key) => wanted.dimensions[key] === undefined || wanted.dimensions[key] === emitted.dimensions[key],
  );
}

describe('what the alarms and the dashboard read is what the code emits', () => {
  it('finds the metrics of every alarm and widget in the template', () => {
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    // Per tier: 8 metrics on the dashboard, 2 in the error-rate alarm.
    expect(referenced.length).toBeGreaterThan(TIER_IDS.length * 10);
    // The API-surface row reads each surface's series.
    for (const surface of ['chat', 'messages']) {
      expect(referenced).toContainEqual(
        expect.objectContaining({ name: 'Requests', dimensions: { service: 'tiergate', surface } }),
      );
    }
    // A SEARCH names dimension keys only: the errors-by-code graph reads every code.
    expect(referenced).toContainEqual(
      expect.objectContaining({ name: 'ClientErrors', dimensions: { code: undefined, service: undefined } }),
    );
  });

  it('emits every referenced metric with exactly its dimension set', () => {
    const all = Object.values(stage).flat();
    const missing = new Set<string>();
    for (const wanted of referenced) {
      if (!all.some((emitted) => emits(emitted, wanted))) {
        const seen = [
          ...new Set(all.filter((m) => m.name === wanted.name).map((m) => describeDimensions(m.dimensions))),
        ];
        missing.add(
          `${wanted.name}${describeDimensions(wanted.dimensions)} (read by ${wanted.where}); emitted as ${seen.join(' ') || 'nothing'}`,
        );
      }
    }
    expect([...missing].sort()).toEqual([]);
  });

  it("sends every alarm's actions to a topic that lets CloudWatch publish with its key", () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    for (const [id, alarm] of Object.entries(alarms)) {
      const actions = ['AlarmActions', 'OKActions', 'InsufficientDataActions'].flatMap(
        (field) => (alarm.Properties[field] ?? []) as Array<{ Ref?: string }>,
      );
      expect(actions.length, id).toBeGreaterThan(0);
      for (const action of actions)
        expect(topicAcceptsAlarm(template, action, alarm.Properties), id).toEqual([]);
    }
  });
});

describe('alarm signals', () => {
  it('emits every per-tier metric of a request with its tier', () => {
    for (const tier of TIER_IDS) {
      for (const name of Object.values(TIER_METRICS)) {
        expect(valuesOf(stage.traffic ?? [], name, { ...SERVICE, tier }).length, `${name} ${tier}`).toBe(2);
      }
    }
    expect(valuesOf(stage.errors ?? [], 'Errors', { ...SERVICE, tier: 'tier-2' })).toEqual([1]);
  });

  it('emits every per-surface metric of a request with its surface, apart from its tier', () => {
    const chat = (name: string) => valuesOf(stage.traffic ?? [], name, { ...SERVICE, surface: 'chat' });
    const messages = (name: string) =>
      valuesOf(stage.messages ?? [], name, { ...SERVICE, surface: 'messages' });
    for (const name of Object.values(SURFACE_METRICS)) {
      expect(chat(name).length, `chat ${name}`).toBe(TIER_IDS.length * 2);
      expect(messages(name).length, `messages ${name}`).toBe(2);
    }
    expect(messages('Requests')).toEqual([1, 1]);
    expect(messages('Errors')).toEqual([0, 0]);
    expect(valuesOf(stage.traffic ?? [], 'Requests', { ...SERVICE, surface: 'messages' })).toEqual([]);
    expect(valuesOf(stage.messages ?? [], 'Requests', { ...SERVICE, surface: 'chat' })).toEqual([]);
    // The Messages requests count on their tiers too: haiku → tier-1, sonnet → tier-2.
    expect(valuesOf(stage.messages ?? [], 'Requests', { ...SERVICE, tier: 'tier-1' })).toEqual([1]);
    expect(valuesOf(stage.messages ?? [], 'Requests', { ...SERVICE, tier: 'tier-2' })).toEqual([1]);
    // No series mixes both dimensions: each blob has one of them.
    const all = Object.values(stage).flat();
    expect(all.filter((m) => 'tier' in m.dimensions && 'surface' in m.dimensions)).toEqual([]);
  });

  it('counts 5xx responses in total and by code', () => {
    expect(valuesOf(stage.errors ?? [], 'ServerErrors', SERVICE)).toEqual([1]);
    expect(valuesOf(stage.errors ?? [], 'ServerErrors', { ...SERVICE, code: 'upstream_error' })).toEqual([1]);
    expect(valuesOf(stage.errors ?? [], 'ClientErrors', { ...SERVICE, code: 'model_not_found' })).toEqual([
      1,
    ]);
    expect(valuesOf(stage.tripped ?? [], 'ServerErrors', { ...SERVICE, code: 'daily_spend_limit' })).toEqual([
      1,
    ]);
  });

  it('reports the guardrail as not tripped on every guardrail invocation and reconciler run before the trip', () => {
    expect(valuesOf(stage.traffic ?? [], 'GuardrailTripped', SERVICE)).toEqual(
      new Array(TIER_IDS.length * 2).fill(0),
    );
    expect(valuesOf(stage.reconcile ?? [], 'GuardrailTripped', SERVICE)).toEqual([0]);
  });

  it('reports a trip on the reconciler outbox path, and keeps reporting it while requests are refused', () => {
    expect(valuesOf(stage.outboxTrip ?? [], 'GuardrailTripped', SERVICE)).toEqual([1]);
    // The reconciler run and the guardrail invocation after the trip: both still say tripped.
    expect(valuesOf(stage.tripped ?? [], 'GuardrailTripped', SERVICE)).toEqual([1, 1]);
  });

  it('counts a request settled from the outbox in its tier and surface metrics, once', () => {
    const outbox = stage.outboxTrip ?? [];
    expect(valuesOf(outbox, 'Requests', { ...SERVICE, tier: 'tier-3' })).toEqual([1]);
    expect(valuesOf(outbox, 'Errors', { ...SERVICE, tier: 'tier-3' })).toEqual([0]);
    expect(valuesOf(outbox, 'OutputTokens', { ...SERVICE, tier: 'tier-3' })).toEqual([3000]);
    expect(valuesOf(outbox, 'Requests', { ...SERVICE, surface: 'chat' })).toEqual([1]);
  });

  it('reports the debt a late charge records when the wallet cannot cover it', () => {
    expect(valuesOf(stage.debt ?? [], 'DebtRecordedMicros', SERVICE)).toEqual([995]);
  });

  it('counts the holds a reconciler run failed to settle', () => {
    expect(valuesOf(stage.reconcile ?? [], 'ReconcileFailedHolds', SERVICE)).toEqual([0]);
    expect(valuesOf(stage.failingHold ?? [], 'ReconcileFailedHolds', SERVICE)).toEqual([1]);
  });

  it('publishes ProbeSuccess from the local probe exactly as from the probe function', () => {
    expect(valuesOf(stage.probe ?? [], 'ProbeSuccess', SERVICE)).toEqual([1]);
    expect(valuesOf(stage.lambdaProbe ?? [], 'ProbeSuccess', SERVICE)).toEqual([1]);
    for (const emitted of [...(stage.probe ?? []), ...(stage.lambdaProbe ?? [])]) {
      if (emitted.name === 'ProbeSuccess') expect(emitted.namespace).toBe(NAMESPACE);
    }
  });
});
