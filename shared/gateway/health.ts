import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type HttpResponse, jsonResponse } from '../http.js';
import { ledgerKeys } from '../tables.js';

export interface ProbeResult {
  passed: boolean;
  /** ISO time the probe finished. */
  at: string;
  failingStep?: string;
  steps?: Array<{ name: string; passed: boolean; ms: number; error?: string }>;
}

export interface ProbeResultStore {
  last(): Promise<ProbeResult | undefined>;
}

export class DynamoProbeResultStore implements ProbeResultStore {
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
      ...(typeof Item.failingStep === 'string' ? { failingStep: Item.failingStep } : {}),
      ...(Array.isArray(Item.steps) ? { steps: Item.steps as ProbeResult['steps'] } : {}),
    };
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
