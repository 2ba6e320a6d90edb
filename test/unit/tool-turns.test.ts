import { describe, expect, it } from 'vitest';
import { validateToolTurns as messagesToolTurns } from '../../shared/dialects/anthropic-messages/tool-turns.js';
import { validateToolTurns as chatToolTurns } from '../../shared/dialects/openai-chat/tool-turns.js';
import type { GatewayError } from '../../shared/domain/errors.js';
import type { Json } from '../../shared/domain/json-body.js';

function refusal(check: () => void): GatewayError | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    return err as GatewayError;
  }
}

const calls = (...ids: string[]): Json => ({
  role: 'assistant',
  tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'f', arguments: '{}' } })),
});
const answer = (id: string): Json => ({ role: 'tool', tool_call_id: id, content: 'ok' });
const user: Json = { role: 'user', content: 'hi' };

describe('chat: tool messages and the calls they answer', () => {
  it('passes a conversation in order, and leaves to the upstream what OpenAI may accept', () => {
    for (const messages of [
      [user],
      [user, calls('a', 'b'), answer('b'), answer('a'), { role: 'assistant', content: 'done' }, user],
      // Calls that end the conversation, or an id answered twice: the upstream's to judge.
      [user, calls('a')],
      [user, calls('a'), answer('a'), answer('a'), user],
      // A second round of calls after the first was answered.
      [user, calls('a'), answer('a'), calls('b'), answer('b')],
    ]) {
      expect(refusal(() => chatToolTurns(messages))).toBeUndefined();
    }
  });

  it('refuses a tool message that follows no call, naming its role', () => {
    for (const [messages, at] of [
      [[answer('a')], 0],
      [[user, calls('a'), answer('a'), user, answer('a')], 4],
      [[user, { role: 'assistant', content: 'no calls' }, answer('a')], 2],
      [[user, { role: 'assistant', tool_calls: [] }, answer('a')], 2],
    ] as const) {
      const err = refusal(() => chatToolTurns(messages as unknown as Json[]));
      expect(err?.status).toBe(400);
      expect(err?.param).toBe(`messages.[${at}].role`);
    }
  });

  it('refuses an answer to a call the assistant did not make, naming its tool_call_id', () => {
    const err = refusal(() => chatToolTurns([user, calls('a'), answer('z')]));
    expect(err?.param).toBe('messages.[2].tool_call_id');
    expect(err?.message).toContain("'z'");
  });

  it('refuses calls left unanswered when another message follows, listing each, at the calls', () => {
    const err = refusal(() =>
      chatToolTurns([user, calls('a', 'b', 'c'), answer('b'), { role: 'system', content: 'x' }]),
    );
    expect(err?.param).toBe('messages.[1].role');
    expect(err?.message).toMatch(/did not have response messages: a, c$/);
    const many = Array.from({ length: 12 }, (_, i) => `id${i}`);
    expect(refusal(() => chatToolTurns([user, calls(...many), user]))?.message).toMatch(
      /id0, id1, id2, id3, id4, id5, id6, id7, and 4 more$/,
    );
  });
});

const uses = (...ids: string[]) => ({
  role: 'assistant',
  content: ids.map((id) => ({ type: 'tool_use', id, name: 'f', input: {} })),
});
const results = (...ids: string[]) => ({
  role: 'user',
  content: ids.map((id) => ({ type: 'tool_result', tool_use_id: id })),
});
const text = (role: string) => ({ role, content: 'x' });

describe('messages: tool results and the tool uses they answer', () => {
  it('passes turns in order, consecutive messages of a role counting as one turn', () => {
    for (const messages of [
      [text('user')],
      [text('user'), uses('a', 'b'), results('b', 'a'), text('assistant')],
      [text('user'), uses('a'), text('assistant'), results('a')],
      [text('user'), uses('a', 'b'), results('a'), results('b'), text('user')],
      // Tool uses that end the conversation: the upstream's to judge.
      [text('user'), uses('a')],
      // Blocks of other kinds are not tool calls.
      [
        text('user'),
        { role: 'assistant', content: [{ type: 'server_tool_use', id: 's', name: 'web_search' }] },
        text('user'),
      ],
    ]) {
      expect(refusal(() => messagesToolTurns(messages))).toBeUndefined();
    }
  });

  it('refuses a tool_result answering no tool_use of the turn before, naming the block', () => {
    for (const [messages, param] of [
      [[results('a')], 'messages.0.content.0'],
      [[text('user'), uses('a'), results('a'), text('assistant'), results('a')], 'messages.4.content.0'],
      [
        [
          text('user'),
          uses('a'),
          { role: 'user', content: [{ type: 'text', text: 'x' }, ...results('a', 'z').content] },
        ],
        'messages.2.content.2',
      ],
    ] as const) {
      const err = refusal(() => messagesToolTurns(messages));
      expect(err?.status).toBe(400);
      expect(err?.param).toBe(`${param}.tool_use_id`);
      expect(err?.message.startsWith(`${param}: unexpected \`tool_use_id\``)).toBe(true);
    }
  });

  it('refuses tool uses the next turn leaves unanswered, at the message that made the first of them', () => {
    const err = refusal(() => messagesToolTurns([text('user'), uses('a'), uses('b', 'c'), results('b')]));
    expect(err?.param).toBe('messages.1');
    expect(err?.message).toContain('immediately after: a, c.');
    expect(refusal(() => messagesToolTurns([text('user'), uses('a'), text('user')]))?.param).toBe(
      'messages.1',
    );
  });
});
