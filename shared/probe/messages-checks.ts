import * as z from 'zod/v4';
import { SseParser } from '../domain/sse.js';
import { normaliseUsage } from '../domain/usage-normalise.js';
import { answerProblems, bodyLeaks, PROBE_TIER } from './checks.js';

/**
 * What the Messages step checks in a streamed Anthropic Messages answer, as a pure function: the event grammar,
 * the gateway's id and tier, the usage the client is told, and that nothing names an upstream. Problems are
 * short texts that quote no response content.
 */

/** The token counts a Messages client was told, normalised as the gateway bills them (cache tokens are input). */
export interface ReportedTokens {
  inputTokens: number;
  outputTokens: number;
}

export interface MessagesStreamCheck {
  problems: string[];
  /** The message id (`msg_<request id>`), when the stream started. */
  messageId?: string;
  /** The usage of message_start, updated by message_delta's, when both came. */
  reported?: ReportedTokens;
}

const count = z.number().int().nonnegative();
const usage = z.object({
  input_tokens: count.optional(),
  output_tokens: count.optional(),
  cache_creation_input_tokens: count.nullable().optional(),
  cache_read_input_tokens: count.nullable().optional(),
});
type Usage = z.infer<typeof usage>;

const messageStart = z.object({
  type: z.literal('message_start'),
  message: z.object({
    id: z.string().regex(/^msg_[A-Za-z0-9]+$/),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.literal(PROBE_TIER),
    content: z.array(z.unknown()),
    usage,
  }),
});
const messageDelta = z.object({
  type: z.literal('message_delta'),
  delta: z.object({ stop_reason: z.string() }),
  usage: usage.extend({ output_tokens: count }),
});
const EVENT_TYPES = new Set([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
]);

interface StreamEvent {
  name: string | undefined;
  data: Record<string, unknown>;
}

function parseEvents(text: string): StreamEvent[] | string {
  const parser = new SseParser();
  const events: StreamEvent[] = [];
  for (const { event, data } of [...parser.push(text), ...parser.end()]) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return 'an event is not JSON';
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return 'an event is not an object';
    events.push({ name: event, data: parsed as Record<string, unknown> });
  }
  return events;
}

const merged = (a: Usage, b: Usage): Usage => ({
  ...a,
  ...Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined && v !== null)),
});

/**
 * A streamed answer: message_start first (gateway id, the tier as model), content, one message_delta with a stop
 * reason and usage, message_stop last; every event named as its type; no error event; no upstream names.
 */
export function checkMessagesStream(text: string, terms: readonly string[]): MessagesStreamCheck {
  const events = parseEvents(text);
  if (typeof events === 'string') return { problems: [events] };
  if (events.length === 0) return { problems: ['the stream carried no events'] };
  const problems: string[] = [];
  const types = events.map((e) => String(e.data.type));
  if (types.includes('error')) problems.push('the stream ended with an error event');
  if (events.some((e) => e.name !== e.data.type)) problems.push('an event is not named as its type');
  const unknown = types.find((type) => !EVENT_TYPES.has(type) && type !== 'error');
  if (unknown !== undefined) problems.push('an event has a type Anthropic does not define');
  const start = messageStart.safeParse(events[0]?.data);
  if (!start.success) problems.push('the stream does not begin with a message_start naming the tier');
  if (types.at(-1) !== 'message_stop') problems.push('the stream does not end with message_stop');
  const deltas = events.filter((e) => e.data.type === 'message_delta');
  const delta = messageDelta.safeParse(deltas[0]?.data);
  if (deltas.length !== 1 || !delta.success) {
    problems.push('the stream has no single message_delta with a stop reason and usage');
  }
  if (!types.includes('content_block_delta')) problems.push('the stream carried no content');
  else if (delta.success) {
    // As on chat: some text, and a stop a model that answered gives (end_turn or the cap).
    const finish = STOP_AS_FINISH[delta.data.delta.stop_reason];
    problems.push(...answerProblems(streamedText(events), finish));
  }
  for (const event of events) {
    const leaks = bodyLeaks(event.data, terms);
    if (leaks.length > 0) {
      problems.push(...leaks.map((leak) => `an event ${leak}`));
      break;
    }
  }
  if (!start.success) return { problems };
  const messageId = start.data.message.id;
  if (!delta.success) return { problems, messageId };
  // Read as the gateway meters an Anthropic usage block (input counts the cache reads and writes).
  const usage = normaliseUsage(merged(start.data.message.usage, delta.data.usage));
  if (!usage) {
    problems.push('the stream reports no usage the gateway can meter');
    return { problems, messageId };
  }
  const reported = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
  return { problems, messageId, reported };
}

/** Anthropic's stop reasons of an answer, as chat's finish reasons. */
const STOP_AS_FINISH: Readonly<Record<string, string>> = { end_turn: 'stop', max_tokens: 'length' };

/** The text of the stream's text deltas, joined. */
function streamedText(events: readonly StreamEvent[]): string {
  let text = '';
  for (const { data } of events) {
    const delta = data.type === 'content_block_delta' ? (data.delta as Record<string, unknown>) : undefined;
    if (delta?.type === 'text_delta' && typeof delta.text === 'string') text += delta.text;
  }
  return text;
}

/** The gateway's request id from a Messages id (`msg_<request id>`). */
export function requestIdOfMessage(messageId: string | undefined): string | undefined {
  return messageId?.startsWith('msg_') ? messageId.slice('msg_'.length) : undefined;
}
