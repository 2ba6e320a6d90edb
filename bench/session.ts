/**
 * What a bench run stands on (one process, three event loops, plus DynamoDB Local as a JVM):
 * - main thread: the local runtime (the deployed completions handler behind node:http, the local
 *   bus with billing and guardrail), a second gateway whose wallet hold is instant, and the
 *   pass-through floor (floor-proxy.ts), a proxy that only relays bytes;
 * - worker: the demo upstream, with a fixed TTFT and fast token pacing so TTFT dominates;
 * - worker: the bench client (raw fetch, SSE read by hand), identical for every path.
 */
import '../local/awslambda-shim.js';
import type { DevServer } from '../local/dev-server.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../local/dynamodb-local.js';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.js';
import { DEFAULT_CATALOG } from '../shared/domain/default-catalog.js';
import type { Target } from './client.js';
import { startFloorProxy } from './floor-proxy.js';
import { startNoHoldGateway } from './no-hold-gateway.js';
import { TIER } from './params.js';
import { WorkerClient } from './threads.js';

/** Shutdown steps, last registered runs first. Module-level so the watchdog can run them too. */
const cleanups: Array<() => Promise<void>> = [];
export async function closeAll(): Promise<void> {
  for (let c = cleanups.pop(); c; c = cleanups.pop()) await c().catch(() => {});
}

export interface Targets {
  direct: Target;
  /** The pass-through floor: what any proxy on the gateway's thread pays, and nothing else. */
  floor: Target;
  gateway: Target;
  gatewayNoHold: Target;
  /** A key with a daily budget: admitted before its upstream call. */
  gatewayAdmitFirst: Target;
}

export interface Session {
  dynamodbEndpoint: string;
  runtime: LocalRuntime;
  upstreamWorker: WorkerClient;
  client: WorkerClient;
  upstreamModel: string;
  targets: Targets;
}

/** As for `npm start`: DYNAMODB_ENDPOINT points at a running DynamoDB Local, else one is started. */
export async function dynamoDbEndpoint(): Promise<string> {
  const running = process.env.DYNAMODB_ENDPOINT;
  if (running) return running;
  const dynamo: DynamoDbLocal = await startDynamoDbLocal();
  cleanups.push(() => dynamo.stop());
  return dynamo.endpoint;
}

/** Starts the upstream, both gateways, the floor and the client; `closeAll` stops them. */
export async function startSession(
  dynamodbEndpoint: string,
  upstream: { ttftMs: number; tokensPerSecond: number },
): Promise<Session> {
  const upstreamModel = DEFAULT_CATALOG.tiers[TIER].models[0]?.id;
  if (!upstreamModel) throw new Error(`the default catalog has no model for ${TIER}`);
  const upstreamWorker = WorkerClient.start(new URL('./upstream-worker.ts', import.meta.url));
  cleanups.push(() => upstreamWorker.stop());
  const demo = await upstreamWorker.call<{ baseUrl: string }>('start', upstream);
  const runtime: LocalRuntime = await startLocalRuntime({
    port: 0,
    dynamodbEndpoint,
    tablePrefix: 'bench',
    upstreamBaseUrl: demo.baseUrl,
    demoCreditUsd: 1000,
    dailySpendCapUsd: 1_000_000,
  });
  cleanups.push(() => runtime.close());
  if (runtime.upstream !== undefined) throw new Error('the runtime started its own upstream');
  // Only now: startLocalRuntime has set the environment the second gateway is built from.
  const noHold: DevServer = await startNoHoldGateway();
  cleanups.push(() => noHold.close());
  const floor = await startFloorProxy(demo.baseUrl);
  cleanups.push(() => floor.close());
  const client = WorkerClient.start(new URL('./client-worker.ts', import.meta.url));
  cleanups.push(() => client.stop());

  const gatewayUrl = `${runtime.url}/v1/chat/completions`;
  // A key with a daily budget always admits before calling upstream (its edge is not known
  // locally), as does an account this instance holds no balance snapshot of: this target
  // measures what admission-first costs in time to first token.
  const budgetKey = await fetch(`${runtime.adminUrl}/accounts/${runtime.accountId}/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-admit-first', dailyBudgetUsd: 100_000 }),
  }).then(async (res) => ((await res.json()) as { key: string }).key);
  const targets: Targets = {
    direct: { name: 'direct', url: `${demo.baseUrl}/chat/completions`, model: upstreamModel },
    floor: { name: 'floor', url: floor.url, model: upstreamModel },
    gateway: { name: 'gateway', url: gatewayUrl, apiKey: runtime.apiKey, model: TIER },
    gatewayNoHold: {
      name: 'gateway-no-hold',
      url: `${noHold.url}/v1/chat/completions`,
      apiKey: runtime.apiKey,
      model: TIER,
    },
    gatewayAdmitFirst: { name: 'gateway-admit-first', url: gatewayUrl, apiKey: budgetKey, model: TIER },
  };
  return { dynamodbEndpoint, runtime, upstreamWorker, client, upstreamModel, targets };
}
