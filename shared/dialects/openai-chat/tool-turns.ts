import { echo, echoList, invalidRequest } from '../../domain/errors.js';
import { isObject, type Json } from '../../domain/json-body.js';

/**
 * OpenAI's rules on how tool calls and their results follow each other, checked before any hold
 * or upstream call, so a conversation a client cut in the wrong place gets the rule it broke and
 * where, not the upstream's refusal, which reaches the client without its words (they may name
 * the model):
 * - a `tool` message answers the assistant message with `tool_calls` just before it (other tool
 *   messages between them), and names one of its calls' ids;
 * - once such an assistant message is followed by anything but tool messages, every call has had
 *   its answer.
 *
 * The messages are OpenAI's own, spelling included. What OpenAI may also refuse but this does not
 * check (calls left unanswered at the end of the conversation, an id answered twice) is left to the
 * upstream: this refuses nothing OpenAI's API accepts.
 */
export function validateToolTurns(messages: readonly Json[]): void {
  let calls: { at: number; ids: Set<string>; answered: Set<string> } | undefined;
  for (const [i, message] of messages.entries()) {
    if (message.role === 'tool') {
      if (!calls) {
        throw invalidRequest(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      }
      const id = message.tool_call_id as string;
      if (!calls.ids.has(id)) {
        throw invalidRequest(
          `Invalid parameter: 'tool_call_id' of '${echo(id)}' not found in 'tool_calls' of previous message.`,
          `messages.[${i}].tool_call_id`,
        );
      }
      calls.answered.add(id);
      continue;
    }
    if (calls) {
      const open = [...calls.ids].filter((id) => !calls?.answered.has(id));
      if (open.length > 0) {
        throw invalidRequest(
          `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${echoList(open)}`,
          `messages.[${calls.at}].role`,
        );
      }
    }
    calls = undefined;
    if (message.role === 'assistant' && Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      const ids = new Set(message.tool_calls.filter(isObject).map((call) => call.id as string));
      calls = { at: i, ids, answered: new Set() };
    }
  }
}
