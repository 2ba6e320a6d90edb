import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  openToolUseIds,
  parseMessagesRequest,
  resolveMessagesTier,
} from '../../shared/dialects/anthropic-messages/request.js';
import type { GatewayError } from '../../shared/domain/errors.js';
import { MEDIA_TOKEN_ALLOWANCE } from '../../shared/domain/media-allowance.js';
import { HttpUpstream } from '../../shared/upstreams/openai-http.js';
import {
  BASE_BODY as base,
  unitDialect as dialect,
  unitToolIds as ids,
  preparedRequest as prepared,
  httpRequest as request,
} from '../support/anthropic-helpers.js';

/** The Messages dialect's side of a request: model names, validation, media, the upstream call. */

const MODEL = { id: 'anthropic/claude-sonnet-4', cost: { inputMicrosPerMTok: 1, outputMicrosPerMTok: 1 } };

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('did not throw');
}

describe('model names', () => {
  it('resolves tier ids, aliases and Claude family names, case ignored', () => {
    const cases: Array<[string, string | undefined]> = [
      ['tier-1', 'tier-1'],
      ['TIER-4', 'tier-4'],
      ['balance', 'tier-2'],
      ['Intelligence', 'tier-3'],
      ['claude-3-5-haiku-latest', 'tier-1'],
      ['claude-sonnet-4-5-20250929', 'tier-2'],
      ['CLAUDE-OPUS-4-1', 'tier-3'],
      ['anthropic/claude-Haiku-4.5', 'tier-1'],
      ['gpt-4o', undefined],
      ['claude-instant-1.2', undefined],
      ['', undefined],
    ];
    for (const [name, tier] of cases) expect(resolveMessagesTier(name), name).toBe(tier);
  });
});

describe('parsing a Messages request', () => {
  it('requires max_tokens and names unknown top-level fields', () => {
    const { max_tokens: _omit, ...noMax } = base;
    expect(thrown(() => parseMessagesRequest(noMax))).toMatchObject({ status: 400, param: 'max_tokens' });
    const unknown = thrown(() => parseMessagesRequest({ ...base, provider: {}, fallbacks: [] }));
    expect(unknown).toMatchObject({ status: 400, param: 'provider' });
    expect(unknown.message).toContain('provider, fallbacks');
  });

  it('refuses a thinking budget Anthropic would refuse: under 1,024 or not an integer', () => {
    const withBudget = (budget: unknown, max = 4_096) =>
      thrown(() =>
        parseMessagesRequest({
          ...base,
          max_tokens: max,
          thinking: { type: 'enabled', budget_tokens: budget },
        }),
      );
    expect(withBudget(1_023)).toMatchObject({ status: 400, param: 'thinking.budget_tokens' });
    expect(withBudget('2048')).toMatchObject({ status: 400, param: 'thinking.budget_tokens' });
    expect(withBudget(undefined)).toMatchObject({ status: 400, param: 'thinking.budget_tokens' });
    // Valid budgets pass, above max_tokens too (interleaved thinking), as do disabled thinking and
    // count_tokens (which has no max_tokens).
    const thinking = { type: 'enabled', budget_tokens: 31_999 };
    expect(parseMessagesRequest({ ...base, max_tokens: 32_000, thinking }).body.thinking).toEqual(thinking);
    const interleaved = { type: 'enabled', budget_tokens: 63_999 };
    expect(
      parseMessagesRequest({ ...base, max_tokens: 32_000, thinking: interleaved }).body.thinking,
    ).toEqual(interleaved);
    expect(parseMessagesRequest({ ...base, thinking: { type: 'disabled' } }).body.thinking).toEqual({
      type: 'disabled',
    });
    const { max_tokens: _omit, ...counted } = base;
    expect(
      parseMessagesRequest({ ...counted, thinking: { type: 'enabled', budget_tokens: 10 } }, { count: true }),
    ).toBeDefined();
  });

  it('checks the documented types before the model, so a bad body is a 400 whatever the model', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...base, max_tokens: 0 }, 'max_tokens'],
      [{ ...base, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...base, model: 7 }, 'model'],
      [{ ...base, messages: [] }, 'messages'],
      [{ ...base, messages: [{ role: 'system', content: 'x' }] }, 'messages.0.role'],
      [{ ...base, messages: [{ role: 'user', content: [{ text: 'no type' }] }] }, 'messages.0.content'],
      [{ ...base, temperature: 1.5 }, 'temperature'],
      [{ ...base, top_k: -1 }, 'top_k'],
      [{ ...base, stop_sequences: 'END' }, 'stop_sequences'],
      [{ ...base, system: [{ type: 'image' }] }, 'system'],
      [{ ...base, tools: {} }, 'tools'],
      [{ ...base, stream: 'yes' }, 'stream'],
      [{ ...base, tool_choice: 'auto' }, 'tool_choice'],
      [{ ...base, model: 'gpt-4o', thinking: 'on' }, 'thinking'],
    ];
    for (const [body, param] of bad) {
      expect(
        thrown(() => parseMessagesRequest(body)),
        param,
      ).toMatchObject({ status: 400, param });
    }
    expect(thrown(() => parseMessagesRequest({ ...base, model: 'gpt-4o' }))).toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });

  it('counts image and document blocks, inline bytes apart, in messages and tool results, held as on chat', () => {
    const png = 'iVBORw0KGgo'.repeat(100);
    const parsed = parseMessagesRequest({
      ...base,
      stream: true,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } },
            { type: 'document', source: { type: 'url', url: 'https://example.com/big.pdf' } },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain words' } },
            { type: 'text', text: 'what is this?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'look', input: {} }] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't',
              content: [{ type: 'image', source: { type: 'base64', data: png } }],
            },
          ],
        },
      ],
    });
    expect(parsed).toMatchObject({ tier: 'tier-2', stream: true, requestedMaxTokens: 100, choices: 1 });
    expect(parsed.mediaParts).toBe(6);
    expect(parsed.inlineMediaBytes).toBe(2 * png.length + 'JVBERi0x'.length);
    // An image at the image allowance, a PDF (inline or by URL) at the file allowance, as chat
    // holds them: neither a URL nor a PDF's bytes bound its tokens. Plain text is bound by its bytes.
    expect(parsed.mediaTokenBound).toBe(3 * MEDIA_TOKEN_ALLOWANCE.image + 2 * MEDIA_TOKEN_ALLOWANCE.file);
  });

  it('refuses what the upstream bills beyond the tier price, saying why, and forwards the rest', () => {
    const refused: [Record<string, unknown>, string][] = [
      [{ service_tier: 'priority' }, 'service_tier'],
      [{ speed: 'fast' }, 'speed'],
      [{ inference_geo: 'us' }, 'inference_geo'],
      [{ mcp_servers: [{ type: 'url', url: 'https://mcp.example.com', name: 'x' }] }, 'mcp_servers'],
      [{ container: 'container_011' }, 'container'],
      [
        {
          tools: [
            { name: 'f', input_schema: {} },
            { type: 'web_search_20250305', name: 'web_search' },
          ],
        },
        'tools.1.type',
      ],
      [{ tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }] }, 'tools.0.type'],
      [{ tools: [{ type: 'code_execution_20250825', name: 'code_execution' }] }, 'tools.0.type'],
    ];
    for (const [fields, param] of refused) {
      const err = thrown(() => parseMessagesRequest({ ...base, ...fields }));
      expect(err, param).toMatchObject({ status: 400, code: 'invalid_request', param });
      expect(err.message).toMatch(/not available through this gateway: .+(price|hold)/);
    }
    // A refused value is repeated in the message, but never a huge one whole.
    const huge = thrown(() => parseMessagesRequest({ ...base, inference_geo: 'Z'.repeat(1_000_000) }));
    expect(huge.message).toContain(`'inference_geo: "${'Z'.repeat(63)}…'`);
    expect(huge.message.length).toBeLessThan(400);
    const accepted = {
      ...base,
      service_tier: 'standard_only',
      speed: 'standard',
      inference_geo: 'global',
      tools: [
        { name: 'f', input_schema: { type: 'object' } },
        { type: 'custom', name: 'g', input_schema: {} },
        { type: 'bash_20250124', name: 'bash' },
        { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
      ],
    };
    expect(parseMessagesRequest(accepted).body).toBe(accepted);
    // count_tokens generates nothing, so nothing in it is billed beyond its count.
    const { max_tokens: _omit, ...prompt } = base;
    expect(() =>
      parseMessagesRequest({ ...prompt, speed: 'fast', mcp_servers: [] }, { count: true }),
    ).not.toThrow();
  });

  it('takes the prompt fields only for count_tokens', () => {
    const { max_tokens: _omit, ...prompt } = base;
    expect(parseMessagesRequest({ ...prompt, system: 'be brief' }, { count: true })).toMatchObject({
      tier: 'tier-2',
      stream: false,
      requestedMaxTokens: undefined,
    });
    expect(thrown(() => parseMessagesRequest(base, { count: true }))).toMatchObject({ param: 'max_tokens' });
    expect(thrown(() => parseMessagesRequest({ ...prompt, stream: true }, { count: true }))).toMatchObject({
      param: 'stream',
    });
  });

  it('opens sealed tool-use ids in tool uses and tool results, and leaves other ids alone', () => {
    const sealed = ids.seal('toolu_01abc');
    const messages = [
      { role: 'assistant', content: [{ type: 'tool_use', id: sealed, name: 'f', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: sealed },
          { type: 'tool_result', tool_use_id: 'client-made' },
        ],
      },
    ];
    openToolUseIds(messages, (id) => ids.open(id));
    expect(messages[0]?.content[0]).toMatchObject({ id: 'toolu_01abc' });
    expect(messages[1]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'toolu_01abc' },
      { type: 'tool_result', tool_use_id: 'client-made' },
    ]);
  });
});

describe('the upstream call', () => {
  it('rewrites only model and max_tokens, forwards the protocol headers and asks for x-api-key', async () => {
    const system = [{ type: 'text', text: 'rules', cache_control: { type: 'ephemeral' } }];
    const parsed = await prepared(
      { ...base, system, stream: true, metadata: { user_id: 'u1' } },
      { 'anthropic-beta': 'a-2025-01-01,b-2025-02-02', 'x-api-key': 'ignored' },
    );
    const call = dialect.upstreamRequest(parsed, MODEL, 42);
    expect(call).toEqual({
      path: '/messages',
      body: { ...base, system, stream: true, metadata: { user_id: 'u1' }, model: MODEL.id, max_tokens: 42 },
      headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'a-2025-01-01,b-2025-02-02' },
      auth: 'bearer+x-api-key',
    });
    const versioned = await prepared(base, { 'anthropic-version': '2024-01-01' });
    expect(dialect.upstreamRequest(versioned, MODEL, 1).headers).toEqual({
      'anthropic-version': '2024-01-01',
    });
  });

  it('lowers a thinking budget with max_tokens when the gateway caps the output, never under 1,024', async () => {
    const thinking = { type: 'enabled', budget_tokens: 16_000 };
    const parsed = await prepared({ ...base, max_tokens: 32_000, thinking });
    const sent = (cap: number) => dialect.upstreamRequest(parsed, MODEL, cap).body;
    expect(sent(4_096)).toMatchObject({
      max_tokens: 4_096,
      thinking: { type: 'enabled', budget_tokens: 4_095 },
    });
    expect(sent(20_000)).toMatchObject({ max_tokens: 20_000, thinking });
    expect(sent(600)).toMatchObject({ thinking: { budget_tokens: 1_024 } });
    // The client's own body is left as it came (a retry on another model starts from it again).
    expect(parsed.body.thinking).toEqual(thinking);
    const disabled = await prepared({ ...base, thinking: { type: 'disabled' } });
    expect(dialect.upstreamRequest(disabled, MODEL, 10).body.thinking).toEqual({ type: 'disabled' });
  });

  it('reads the key from x-api-key, else from a bearer token', () => {
    expect(dialect.credentials(request(base, { 'x-api-key': 'tg-a', authorization: 'Bearer tg-b' }))).toBe(
      'tg-a',
    );
    expect(dialect.credentials(request(base, { authorization: 'Bearer tg-b' }))).toBe('tg-b');
    expect(dialect.credentials(request(base))).toBeUndefined();
  });

  it('sends the upstream key as x-api-key only when the request asks for it', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const server = createServer((req, res) => {
      seen.push({ ...req.headers });
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const upstream = new HttpUpstream({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey: async () => 'sk-up',
      });
      const signal = new AbortController().signal;
      await upstream.send(
        { path: '/messages', body: {}, headers: { 'anthropic-version': 'v' }, auth: 'bearer+x-api-key' },
        signal,
      );
      await upstream.send({ path: '/chat/completions', body: {} }, signal);
      expect(seen[0]).toMatchObject({
        authorization: 'Bearer sk-up',
        'x-api-key': 'sk-up',
        'anthropic-version': 'v',
      });
      expect(seen[1]).toMatchObject({ authorization: 'Bearer sk-up' });
      expect(seen[1]?.['x-api-key']).toBeUndefined();
    } finally {
      server.close();
    }
  });
});

describe('content blocks', () => {
  const request = (content: unknown[]) => ({
    model: 'tier-1',
    max_tokens: 16,
    messages: [{ role: 'user', content }],
  });
  const refusal = (content: unknown[]) => {
    try {
      parseMessagesRequest(request(content));
    } catch (err) {
      return err as { status: number; param: string; message: string };
    }
    throw new Error('not refused');
  };

  it('refuses a known block without the field it cannot do without, naming it, before any upstream call', () => {
    const cases: Array<[unknown[], string]> = [
      [[{ type: 'text', text: 5 }], 'messages.0.content.0.text'],
      [
        [
          { type: 'text', text: 'ok' },
          { type: 'image', source: null },
        ],
        'messages.0.content.1.source',
      ],
      [[{ type: 'document' }], 'messages.0.content.0.source'],
      [[{ type: 'tool_use', id: 'toolu_1', name: 'f', input: 'x' }], 'messages.0.content.0.input'],
      [[{ type: 'tool_result', content: 'ok' }], 'messages.0.content.0.tool_use_id'],
      [
        [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text' }] }],
        'messages.0.content.0.content.0.text',
      ],
      [[{ type: 'tool_result', tool_use_id: 't', content: 5 }], 'messages.0.content.0.content'],
      [[{ type: 'thinking', signature: 's' }], 'messages.0.content.0.thinking'],
    ];
    for (const [content, param] of cases) {
      const err = refusal(content);
      expect(err, param).toMatchObject({ status: 400, param });
      expect(err.message).toContain(param);
    }
  });

  it('passes well-formed blocks, and blocks of kinds it does not know, as they are', () => {
    const content = [
      { type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
      { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'sunny' }] },
      { type: 'tool_result', tool_use_id: 'u' },
      { type: 'thinking', thinking: 'hmm', signature: 's' },
      { type: 'some_future_block', anything: 1 },
    ];
    const calls = [
      { type: 'tool_use', id: 't', name: 'weather', input: {} },
      { type: 'tool_use', id: 'u', name: 'weather', input: {} },
    ];
    const body = request(content);
    body.messages = [{ role: 'assistant', content: calls }, ...body.messages];
    expect(() => parseMessagesRequest(body)).not.toThrow();
  });
});
