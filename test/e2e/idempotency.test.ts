// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  demoUpstream,
  jsonFrames,
  marker,
  rawRequest,
  readSse,
  upstreamRequestsWith,
  waitFor,
} from '../support/e2e-helpers.js';
import { createAccount, uniqueId } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Idempotency-Key (DESIGN §16) through the official OpenAI SDK against the local runtime: a repeat is
 * answered from the stored result and never reaches the upstream or the wallet again.
 */

let runtime: LocalRuntime;
/** The EMF lines the handlers printed (metrics are on in this file), parsed. */
const emf: Array<Record<string, unknown>> = [];

const CREDIT = 2_000_000;

beforeAll(async () => {
  // EMF goes to stdout: keep it out of the test output and read it instead.
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = String(chunk);
    if (!text.includes('"_aws"')) return write(chunk, ...rest);
    for (const line of text.split('\n'))
      if (line.trim()) emf.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  }) as typeof process.stdout.write);
  runtime = await startTestRuntime({ reconcileEveryMs: 0, env: { POWERTOOLS_METRICS_DISABLED: 'false' } });
});
afterEach(() => {
  demoUpstream(runtime).clearFaults();
  demoUpstream(runtime).setPacing({ ttftMs: 20, tokensPerSecond: 500 });
});
afterAll(async () => {
  await runtime?.close();
  vi.restoreAllMocks();
});

interface Account {
  accountId: string;
  apiKey: string;
  client: OpenAI;
}

async function account(name: string): Promise<Account> {
  const created = await createAccount(runtime, name, CREDIT);
  return {
    ...created,
    client: new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: created.apiKey, maxRetries: 0 }),
  };
}

/** Once every usage event is settled: the wallet and the request log of an account. */
async function books(accountId: string) {
  await runtime.bus.drain();
  const wallet = (await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).json as {
    balanceMicros: number;
    heldMicros: number;
  };
  const log = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=100`);
  const requests = (log.json as { requests: Array<{ requestId: string; chargeMicros: number }> }).requests;
  return { balanceMicros: wallet.balanceMicros, heldMicros: wallet.heldMicros, requests };
}

const withKey = (key: string) => ({ headers: { 'Idempotency-Key': key } });
const say = (text: string) => [{ role: 'user' as const, content: text }];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The SDK's error for a refused call, or a failure if the call succeeded. */
async function refusal(call: Promise<unknown>): Promise<APIError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof APIError)) throw new Error(`expected an API error, got ${String(err)}`);
  return err;
}

describe('Idempotency-Key replays', () => {
  it('replays a completion with the original id and headers, without a second upstream call or charge', async () => {
    const { accountId, client } = await account('idem-replay');
    const key = uniqueId('replay-');
    const tag = marker();
    const body = { model: 'tier-1', max_tokens: 32, messages: say(`hello ${tag} tokens:5`) };
    const first = await client.chat.completions.create(body, withKey(key)).withResponse();
    expect(first.response.headers.get('idempotent-replayed')).toBeNull();
    const before = await books(accountId);
    expect(before.requests).toHaveLength(1);
    expect(before.heldMicros).toBe(0);
    expect(CREDIT - before.balanceMicros).toBe(before.requests[0]?.chargeMicros);

    const repeat = await client.chat.completions.create(body, withKey(key)).withResponse();
    expect(repeat.data).toEqual(first.data);
    expect(repeat.response.headers.get('idempotent-replayed')).toBe('true');
    for (const header of ['x-request-id', 'x-tier', 'x-tier-catalog-version', 'content-type']) {
      expect(repeat.response.headers.get(header), header).toBe(first.response.headers.get(header));
    }
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);
    expect(await books(accountId)).toEqual(before);
  });

  it('replays a stream as SSE that the SDK parses into the same chunks', async () => {
    const { accountId, client } = await account('idem-stream');
    const key = uniqueId('stream-');
    const tag = marker();
    const body = {
      model: 'tier-2',
      stream: true as const,
      stream_options: { include_usage: true },
      messages: say(`stream ${tag} tokens:8`),
    };
    const first = await client.chat.completions.create(body, withKey(key)).withResponse();
    const original = await collect(first.data);
    expect(original.at(-1)?.usage?.completion_tokens).toBe(8);
    const before = await books(accountId);

    const repeat = await client.chat.completions.create(body, withKey(key)).withResponse();
    expect(repeat.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(repeat.response.headers.get('idempotent-replayed')).toBe('true');
    expect(repeat.response.headers.get('x-request-id')).toBe(first.response.headers.get('x-request-id'));
    const replayed = await collect(repeat.data);
    expect(replayed).toEqual(original);
    expect(replayed.map((c) => c.choices[0]?.delta.content ?? '').join('')).toMatch(/^(\w+ ){8}$/);
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);
    expect(await books(accountId)).toEqual(before);
  });

  it('answers 422 idempotency_key_reused to a different body with the same key', async () => {
    const { client } = await account('idem-reuse');
    const key = uniqueId('reuse-');
    const tag = marker();
    await client.chat.completions.create(
      { model: 'tier-1', messages: say(`one ${tag} tokens:1`) },
      withKey(key),
    );
    const err = await refusal(
      client.chat.completions.create({ model: 'tier-1', messages: say(`two ${tag} tokens:1`) }, withKey(key)),
    );
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'idempotency_key_reused' });
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);
  });
});

describe('Idempotency-Key while the first request runs', () => {
  it('answers 409 idempotency_in_progress, and lets a retry run once the first was cut off', async () => {
    const { client, apiKey } = await account('idem-inflight');
    const key = uniqueId('inflight-');
    const tag = marker();
    const body = { model: 'tier-1', stream: true as const, messages: say(`slow ${tag} tokens:200`) };
    // 200 tokens at 5 a second: still streaming when the repeat arrives, until the client hangs up.
    demoUpstream(runtime).injectFault({ fault: { kind: 'slow', tokensPerSecond: 5 }, times: 1 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(body, { ...withKey(key), signal: controller.signal });
    const chunks = stream[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);

    const during = await rawRequest(runtime, body, { apiKey, headers: { 'idempotency-key': key } });
    expect(during.status).toBe(409);
    expect(((await during.json()) as { error: unknown }).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'idempotency_in_progress',
    });

    // A stream the client left is not a completed 200: its key is released and the retry runs.
    controller.abort();
    const retry = await waitFor(
      async () => {
        const res = await rawRequest(runtime, body, { apiKey, headers: { 'idempotency-key': key } });
        if (res.status === 409) return void (await res.text());
        return res;
      },
      { what: 'the cut-off stream to release its key' },
    );
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const frames = await readSse(retry);
    expect(frames.frames.at(-1)?.data).toBe('[DONE]');
    expect(jsonFrames(frames).length).toBeGreaterThanOrEqual(200);
    const upstream = upstreamRequestsWith(runtime, tag);
    expect(upstream).toHaveLength(2);
    expect(upstream[0]?.aborted).toBe(true);
    expect(upstream[1]?.completed).toBe(true);
  });

  it('gives two concurrent requests with one key exactly one upstream call and one charge', async () => {
    const { accountId, client } = await account('idem-race');
    const key = uniqueId('race-');
    const tag = marker();
    const body = { model: 'tier-1', messages: say(`race ${tag} tokens:20`) };
    demoUpstream(runtime).injectFault({ fault: { kind: 'slow', tokensPerSecond: 50 }, times: 1 });
    const results = await Promise.allSettled([
      client.chat.completions.create(body, withKey(key)).withResponse(),
      client.chat.completions.create(body, withKey(key)).withResponse(),
    ]);
    const served = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as APIError] : []));
    // The second is either refused while the first runs, or, if it came after, a replay.
    const originals = served.filter((r) => r.response.headers.get('idempotent-replayed') === null);
    expect(originals).toHaveLength(1);
    expect(served.length + refused.length).toBe(2);
    for (const err of refused) expect([err.status, err.code]).toEqual([409, 'idempotency_in_progress']);
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);

    const after = await books(accountId);
    expect(after.requests.map((r) => r.requestId)).toEqual([
      originals[0]?.response.headers.get('x-request-id'),
    ]);
    expect(after.heldMicros).toBe(0);
    expect(CREDIT - after.balanceMicros).toBe(after.requests[0]?.chargeMicros);
  });
});

describe('Idempotency-Key limits and metrics', () => {
  it('keeps a stream past the size cap as too large: a repeat is a 409 saying so, not run again', async () => {
    const { apiKey } = await account('idem-large');
    const key = uniqueId('large-');
    const tag = marker();
    // About 170 bytes a frame: 3,000 frames are well past the 350,000-byte cap.
    const body = { model: 'tier-1', stream: true, messages: say(`long ${tag} tokens:3000`) };
    demoUpstream(runtime).setPacing({ tokensPerSecond: 0 });
    const first = await readSse(
      await rawRequest(runtime, body, { apiKey, headers: { 'idempotency-key': key } }),
    );
    expect(first.status).toBe(200);
    expect(first.frames.at(-1)?.data).toBe('[DONE]');
    expect(Buffer.byteLength(first.text)).toBeGreaterThan(350_000);

    const repeat = await rawRequest(runtime, body, { apiKey, headers: { 'idempotency-key': key } });
    expect(repeat.status).toBe(409);
    expect(repeat.headers.get('x-should-retry')).toBe('false');
    const error = ((await repeat.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('idempotency_result_too_large');
    expect(error.message).toMatch(/too large to store/);
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);
  });

  it('counts client retries sent without a key (x-stainless-retry-count > 0) as an EMF metric', async () => {
    const { client } = await account('idem-metric');
    const counted = () => emf.filter((line) => line.RetriesWithoutIdempotencyKey === 1).length;
    const start = counted();
    const body = { model: 'tier-1', max_tokens: 16, messages: say('metric tokens:1') };
    // The SDK's own first attempt says 0; a retry of it says 1.
    await client.chat.completions.create(body);
    await client.chat.completions.create(body, {
      headers: { 'Idempotency-Key': uniqueId('m-'), 'x-stainless-retry-count': '1' },
    });
    expect(counted()).toBe(start);
    await client.chat.completions.create(body, { headers: { 'x-stainless-retry-count': '1' } });
    expect(counted()).toBe(start + 1);
    const line = emf.filter((l) => l.RetriesWithoutIdempotencyKey === 1).at(-1) as {
      _aws: {
        CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string; Unit: string }> }>;
      };
    };
    expect(line._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Tiergate',
      Metrics: [{ Name: 'RetriesWithoutIdempotencyKey', Unit: 'Count' }],
    });
  });
});
