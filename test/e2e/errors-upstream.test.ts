import OpenAI, { type APIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import {
  demoUpstream,
  jsonFrames,
  marker,
  rawRequest,
  readSse,
  upstreamRequestsWith,
} from '../support/e2e-helpers.js';
import { type ErrorBody, expectErrorResponse, hi, thrown } from '../support/error-helpers.js';
import { client, runtime, useOpenAiRuntime } from '../support/openai-runtime.js';
import { assertValid, validateChunk, validateError } from '../support/openai-schema.js';

/** Upstream failures as the client sees them: mapped codes, fallbacks, and streams cut off mid-way. */

useOpenAiRuntime({});
afterEach(() => {
  runtime?.upstream?.clearFaults();
});

describe('upstream failures', () => {
  it('maps an upstream 500 on every model of the tier to 502 upstream_error', async () => {
    const upstream = demoUpstream(runtime);
    upstream.injectFault({ fault: { kind: 'status', status: 500 } });
    const tag = marker();
    const err = await thrown(() =>
      client.chat.completions.create({ model: 'tier-2', messages: hi(tag) }).withResponse(),
    );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    const apiErr = err as APIError;
    expect(apiErr.status).toBe(502);
    expect(apiErr.code).toBe('upstream_error');
    expect(apiErr.type).toBe('server_error');
    expect(apiErr.headers?.get('x-request-id')).toBeTruthy();
    expect(apiErr.headers?.get('content-type')).toMatch(/^application\/json/);
    // Every model of the tier was tried before giving up.
    const tried = new Set(upstreamRequestsWith(runtime, tag).map((r) => r.model));
    expect([...tried].sort()).toEqual(DEFAULT_CATALOG.tiers['tier-2'].models.map((m) => m.id).sort());

    const streamTag = marker();
    const streamErr = await thrown(() =>
      client.chat.completions.create({ model: 'tier-2', stream: true, messages: hi(streamTag) }),
    );
    expect(streamErr).toBeInstanceOf(OpenAI.InternalServerError);
    expect((streamErr as APIError).status).toBe(502);
    expect((streamErr as APIError).code).toBe('upstream_error');

    const raw = await rawRequest(runtime, { model: 'tier-2', messages: hi(marker()) });
    await expectErrorResponse(raw, 502, 'upstream_error');
  });

  it('falls back to the next model when only the primary fails', async () => {
    const upstream = demoUpstream(runtime);
    const [primary, fallback] = DEFAULT_CATALOG.tiers['tier-1'].models;
    upstream.injectFault({ fault: { kind: 'status', status: 503 }, model: primary?.id ?? '' });
    const tag = marker();
    const res = await client.chat.completions.create({ model: 'tier-1', messages: hi(tag) });
    expect(res.model).toBe('tier-1');
    const models = upstreamRequestsWith(runtime, tag).map((r) => r.model);
    expect(models).toContain(primary?.id);
    expect(models.at(-1)).toBe(fallback?.id);
  });

  it('falls back to the next model when a stream fails before its first token', async () => {
    const upstream = demoUpstream(runtime);
    const [primary, fallback] = DEFAULT_CATALOG.tiers['tier-1'].models;
    upstream.injectFault({
      fault: { kind: 'disconnect', afterChunks: 0 },
      model: primary?.id ?? '',
      times: 1,
    });
    const tag = marker();
    const res = await rawRequest(runtime, { model: 'tier-1', stream: true, messages: hi(`${tag} tokens:5`) });
    expect(res.status).toBe(200);
    const sse = await readSse(res);
    expect(sse.text).toContain('data: [DONE]');
    expect(sse.text).not.toContain('"error"');
    for (const chunk of jsonFrames(sse)) assertValid(validateChunk, chunk);
    expect(upstreamRequestsWith(runtime, tag).at(-1)?.model).toBe(fallback?.id);
  });

  it('ends a stream cut off mid-way with an error frame and without [DONE]', async () => {
    // Paced so the cut comes well after the gateway has started forwarding: a cut that happens
    // before the first byte reaches the client may legitimately be answered by a fallback model.
    const res = await withCutOff(3, () =>
      rawRequest(runtime, { model: 'tier-1', stream: true, messages: hi(`${marker()} tokens:10`) }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = await readSse(res);
    expect(sse.text).toContain('data: {"error":');
    expect(sse.text).not.toContain('[DONE]');
    const payloads = jsonFrames(sse);
    const last = payloads.at(-1);
    const errorFrame = assertValid(validateError, last as unknown as ErrorBody);
    expect(errorFrame.error.code).toBe('upstream_error');
    expect(errorFrame.error.type).toBe('server_error');
    // The content that did arrive was forwarded before the error.
    const content = payloads.slice(0, -1);
    expect(content.filter((c) => JSON.stringify(c).includes('"content":"')).length).toBeGreaterThanOrEqual(3);
    for (const chunk of content) {
      assertValid(validateChunk, chunk);
      expect(chunk.model).toBe('tier-1');
    }
    expect(payloads.filter((p) => p.error !== undefined)).toHaveLength(1);
  });

  it('makes the SDK stream raise instead of ending cleanly after a mid-stream failure', async () => {
    const stream = await withCutOff(2, () =>
      client.chat.completions.create({
        model: 'tier-1',
        stream: true,
        messages: hi(`${marker()} tokens:10`),
      }),
    );
    const seen: unknown[] = [];
    const err = await thrown(async () => {
      for await (const chunk of stream) seen.push(chunk);
    });
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });
});

/**
 * Sends a tier-1 stream whose upstream connection drops after `afterChunks` content chunks, paced so
 * the drop happens after the gateway has begun forwarding to the client.
 */
async function withCutOff<T>(afterChunks: number, send: () => Promise<T>): Promise<T> {
  const upstream = demoUpstream(runtime);
  // Warm the account's path first, so admission is not what the timing depends on.
  const warm = await rawRequest(runtime, { model: 'tier-1', max_tokens: 16, messages: hi('warm tokens:1') });
  await warm.text();
  upstream.setPacing({ tokensPerSecond: 10 });
  upstream.injectFault({ fault: { kind: 'disconnect', afterChunks }, times: 1 });
  try {
    return await send();
  } finally {
    upstream.setPacing({ tokensPerSecond: 500 });
  }
}
