import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { cachingMessagesBody } from '../support/anthropic-helpers.js';
import { marker } from '../support/e2e-helpers.js';
import { chargeFor, createAccount } from '../support/money-helpers.js';
import { assertValid, validateChunk, validateCompletion } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Pricing through the official SDKs, as a client and an operator see it: the openai client reads
 * its charge in `usage.cost` next to the cached-token details, on a body and on a stream's final
 * chunk; the Anthropic client's cache reads are billed at the cache rate; `tiergate usage` and
 * `tiergate requests` show the cached, cache-write and reasoning tokens and the margin.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
});
afterAll(async () => {
  await runtime?.close();
});

type Item = Record<string, unknown>;

async function requestLog(accountId: string): Promise<Map<string, Item>> {
  await runtime.bus.drain();
  const { json } = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=100`);
  return new Map((json.requests as Item[]).map((i) => [String(i.requestId), i]));
}

async function cli(...argv: string[]): Promise<string> {
  let stdout = '';
  const code = await runCli(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: () => {},
    env: { TIERGATE_ADMIN_URL: runtime.adminUrl, TIERGATE_ADMIN_TOKEN: runtime.adminToken },
    readStdin: async () => '',
  });
  expect(code, `tiergate ${argv.join(' ')}`).toBe(0);
  return stdout;
}

/** What the OpenAI SDK's CompletionUsage carries beyond its type: OpenRouter's `cost`. */
type PricedUsage = OpenAI.CompletionUsage & {
  cost?: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number };
};

describe('pricing through the official SDKs', () => {
  it('gives the openai client its charge as usage.cost, with cache reads billed at their rate', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'sdk-openai', 5_000_000);
    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey, maxRetries: 0 });
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: `Review code. ${marker()} ${'Prefer small functions. '.repeat(250)}` },
      { role: 'user', content: 'tokens:7' },
    ];
    const { data: first, response } = await client.chat.completions
      .create({ model: 'balance', messages })
      .withResponse();
    assertValid(validateCompletion, first);
    const stream = await client.chat.completions.create({
      model: 'tier-2',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let final: OpenAI.ChatCompletionChunk | undefined;
    let id = '';
    for await (const chunk of stream) {
      assertValid(validateChunk, chunk);
      id = chunk.id;
      if (chunk.usage) final = chunk;
    }
    const written = first.usage as PricedUsage;
    const read = final?.usage as PricedUsage;
    expect(written.prompt_tokens_details?.cache_write_tokens).toBeGreaterThan(0);
    expect(read.prompt_tokens_details?.cached_tokens).toBe(written.prompt_tokens_details?.cache_write_tokens);

    const log = await requestLog(accountId);
    const firstItem = log.get(response.headers.get('x-request-id') ?? '');
    const readItem = log.get(id.replace(/^chatcmpl-/, ''));
    for (const [usage, item] of [
      [written, firstItem],
      [read, readItem],
    ] as const) {
      expect(item).toBeDefined();
      expect(usage.cost).toBe(Number(item?.chargeMicros) / 1_000_000);
      expect(item?.chargeMicros).toBe(
        chargeFor('tier-2', usage.prompt_tokens, 7, {
          cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
          cacheWriteTokens: usage.prompt_tokens_details?.cache_write_tokens ?? 0,
        }),
      );
    }
    // A cache hit costs the client less than the same prompt written.
    expect(read.cost).toBeLessThan(written.cost ?? 0);
  });

  it('bills the Anthropic client its cache reads at the cache rate, and the CLI shows them and the margin', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'sdk-anthropic', 5_000_000);
    const client = new Anthropic({ baseURL: runtime.url, apiKey, maxRetries: 0 });
    const tag = marker();
    const body = cachingMessagesBody(tag, false) as unknown as Anthropic.MessageCreateParamsNonStreaming;
    const first = await client.messages.create(body);
    const second = await client.messages.create(body);
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);

    const log = await requestLog(accountId);
    const hit = [...log.values()].find((i) => Number(i.cachedInputTokens) > 0);
    const prompt =
      second.usage.input_tokens +
      (second.usage.cache_read_input_tokens ?? 0) +
      (second.usage.cache_creation_input_tokens ?? 0);
    expect(hit).toMatchObject({
      inputTokens: prompt,
      cachedInputTokens: second.usage.cache_read_input_tokens,
    });
    expect(hit?.chargeMicros).toBe(
      chargeFor('tier-2', prompt, second.usage.output_tokens, {
        cachedInputTokens: second.usage.cache_read_input_tokens ?? 0,
      }),
    );

    const usage = (await cli('usage', '--account', accountId)).split('\n');
    expect(usage[2]).toMatch(
      /^TIER\s+REQUESTS\s+INPUT TOKENS\s+CACHED\s+CACHE WRITE\s+OUTPUT TOKENS\s+REASONING/,
    );
    const cached = Number(hit?.cachedInputTokens).toLocaleString('en-US');
    expect(usage[3]).toMatch(
      new RegExp(`^tier-2\\s+2\\s+[\\d,]+\\s+${cached}\\s+${cached}\\s+10\\s+0\\s+\\$`),
    );
    const requests = await cli('requests', '--account', accountId);
    expect(requests.split('\n')[0]).toMatch(/\bCACHED\s+WRITE\s+OUT\s+REASON\s+CHARGE\s+UPSTREAM\s+MARGIN\b/);
  });
});
