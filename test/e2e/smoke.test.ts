import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { assertValid, validateChunk, validateCompletion } from '../support/openai-schema.js';
import { startTestRuntime } from '../support/runtime.js';

let runtime: LocalRuntime;
let client: OpenAI;

beforeAll(async () => {
  runtime = await startTestRuntime();
  client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 });
});
afterAll(async () => {
  await runtime?.close();
});

describe('smoke', () => {
  it('serves a non-streaming completion for tier-2', async () => {
    const res = await client.chat.completions.create({
      model: 'tier-2',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assertValid(validateCompletion, res);
    expect(res.model).toBe('tier-2');
  });
  it('streams a completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'speed',
      stream: true,
      messages: [{ role: 'user', content: 'hi tokens:5' }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(assertValid(validateChunk, c));
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((c) => c.model === 'tier-1')).toBe(true);
  });
});
