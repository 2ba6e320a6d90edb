// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { marker, rawRequest, servedUpstreamRequest, waitFor } from '../support/e2e-helpers.js';
import { createAccount } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Every end of a request meters, whatever the client does. A client that stops reading a long
 * stream is billed for the whole answer as soon as the upstream has sent it, long before the
 * reconciler's cutoff, without reading another byte.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, demoUpstream: { tokensPerSecond: 50_000 } });
});
afterAll(async () => {
  await runtime?.close();
});

describe('a client that stalls mid-stream', () => {
  it('is billed for everything the upstream generated while it is still stalled', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'stalled', 50_000_000);
    const tag = marker('stall');
    const res = await rawRequest(
      runtime,
      {
        model: 'tier-4',
        stream: true,
        messages: [{ role: 'user', content: `${tag} tokens:30000` }],
      },
      { apiKey },
    );
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first bytes; then the client reads nothing more
    const requestId = res.headers.get('x-request-id') ?? '';
    const item = await waitFor(
      async () => {
        const { json } = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=10`);
        const items = (json.requests ?? json.items ?? []) as Array<Record<string, unknown>>;
        return items.find((i) => i.requestId === requestId);
      },
      { timeoutMs: 30_000, what: 'the stalled request to be settled' },
    );
    const upstream = servedUpstreamRequest(runtime, tag);
    console.log(
      `[metering] stalled reader: upstream sent ${upstream.outputTokens} tokens; billed ${String(item.outputTokens)} (${String(item.usageSource)}), charge ${String(item.chargeMicros)} µ$`,
    );
    expect(item).toMatchObject({ status: 'ok', usageSource: 'upstream', outputTokens: 30000 });
    expect(Number(item.chargeMicros)).toBeGreaterThan(0);
    await reader.cancel();
  });
});
