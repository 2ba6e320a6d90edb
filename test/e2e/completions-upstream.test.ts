import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { TIER_ALIASES, TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import {
  marker,
  primaryModel,
  servedUpstreamRequest,
  upstreamRequestsWith,
  WEATHER_TOOL,
} from '../support/e2e-helpers.js';
import { client, runtime, useOpenAiRuntime } from '../support/openai-runtime.js';
import { assertValid, validateCompletion } from '../support/openai-schema.js';
import { admin } from '../support/runtime.js';

useOpenAiRuntime({
  // Holds are not settled in these tests; enough credit that the tier-3/4 output caps stay affordable.
  demoCreditUsd: 100,
});

describe('parameter pass-through', () => {
  it('forwards the OpenAI parameters and sends the catalog model id instead of the tier', async () => {
    const tag = marker();
    const params = {
      temperature: 0.3,
      top_p: 0.9,
      stop: ['END', 'STOP'],
      seed: 42,
      max_tokens: 50,
      response_format: { type: 'json_object' as const },
      user: 'user-1234',
      logprobs: true,
      top_logprobs: 2,
      tools: [WEATHER_TOOL],
      tool_choice: 'none' as const,
      n: 2,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      parallel_tool_calls: false,
    };
    const res = await client.chat.completions.create({
      model: 'tier-2',
      messages: [
        { role: 'system', content: 'Answer in JSON.' },
        { role: 'user', content: `pass ${tag} tokens:5` },
      ],
      ...params,
    });
    assertValid(validateCompletion, res);
    expect(res.choices).toHaveLength(2);

    const sent = servedUpstreamRequest(runtime, tag);
    expect(sent.model).toBe(primaryModel('tier-2'));
    expect(sent.body.model).toBe(primaryModel('tier-2'));
    for (const [name, value] of Object.entries(params)) {
      expect(sent.body[name], `upstream ${name}`).toEqual(value);
    }
    expect(sent.body.messages).toEqual([
      { role: 'system', content: 'Answer in JSON.' },
      { role: 'user', content: `pass ${tag} tokens:5` },
    ]);
    expect(JSON.stringify(sent.body)).not.toContain('tier-2');
    expect(sent.stream).toBe(false);
    expect(sent.body.stream_options).toBeUndefined();
  });

  it('never sends the tier name upstream, for any tier or alias', async () => {
    for (const name of [...TIER_IDS, ...Object.keys(TIER_ALIASES)]) {
      const tag = marker();
      await client.chat.completions.create({
        model: name,
        max_tokens: 16,
        messages: [{ role: 'user', content: `which ${tag} tokens:2` }],
      });
      for (const r of upstreamRequestsWith(runtime, tag)) {
        expect(r.model, name).not.toBe(name);
        expect(
          DEFAULT_CATALOG.tiers[TIER_ALIASES[name] ?? (name as TierId)].models.map((m) => m.id),
        ).toContain(r.model);
      }
    }
  });

  it('lowers max_tokens and max_completion_tokens above the tier cap to the cap', async () => {
    const cap = DEFAULT_CATALOG.tiers['tier-1'].maxOutputTokens;
    const tag = marker();
    await client.chat.completions.create({
      model: 'tier-1',
      max_tokens: cap * 10,
      messages: [{ role: 'user', content: `cap ${tag} tokens:3` }],
    });
    expect(servedUpstreamRequest(runtime, tag).body.max_tokens).toBe(cap);

    const tag2 = marker();
    await client.chat.completions.create({
      model: 'tier-1',
      max_completion_tokens: cap + 1,
      messages: [{ role: 'user', content: `cap ${tag2} tokens:3` }],
    });
    const body2 = servedUpstreamRequest(runtime, tag2).body;
    const sentCap = body2.max_completion_tokens ?? body2.max_tokens;
    expect(sentCap).toBe(cap);

    const tag3 = marker();
    await client.chat.completions.create({
      model: 'tier-1',
      max_tokens: 7,
      messages: [{ role: 'user', content: `cap ${tag3} tokens:3` }],
    });
    expect(servedUpstreamRequest(runtime, tag3).body.max_tokens).toBe(7);

    // A client that sends no cap still gets the tier's cap upstream.
    const tag4 = marker();
    await client.chat.completions.create({
      model: 'tier-1',
      messages: [{ role: 'user', content: `cap ${tag4} tokens:3` }],
    });
    // As max_completion_tokens, which reasoning models require (they refuse max_tokens).
    const body4 = servedUpstreamRequest(runtime, tag4).body;
    expect(body4.max_completion_tokens).toBe(cap);
    expect(body4).not.toHaveProperty('max_tokens');
  });
});

describe('wallet-limited output cap', () => {
  it('lowers the output cap to what a small balance covers instead of failing', async () => {
    const creditMicros = 1_000; // $0.001: less than the tier-1 hold for its full 4096-token cap
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'small', creditUsd: 0.001 });
    expect(created.status).toBe(201);
    const key = (created.json.apiKey as { key: string }).key;
    const small = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: key, maxRetries: 0 });
    const tag = marker();
    const res = await small.chat.completions.create({
      model: 'tier-1',
      messages: [{ role: 'user', content: `small ${tag} tokens:3` }],
    });
    assertValid(validateCompletion, res);
    expect(res.model).toBe('tier-1');
    const price = DEFAULT_CATALOG.tiers['tier-1'].price;
    const sent = servedUpstreamRequest(runtime, tag).body.max_completion_tokens as number;
    // The cap sent upstream is what the wallet can pay for: below the tier cap, above the minimum.
    expect(sent).toBeLessThan(DEFAULT_CATALOG.tiers['tier-1'].maxOutputTokens);
    expect(sent).toBeGreaterThanOrEqual(16);
    expect(sent * price.outputUsdPerMTok).toBeLessThanOrEqual(creditMicros);
  });
});
