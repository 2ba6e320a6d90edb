import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { marker, upstreamRequestsWith, waitFor } from '../support/e2e-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * A client that hangs up before the first byte: the gateway still records the request (no
 * hold left for the reconciler to release as abandoned), and stops the upstream.
 */
let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ demoUpstream: { ttftMs: 600, tokensPerSecond: 20 } });
});
afterAll(async () => {
  await runtime?.close();
});

async function poll<T>(read: () => Promise<T>, done: (v: T) => boolean, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  return read();
}

describe('client disconnect before the first byte', () => {
  it('records the request as client_disconnected, releases the hold and aborts upstream', async () => {
    const tag = marker('gone');
    const body = JSON.stringify({
      model: 'tier-1',
      stream: true,
      messages: [{ role: 'user', content: `${tag} tokens:200 never read` }],
    });
    const req = request(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runtime.apiKey}`, 'content-type': 'application/json' },
    });
    req.on('error', () => {});
    req.end(body);
    // Hang up once the upstream has the request, while it is still before its first token (600 ms):
    // not after a fixed delay, which a loaded machine may spend before the request even gets there.
    await waitFor(() => upstreamRequestsWith(runtime, tag).length > 0, {
      timeoutMs: 30_000,
      intervalMs: 10,
      what: 'the upstream to receive the request',
    });
    req.destroy();

    const account = await poll(
      async () => (await admin(runtime, 'GET', `/admin/accounts/${runtime.accountId}`)).json,
      (a) => a.heldMicros === 0 && Number(a.balanceMicros) < 5_000_000,
    );
    await runtime.bus.drain();
    const { json } = await admin(runtime, 'GET', `/admin/requests?accountId=${runtime.accountId}`);
    const requests = json.requests as Array<Record<string, unknown>>;
    expect(account.heldMicros).toBe(0);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ status: 'client_disconnected' });
    const upstream = runtime.upstream?.requests.at(-1);
    expect(upstream?.completed).toBe(false);
    expect(upstream?.outputTokens ?? 0).toBeLessThan(200);
  });
});
