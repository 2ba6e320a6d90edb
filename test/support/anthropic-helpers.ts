import { readFileSync } from 'node:fs';
import type Anthropic from '@anthropic-ai/sdk';
import { Ajv, type ValidateFunction } from 'ajv';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  AnthropicMessagesDialect,
  type MessagesParsed,
} from '../../shared/dialects/anthropic-messages/dialect.js';
import { SseParser } from '../../shared/domain/sse.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import type { HttpRequest } from '../../shared/http.js';
import { assertValid } from './openai-schema.js';

/**
 * Validators for Anthropic's Messages shapes (test/fixtures/anthropic-messages-schema.json, written
 * from the published API reference), and a reader of the Messages event stream that keeps each
 * event's name next to its data.
 */

const schema = JSON.parse(
  readFileSync(new URL('../fixtures/anthropic-messages-schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(schema);

const validator = (name: string): ValidateFunction => {
  const v = ajv.getSchema(`anthropic-messages#/$defs/${name}`);
  if (!v) throw new Error(`schema ${name} not found`);
  return v;
};

export const validateMessage = validator('Message');
export const validateStreamEvent = validator('StreamEvent');
export const validateAnthropicError = validator('ErrorResponse');
export const validateTokenCount = validator('MessageTokensCount');

/** Throws with ajv's messages when `value` does not match; returns the value otherwise. */
export const assertAnthropic = assertValid;

export interface MessagesEvent {
  event: string | undefined;
  data: Record<string, unknown>;
}

/** Reads a Messages event stream to its end; the raw text is kept for leak scans. */
export async function readMessagesStream(res: Response): Promise<{ text: string; events: MessagesEvent[] }> {
  const parser = new SseParser();
  const events: MessagesEvent[] = [];
  const take = (parsed: Array<{ event: string | undefined; data: string }>) => {
    for (const e of parsed)
      events.push({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> });
  };
  const text = await res.text();
  take([...parser.push(text), ...parser.end()]);
  return { text, events };
}

/**
 * A Messages body whose long system prompt ends in a `cache_control` breakpoint, unique to `tag`:
 * the demo upstream writes it to its prompt cache the first time and reads it afterwards.
 */
export function cachingMessagesBody(tag: string, stream: boolean): Record<string, unknown> {
  return {
    model: 'claude-sonnet-4-5',
    max_tokens: 64,
    stream,
    system: [
      {
        type: 'text',
        text: `You are terse. ${tag} ${'policy '.repeat(300)}`,
        cache_control: { type: 'ephemeral' },
      },
    ],
    messages: [{ role: 'user', content: 'tokens:5' }],
  };
}

/** A raw Messages request with the `x-api-key` header, as Anthropic's clients send it. */
export function messagesRequest(
  runtime: LocalRuntime,
  body: unknown,
  {
    apiKey = runtime.apiKey,
    headers = {},
    path = '/v1/messages',
    signal,
  }: { apiKey?: string | null; headers?: Record<string, string>; path?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  return fetch(`${runtime.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      ...(apiKey === null ? {} : { 'x-api-key': apiKey }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** The tool the demo upstream calls when a prompt mentions the weather, in Anthropic's shape. */
export const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: {
    type: 'object' as const,
    properties: { location: { type: 'string' } },
    required: ['location'],
  },
};

/** Asks tier-3, with WEATHER_TOOL, `question`: the demo upstream answers with a call of the tool. */
export function askWithWeatherTool(client: Anthropic, question: Anthropic.MessageParam[]) {
  return client.messages.create({
    model: 'tier-3',
    max_tokens: 256,
    tools: [WEATHER_TOOL],
    messages: question,
  });
}

/** The Messages dialect with a fixed tool-id key, and requests for it: fixtures of the unit tests. */
export const unitToolIds = new ToolCallIds('unit test tool ids');
export const unitDialect = new AnthropicMessagesDialect(async () => unitToolIds);
export const BASE_BODY = { model: 'tier-2', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

export function httpRequest(body: unknown, headers: Record<string, string> = {}): HttpRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    method: 'POST',
    path: '/v1/messages',
    headers,
    query: {},
    body: text,
    bodyBytes: Buffer.byteLength(text),
  };
}

/** A parsed and prepared request, as the lifecycle hands it to the dialect. */
export async function preparedRequest(
  body: unknown = BASE_BODY,
  headers: Record<string, string> = {},
): Promise<MessagesParsed> {
  const parsed = unitDialect.parse(httpRequest(body, headers));
  await unitDialect.prepare(parsed);
  return parsed;
}
