/**
 * What the fault-load run sends and the faults it meets: the random fault mix injected into the
 * demo upstream, the seeded request mix (account, tier, stream or not), and the stages that send
 * it at a given concurrency, one sample per request with its outcome and latency.
 */
import { performance } from 'node:perf_hooks';
import type { LocalRuntime } from '../local/runtime.js';
import { TIER_IDS, type TierId } from '../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../shared/domain/default-catalog.js';
import type { LoadAccount } from './fault-load-books.js';

const REQUEST_TIMEOUT_MS = 30_000;

const TIER_WEIGHTS: ReadonlyArray<[TierId, number]> = [
  ['tier-1', 0.4],
  ['tier-2', 0.3],
  ['tier-3', 0.15],
  ['tier-4', 0.15],
];

/** Random faults, as a flaky provider would have them; rules are tried in this order. */
export function injectRandomFaults(runtime: LocalRuntime): string[] {
  const upstream = runtime.upstream;
  if (!upstream) throw new Error('the load run needs the demo upstream');
  for (const tier of TIER_IDS) {
    const primary = DEFAULT_CATALOG.tiers[tier].models[0]?.id;
    if (primary)
      upstream.injectFault({ fault: { kind: 'status', status: 500 }, model: primary, probability: 0.1 });
  }
  upstream.injectFault({ fault: { kind: 'disconnect', afterChunks: 2 }, probability: 0.05 });
  upstream.injectFault({ fault: { kind: 'no-usage' }, probability: 0.05 });
  upstream.injectFault({ fault: { kind: 'slow', tokensPerSecond: 100 }, probability: 0.03 });
  return [
    'status 500 on each primary model, p=0.10',
    'disconnect after 2 content chunks (any model), p=0.05',
    'no usage block, p=0.05',
    'slow trickle at 100 tokens/s, p=0.03',
  ];
}

export interface Sample {
  stage: number;
  accountId: string;
  tier: TierId;
  stream: boolean;
  status: number;
  /** ok, an error code, `stream:<code>` for an error frame mid-stream, or a client-side failure. */
  outcome: string;
  latencyMs: number;
  requestId: string | null;
}

export interface RequestPlan {
  account: LoadAccount;
  tier: TierId;
  stream: boolean;
  body: string;
}

export function planRequest(
  random: () => number,
  accounts: readonly LoadAccount[],
  index: number,
): RequestPlan {
  const account = accounts[Math.floor(random() * accounts.length)] as LoadAccount;
  let pick = random();
  let tier: TierId = 'tier-1';
  for (const [t, w] of TIER_WEIGHTS) {
    tier = t;
    pick -= w;
    if (pick < 0) break;
  }
  const stream = random() < 0.5;
  const tokens = 4 + Math.floor(random() * 37);
  const body: Record<string, unknown> = {
    model: tier,
    messages: [{ role: 'user', content: `load request ${index}: write tokens:${tokens}` }],
  };
  if (random() < 0.5) body.max_tokens = 64;
  if (stream) {
    body.stream = true;
    if (random() < 0.5) body.stream_options = { include_usage: true };
  }
  return { account, tier, stream, body: JSON.stringify(body) };
}

/** Sends one request and reads the whole response; never throws. */
export async function send(url: string, plan: RequestPlan, stage: number): Promise<Sample> {
  const started = performance.now();
  const base = { stage, accountId: plan.account.accountId, tier: plan.tier, stream: plan.stream };
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${plan.account.apiKey}` },
      body: plan.body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    const requestId = res.headers.get('x-request-id');
    const latencyMs = performance.now() - started;
    let outcome: string;
    if (res.status !== 200) outcome = errorCode(text) ?? `http_${res.status}`;
    else if (!plan.stream) outcome = 'ok';
    else outcome = streamOutcome(text);
    return { ...base, status: res.status, outcome, latencyMs, requestId };
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    return {
      ...base,
      status: 0,
      outcome: name === 'TimeoutError' ? 'client_timeout' : 'network_error',
      latencyMs: performance.now() - started,
      requestId: null,
    };
  }
}

function errorCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A stream is ok when it ends with [DONE]; one cut short ends with an error frame instead. */
function streamOutcome(text: string): string {
  const frames = text
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n'),
    )
    .filter((data) => data !== '');
  if (frames.at(-1) === '[DONE]') return 'ok';
  const code = errorCode(frames.at(-1) ?? '');
  return code === undefined ? 'stream_truncated' : `stream:${code}`;
}

export interface StageResult {
  concurrency: number;
  planned: number;
  sent: number;
  wallMs: number;
  truncated: boolean;
  samples: Sample[];
}

export async function runStage(
  url: string,
  concurrency: number,
  planned: number,
  maxMs: number,
  next: () => RequestPlan,
): Promise<StageResult> {
  const samples: Sample[] = [];
  const started = performance.now();
  const deadline = started + maxMs;
  let issued = 0;
  let truncated = false;
  const worker = async (): Promise<void> => {
    while (issued < planned) {
      if (performance.now() > deadline) {
        truncated = true;
        return;
      }
      issued++;
      samples.push(await send(url, next(), concurrency));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    concurrency,
    planned,
    sent: samples.length,
    wallMs: performance.now() - started,
    truncated,
    samples,
  };
}
