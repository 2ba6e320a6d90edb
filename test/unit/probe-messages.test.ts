import { describe, expect, it } from 'vitest';
import { leakTerms } from '../../shared/probe/checks.js';
import { checkMessagesStream, requestIdOfMessage } from '../../shared/probe/messages-checks.js';

const TERMS = leakTerms(['anthropic/claude-3.5-haiku', 'openai/gpt-4o-mini']);

const event = (data: Record<string, unknown>, name = String(data.type)): string =>
  `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

const start = (overrides: Record<string, unknown> = {}) => ({
  type: 'message_start',
  message: {
    id: 'msg_0123abcd',
    type: 'message',
    role: 'assistant',
    model: 'tier-1',
    content: [],
    stop_reason: null,
    usage: { input_tokens: 12, output_tokens: 1, cache_creation_input_tokens: 3, cache_read_input_tokens: 5 },
    ...overrides,
  },
});
const delta = (usage: Record<string, unknown> = { output_tokens: 2 }) => ({
  type: 'message_delta',
  delta: { stop_reason: 'end_turn', stop_sequence: null },
  usage,
});

function stream(parts: { start?: unknown; delta?: unknown; end?: string } = {}): string {
  return [
    event((parts.start ?? start()) as Record<string, unknown>),
    event({ type: 'ping' }),
    event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    // Generated text may mention anything: it is not a leak.
    event({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'OK, says Anthropic' },
    }),
    event({ type: 'content_block_stop', index: 0 }),
    event((parts.delta ?? delta()) as Record<string, unknown>),
    parts.end ?? event({ type: 'message_stop' }),
  ].join('');
}

describe('probe checks: a streamed Messages answer', () => {
  it('fails a stream without text, or one that stopped as no answer does (a refusal, a tool call)', () => {
    const blank = stream().replace('OK, says Anthropic', ' ');
    expect(checkMessagesStream(blank, TERMS).problems).toEqual(['the answer has no text']);
    const refused = stream({
      delta: { type: 'message_delta', delta: { stop_reason: 'refusal' }, usage: { output_tokens: 2 } },
    });
    expect(checkMessagesStream(refused, TERMS).problems).toEqual([
      'the answer did not finish with stop or length',
    ]);
    const capped = stream({
      delta: { type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 2 } },
    });
    expect(checkMessagesStream(capped, TERMS).problems).toEqual([]);
  });

  it('accepts a conforming stream and reads the usage its client was told, cache tokens as input', () => {
    expect(checkMessagesStream(stream(), TERMS)).toEqual({
      problems: [],
      messageId: 'msg_0123abcd',
      reported: { inputTokens: 20, outputTokens: 2 },
    });
    expect(requestIdOfMessage('msg_0123abcd')).toBe('0123abcd');
  });

  it("takes message_delta's counts over message_start's (a usage the gateway estimated comes there)", () => {
    const estimated = stream({
      start: start({ usage: { input_tokens: 0, output_tokens: 0 } }),
      delta: delta({
        input_tokens: 30,
        output_tokens: 7,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      }),
    });
    expect(checkMessagesStream(estimated, TERMS).reported).toEqual({ inputTokens: 30, outputTokens: 7 });
  });

  it('flags a stream whose usage gives no input count, rather than reading it as zero', () => {
    const unmetered = stream({
      start: start({ usage: { output_tokens: 0 } }),
      delta: delta({ output_tokens: 7 }),
    });
    const { problems, reported } = checkMessagesStream(unmetered, TERMS);
    expect(problems).toEqual(['the stream reports no usage the gateway can meter']);
    expect(reported).toBeUndefined();
  });

  it('flags a stream cut by an error event, with no message_stop', () => {
    const cut = stream({
      delta: { type: 'error', error: { type: 'api_error', message: 'x' } },
      end: '',
    });
    const { problems, reported } = checkMessagesStream(cut, TERMS);
    expect(problems).toEqual(
      expect.arrayContaining([
        'the stream ended with an error event',
        'the stream does not end with message_stop',
        'the stream has no single message_delta with a stop reason and usage',
      ]),
    );
    expect(reported).toBeUndefined();
  });

  it('flags an upstream model or id, an event misnamed, an unknown type and an event that is not JSON', () => {
    const leaking = stream({ start: start({ model: 'claude-3.5-haiku' }) });
    expect(checkMessagesStream(leaking, TERMS).problems).toEqual(
      expect.arrayContaining([
        'the stream does not begin with a message_start naming the tier',
        'an event names an upstream model or provider',
      ]),
    );
    expect(
      checkMessagesStream(stream({ start: start({ id: 'msg_01X-upstream' }) }), TERMS).problems,
    ).toContain('the stream does not begin with a message_start naming the tier');
    const misnamed = stream().replace('event: ping', 'event: keepalive');
    expect(checkMessagesStream(misnamed, TERMS).problems).toEqual(['an event is not named as its type']);
    const unknown = stream()
      .replace('"type":"ping"', '"type":"vendor_event"')
      .replace('event: ping', 'event: vendor_event');
    expect(checkMessagesStream(unknown, TERMS).problems).toEqual([
      'an event has a type Anthropic does not define',
    ]);
    expect(checkMessagesStream('event: ping\ndata: {not json\n\n', TERMS).problems).toEqual([
      'an event is not JSON',
    ]);
    expect(checkMessagesStream('', TERMS).problems).toEqual(['the stream carried no events']);
  });

  it('flags a stream without content and one without a usage in its message_delta, and never quotes a value', () => {
    const empty = [event(start()), event(delta()), event({ type: 'message_stop' })].join('');
    expect(checkMessagesStream(empty, TERMS).problems).toEqual(['the stream carried no content']);
    const noUsage = stream({ delta: { type: 'message_delta', delta: { stop_reason: 'end_turn' } } });
    expect(checkMessagesStream(noUsage, TERMS).problems).toEqual([
      'the stream has no single message_delta with a stop reason and usage',
    ]);
    const secret = stream({ start: start({ model: 'openai/gpt-4o-mini' }) });
    expect(checkMessagesStream(secret, TERMS).problems.join()).not.toContain('gpt-4o-mini');
  });
});
