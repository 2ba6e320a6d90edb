import OpenAI, { type APIError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../shared/config.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { rawRequest } from '../support/e2e-helpers.js';
import { expectErrorResponse, hi, thrown } from '../support/error-helpers.js';
import { client, runtime, useOpenAiRuntime } from '../support/openai-runtime.js';
import { admin } from '../support/runtime.js';

/** The errors a client meets for its own mistakes: the SDK's error classes and the raw HTTP answers. */

useOpenAiRuntime({});

describe('SDK error classes', () => {
  it('raises BadRequestError for malformed parameters', async () => {
    const badTemperature = await thrown(() =>
      client.chat.completions.create({
        model: 'tier-2',
        messages: hi(),
        temperature: 'hot' as unknown as number,
      }),
    );
    expect(badTemperature).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badTemperature as APIError).status).toBe(400);
    expect((badTemperature as APIError).param).toBe('temperature');
    expect((badTemperature as APIError).type).toBe('invalid_request_error');

    const noMessages = await thrown(() =>
      client.chat.completions.create({
        model: 'tier-2',
      } as unknown as ChatCompletionCreateParamsNonStreaming),
    );
    expect(noMessages).toBeInstanceOf(OpenAI.BadRequestError);
    expect((noMessages as APIError).param).toBe('messages');

    const unknownParamBody = { model: 'tier-2', messages: hi(), frobnicate: true };
    const unknownParam = await thrown(() => client.chat.completions.create(unknownParamBody));
    expect(unknownParam).toBeInstanceOf(OpenAI.BadRequestError);
    expect((unknownParam as APIError).param).toBe('frobnicate');

    // OpenRouter's routing knobs must not let a client pick the model behind the tier.
    const routing = { model: 'tier-2', messages: hi(), models: ['openai/gpt-4.1'] };
    expect(await thrown(() => client.chat.completions.create(routing))).toBeInstanceOf(
      OpenAI.BadRequestError,
    );

    const emptyMessages = await thrown(() =>
      client.chat.completions.create({ model: 'tier-2', messages: [] }),
    );
    expect(emptyMessages).toBeInstanceOf(OpenAI.BadRequestError);

    const badRole = await thrown(() =>
      client.chat.completions.create({
        model: 'tier-2',
        messages: [
          { role: 'wizard', content: 'x' },
        ] as unknown as ChatCompletionCreateParamsNonStreaming['messages'],
      }),
    );
    expect(badRole).toBeInstanceOf(OpenAI.BadRequestError);

    const badN = await thrown(() =>
      client.chat.completions.create({ model: 'tier-2', messages: hi(), n: 0 }),
    );
    expect(badN).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badN as APIError).param).toBe('n');
  });

  it('raises AuthenticationError for a missing, unknown or malformed key', async () => {
    const keys = {
      missing: new OpenAI({
        baseURL: `${runtime.url}/v1`,
        apiKey: 'unused',
        maxRetries: 0,
        defaultHeaders: { authorization: null },
      }),
      unknown: new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: `tg-${'A'.repeat(43)}`, maxRetries: 0 }),
      malformed: new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: 'sk-not-a-tiergate-key', maxRetries: 0 }),
    };
    for (const [label, c] of Object.entries(keys)) {
      const err = await thrown(() => c.chat.completions.create({ model: 'tier-2', messages: hi() }));
      expect(err, label).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as APIError).status, label).toBe(401);
      expect((err as APIError).code, label).toBe('invalid_api_key');
      expect((err as APIError).type, label).toBe('authentication_error');
    }
    // Auth comes first: a bad key with a bad body is still a 401.
    const both = await thrown(() =>
      keys.unknown.chat.completions.create({
        model: 'tier-2',
      } as unknown as ChatCompletionCreateParamsNonStreaming),
    );
    expect(both).toBeInstanceOf(OpenAI.AuthenticationError);

    const raw = await rawRequest(runtime, { model: 'tier-2', messages: hi() }, { apiKey: null });
    await expectErrorResponse(raw, 401, 'invalid_api_key');
    const basic = await rawRequest(
      runtime,
      { model: 'tier-2', messages: hi() },
      {
        apiKey: null,
        headers: { authorization: `Basic ${Buffer.from(`x:${runtime.apiKey}`).toString('base64')}` },
      },
    );
    await expectErrorResponse(basic, 401, 'invalid_api_key');
  });

  it('raises NotFoundError with model_not_found for an unknown model', async () => {
    for (const model of [
      'gpt-4o',
      'tier-5',
      'TIER-1',
      DEFAULT_CATALOG.tiers['tier-1'].models[0]?.id ?? 'x',
    ]) {
      const err = await thrown(() => client.chat.completions.create({ model, messages: hi() }));
      expect(err, model).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as APIError).status).toBe(404);
      expect((err as APIError).code).toBe('model_not_found');
      expect((err as APIError).type).toBe('invalid_request_error');
    }
    const streamErr = await thrown(() =>
      client.chat.completions.create({ model: 'nope', stream: true, messages: hi() }),
    );
    expect(streamErr).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('raises RateLimitError insufficient_quota with x-should-retry: false for an account without credit', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'broke' });
    expect(created.status).toBe(201);
    const key = (created.json.apiKey as { key: string }).key;
    const broke = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: key, maxRetries: 0 });
    for (const stream of [false, true]) {
      const err = await thrown(() =>
        stream
          ? broke.chat.completions.create({ model: 'tier-1', stream: true, messages: hi() })
          : broke.chat.completions.create({ model: 'tier-1', messages: hi() }),
      );
      expect(err, `stream=${stream}`).toBeInstanceOf(OpenAI.RateLimitError);
      const apiErr = err as APIError;
      expect(apiErr.status).toBe(429);
      expect(apiErr.code).toBe('insufficient_quota');
      expect(apiErr.type).toBe('insufficient_quota');
      expect(apiErr.headers?.get('x-should-retry')).toBe('false');
      expect(apiErr.headers?.get('x-request-id')).toBeTruthy();
    }
    const raw = await rawRequest(runtime, { model: 'tier-1', messages: hi() }, { apiKey: key });
    await expectErrorResponse(raw, 429, 'insufficient_quota');
  });
});

describe('raw HTTP errors', () => {
  it('answers malformed JSON with 400', async () => {
    for (const body of ['{"model": "tier-2", "messages": [', 'not json', '[]', '"tier-2"', '']) {
      const res = await rawRequest(runtime, body);
      const err = await expectErrorResponse(res, 400, 'invalid_request');
      expect(err.error.type).toBe('invalid_request_error');
    }
  });

  it('takes a base64 image of 4.5 MB: the limit is what a Function URL allows, less its envelope', async () => {
    const image = `data:image/png;base64,${Buffer.alloc(3_370_000, 7).toString('base64')}`;
    const body = JSON.stringify({
      model: 'tier-1',
      max_tokens: 8,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture? tokens:2' },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
    });
    expect(Buffer.byteLength(body)).toBeGreaterThan(4_490_000);
    expect(Buffer.byteLength(body)).toBeLessThan(DEFAULT_MAX_BODY_BYTES);
    const res = await rawRequest(runtime, body);
    expect(res.status, await res.clone().text()).toBe(200);
    await res.text();
  });

  it('answers a body over the limit with 413 request_too_large', async () => {
    const big = JSON.stringify({
      model: 'tier-2',
      messages: [{ role: 'user', content: 'x'.repeat(DEFAULT_MAX_BODY_BYTES) }],
    });
    const res = await rawRequest(runtime, big);
    const err = await expectErrorResponse(res, 413, 'request_too_large');
    expect(err.error.type).toBe('invalid_request_error');
  });

  it('answers a chunked body over the limit with 413 too', async () => {
    const piece = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > DEFAULT_MAX_BODY_BYTES) return controller.close();
        sent += piece.length;
        controller.enqueue(piece);
      },
    });
    const res = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${runtime.apiKey}` },
      body,
      duplex: 'half',
    } as RequestInit);
    await expectErrorResponse(res, 413, 'request_too_large');
  });

  it('answers an unknown path with 404 not_found', async () => {
    // (`/` answers 200: Anthropic's clients probe the base URL.)
    for (const path of ['/v1/nothing', '/v2/chat/completions', '/v1', '/v1/chat/completions/extra']) {
      const res = await rawRequest(runtime, undefined, { method: 'GET', path });
      await expectErrorResponse(res, 404, 'not_found');
    }
  });

  it('answers a wrong method with 405 method_not_allowed', async () => {
    const get = await rawRequest(runtime, undefined, { method: 'GET' });
    await expectErrorResponse(get, 405, 'method_not_allowed');
    const del = await rawRequest(runtime, undefined, { method: 'DELETE', path: '/v1/models' });
    await expectErrorResponse(del, 405, 'method_not_allowed');
    const put = await rawRequest(runtime, { model: 'tier-1', messages: hi() }, { method: 'PUT' });
    await expectErrorResponse(put, 405, 'method_not_allowed');
  });

  it('answers a body that is not valid UTF-8 with 400', async () => {
    const prefix = Buffer.from('{"model":"tier-2","messages":[{"role":"user","content":"');
    const suffix = Buffer.from('"}]}');
    const bytes = Buffer.concat([prefix, Buffer.from([0xff, 0xfe, 0xc3, 0x28]), suffix]);
    const res = await rawRequest(runtime, new Uint8Array(bytes));
    await expectErrorResponse(res, 400, 'invalid_request');
  });

  it('answers stream_options without stream with 400 naming the parameter', async () => {
    for (const stream of [undefined, false]) {
      const res = await rawRequest(runtime, {
        model: 'tier-2',
        messages: hi(),
        stream_options: { include_usage: true },
        ...(stream === undefined ? {} : { stream }),
      });
      const err = await expectErrorResponse(res, 400, 'invalid_request');
      expect(err.error.param).toBe('stream_options');
    }
  });

  it('reports every bad-input error in the OpenAI shape and never as a 5xx', async () => {
    const bad: Array<[unknown, string | undefined]> = [
      [{ model: 'tier-2', messages: hi(), temperature: 3 }, 'temperature'],
      [{ model: 'tier-2', messages: hi(), top_p: -1 }, 'top_p'],
      [{ model: 'tier-2', messages: hi(), max_tokens: 0 }, 'max_tokens'],
      [{ model: 'tier-2', messages: hi(), max_tokens: 1.5 }, 'max_tokens'],
      [{ model: 'tier-2', messages: hi(), stream: 'yes' }, 'stream'],
      [{ model: 'tier-2', messages: 'hello' }, 'messages'],
      [{ model: 'tier-2', messages: [null] }, undefined],
      [{ model: 'tier-2', messages: [{ role: 'user' }] }, undefined],
      [{ model: 42, messages: hi() }, 'model'],
      [{ messages: hi() }, 'model'],
      [{ model: 'tier-2', messages: hi(), stop: [1, 2] }, 'stop.[0]'],
      [{ model: 'tier-2', messages: hi(), tools: 'all' }, 'tools'],
      [
        { model: 'tier-2', messages: hi(), stream: true, stream_options: { include_usage: 'yes' } },
        undefined,
      ],
      [{ model: 'tier-2', messages: hi(), seed: 'abc' }, 'seed'],
    ];
    for (const [body, param] of bad) {
      const res = await rawRequest(runtime, body);
      const label = JSON.stringify(body);
      expect(res.status, label).toBeLessThan(500);
      const err = await expectErrorResponse(res, 400, 'invalid_request');
      if (param !== undefined) expect(err.error.param, label).toBe(param);
    }
    const deep = `{"model":"tier-2","messages":[{"role":"user","content":"x"}],"metadata":${'{"a":'.repeat(200)}1${'}'.repeat(200)}}`;
    const deepRes = await rawRequest(runtime, deep);
    expect(deepRes.status).toBeLessThan(500);
    await expectErrorResponse(deepRes, 400, 'invalid_request');
  });
});
