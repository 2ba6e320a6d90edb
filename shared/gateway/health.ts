import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../adapters/dynamodb/client.js';
import { type HttpResponse, jsonResponse } from '../http.js';
import type { ProbeResult } from '../probe/result.js';
import { ledgerKeys } from '../tables.js';

export type { ProbeResult } from '../probe/result.js';

export interface ProbeResultStore {
  last(): Promise<ProbeResult | undefined>;
}

export interface ProbeResultRecorder extends ProbeResultStore {
  /** Stores `result` as the last one, unless a result that finished later is already stored (then false). */
  save(result: ProbeResult): Promise<boolean>;
}

// A slow run (or a retried Record task) that finishes after a newer one must not hide the newer result.
const noNewerResult = 'attribute_not_exists(pk) OR #at <= :at';

/** The last probe result: one ledger item, written by the admin API, read by /health. */
export class DynamoProbeResultStore implements ProbeResultRecorder {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async last(): Promise<ProbeResult | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.probeLast() }),
    );
    if (!Item) return undefined;
    return {
      passed: Item.passed === true,
      at: String(Item.at),
      ...(typeof Item.startedAt === 'string' ? { startedAt: Item.startedAt } : {}),
      ...(typeof Item.failingStep === 'string' ? { failingStep: Item.failingStep } : {}),
      ...(Array.isArray(Item.steps) ? { steps: Item.steps as ProbeResult['steps'] } : {}),
      ...(typeof Item.probeAccountId === 'string' ? { probeAccountId: Item.probeAccountId } : {}),
    };
  }

  async save(result: ProbeResult): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...ledgerKeys.probeLast(), ...result },
          ConditionExpression: noNewerResult,
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': result.at },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}

/**
 * Honest health: 200 only when the last synthetic probe passed and is younger than two probe
 * intervals. Anything else, including no probe yet, is a 503 that says why.
 */
export async function healthResponse(
  store: ProbeResultStore,
  probeIntervalMs: number,
  now: number,
  requestId: string,
): Promise<HttpResponse> {
  const headers = { 'x-request-id': requestId, 'cache-control': 'no-store' };
  let last: ProbeResult | undefined;
  try {
    last = await store.last();
  } catch {
    return jsonResponse(503, { status: 'unhealthy', reason: 'probe result unreadable' }, headers);
  }
  if (!last) return jsonResponse(503, { status: 'unhealthy', reason: 'no probe has run yet' }, headers);
  const ageSeconds = Math.max(0, Math.round((now - Date.parse(last.at)) / 1000));
  const maxAgeSeconds = Math.round((2 * probeIntervalMs) / 1000);
  const body = {
    status: 'unhealthy',
    probe: {
      passed: last.passed,
      at: last.at,
      ageSeconds,
      maxAgeSeconds,
      ...(last.failingStep ? { failingStep: last.failingStep } : {}),
      ...(last.steps ? { steps: last.steps.map(({ name, passed, ms }) => ({ name, passed, ms })) } : {}),
    },
  };
  if (!last.passed)
    return jsonResponse(
      503,
      { ...body, reason: `probe failed at ${last.failingStep ?? 'unknown step'}` },
      headers,
    );
  if (!Number.isFinite(ageSeconds) || ageSeconds > maxAgeSeconds) {
    return jsonResponse(503, { ...body, reason: 'last probe is stale' }, headers);
  }
  return jsonResponse(200, { ...body, status: 'ok' }, headers);
}
