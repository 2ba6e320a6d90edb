import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { askWithWeatherTool, assertAnthropic, validateAnthropicError } from '../support/anthropic-helpers.js';
import { marker, upstreamRequestsWith } from '../support/e2e-helpers.js';
import { expectUntouched, ownAccount, runtime, useHostileInputRuntime } from '../support/hostile-input.js';
import { assertValid, validateError } from '../support/openai-schema.js';

/**
 * Tool calls and their results out of order, as a client's compaction or a bug may leave a
 * conversation: a 400 in each surface's shape, through its official SDK, naming the rule and
 * where it was broken, before any hold or upstream call; a conversation in order still goes through.
 */

useHostileInputRuntime();

const call = (id: string) => ({
  id,
  type: 'function' as const,
  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
});

async function rejection<E extends Error>(
  promise: Promise<unknown>,
  kind: abstract new (...a: never[]) => E,
) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(kind);
  return err as E;
}

describe('chat completions: tool messages out of order', () => {
  const cases: Array<[string, (tag: string) => ChatCompletionMessageParam[], string, RegExp]> = [
    [
      'a tool message with no call before it',
      (tag) => [
        { role: 'user', content: tag },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
      'messages.[1].role',
      /messages with role 'tool' must be a response to a preceeding message with 'tool_calls'/,
    ],
    [
      'a tool message answering a call that was not made',
      (tag) => [
        { role: 'user', content: tag },
        { role: 'assistant', tool_calls: [call('call_1')] },
        { role: 'tool', tool_call_id: 'call_9', content: 'sunny' },
      ],
      'messages.[2].tool_call_id',
      /'tool_call_id' of 'call_9' not found in 'tool_calls' of previous message\./,
    ],
    [
      'a call left unanswered before the next user message',
      (tag) => [
        { role: 'user', content: tag },
        { role: 'assistant', tool_calls: [call('call_1'), call('call_2')] },
        { role: 'tool', tool_call_id: 'call_2', content: 'sunny' },
        { role: 'user', content: 'and tomorrow?' },
      ],
      'messages.[1].role',
      /did not have response messages: call_1$/,
    ],
  ];

  it.each(cases)(
    '%s is a BadRequestError naming the message, and costs nothing',
    async (_, messages, param, text) => {
      const { accountId, key, before } = await ownAccount('tool-turns-chat');
      const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: key, maxRetries: 0 });
      const tag = marker();
      for (const stream of [false, true]) {
        const err = await rejection(
          client.chat.completions.create({ model: 'tier-1', messages: messages(tag), stream }),
          OpenAI.BadRequestError,
        );
        expect(err.status).toBe(400);
        expect(err.param).toBe(param);
        expect(err.type).toBe('invalid_request_error');
        expect(err.message).toMatch(text);
        assertValid(validateError, { error: err.error });
      }
      expect(upstreamRequestsWith(runtime, tag)).toEqual([]);
      await expectUntouched(accountId, before);
    },
  );

  it('parallel calls answered in any order, then a user message, go through', async () => {
    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 });
    const tag = marker();
    const reply = await client.chat.completions.create({
      model: 'tier-1',
      messages: [
        { role: 'user', content: tag },
        { role: 'assistant', tool_calls: [call('call_1'), call('call_2')] },
        { role: 'tool', tool_call_id: 'call_2', content: 'rain' },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'assistant', content: 'Sunny, then rain.' },
        { role: 'user', content: 'thanks' },
      ],
    });
    expect(reply.choices[0]?.message.role).toBe('assistant');
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(1);
  });
});

describe('messages: tool results out of order', () => {
  const use = (id: string) => ({
    type: 'tool_use' as const,
    id,
    name: 'get_weather',
    input: { city: 'Paris' },
  });
  const result = (id: string) => ({ type: 'tool_result' as const, tool_use_id: id, content: 'sunny' });
  const cases: Array<[string, (tag: string) => Anthropic.MessageParam[], string, RegExp]> = [
    [
      'a tool_result with no tool_use before it',
      (tag) => [{ role: 'user', content: [{ type: 'text', text: tag }, result('toolu_1')] }],
      'messages.0.content.1',
      /unexpected `tool_use_id` found in `tool_result` blocks: toolu_1\. Each `tool_result` block must have a corresponding `tool_use` block in the previous message\./,
    ],
    [
      'a tool_use left without its tool_result in the next message',
      (tag) => [
        { role: 'user', content: tag },
        { role: 'assistant', content: [use('toolu_1'), use('toolu_2')] },
        { role: 'user', content: [result('toolu_1')] },
      ],
      'messages.1',
      /`tool_use` ids were found without `tool_result` blocks immediately after: toolu_2\. Each `tool_use` block must have a corresponding `tool_result` block in the next message\./,
    ],
  ];

  it.each(cases)(
    '%s is a BadRequestError naming the message, and costs nothing',
    async (_, messages, at, text) => {
      const { accountId, key, before } = await ownAccount('tool-turns-messages');
      const client = new Anthropic({ baseURL: runtime.url, apiKey: key, maxRetries: 0 });
      const tag = marker();
      for (const stream of [false, true]) {
        const err = await rejection(
          client.messages.create({ model: 'tier-1', max_tokens: 16, messages: messages(tag), stream }),
          Anthropic.BadRequestError,
        );
        expect(err.status).toBe(400);
        assertAnthropic(validateAnthropicError, err.error);
        const body = err.error as { error: { type: string; message: string } };
        expect(body.error.type).toBe('invalid_request_error');
        expect(body.error.message.startsWith(`${at}: `)).toBe(true);
        expect(body.error.message).toMatch(text);
      }
      // count_tokens answers the same rule, as the API does.
      const counted = await rejection(
        client.messages.countTokens({ model: 'tier-1', messages: messages(tag) }),
        Anthropic.BadRequestError,
      );
      expect(counted.message).toMatch(text);
      expect(upstreamRequestsWith(runtime, tag)).toEqual([]);
      await expectUntouched(accountId, before);
    },
  );

  it('a tool_result answering the tool_use before it, then text in a second user message (one turn), goes through', async () => {
    const client = new Anthropic({ baseURL: runtime.url, apiKey: runtime.apiKey, maxRetries: 0 });
    const tag = marker();
    const question: Anthropic.MessageParam[] = [
      { role: 'user', content: `What is the weather in Paris? ${tag}` },
    ];
    const first = await askWithWeatherTool(client, question);
    const asked = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(asked).toBeDefined();
    const reply = await askWithWeatherTool(client, [
      ...question,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: asked?.id ?? '', content: 'sunny' }] },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    expect(reply.role).toBe('assistant');
    expect(upstreamRequestsWith(runtime, tag)).toHaveLength(2);
  });
});
