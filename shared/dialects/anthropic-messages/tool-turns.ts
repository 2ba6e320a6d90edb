import { echo, echoList, invalidRequest } from '../../domain/errors.js';
import { isObject } from '../../domain/json-body.js';

/** A run of consecutive messages of one role: the API merges them into one turn. */
interface Turn {
  role: string;
  /** tool_use ids (assistant) with the index of the message that holds each. */
  uses: Map<string, number>;
  /** tool_result blocks (user): their tool_use_id and where they are. */
  results: Array<{ id: string; message: number; block: number }>;
}

function turnsOf(messages: readonly unknown[]): Turn[] {
  const turns: Turn[] = [];
  for (const [i, message] of messages.entries()) {
    const { role, content } = message as { role: string; content: unknown };
    let turn = turns.at(-1);
    if (turn?.role !== role) {
      turn = { role, uses: new Map(), results: [] };
      turns.push(turn);
    }
    if (!Array.isArray(content)) continue;
    for (const [j, block] of content.entries()) {
      if (!isObject(block)) continue;
      if (role === 'assistant' && block.type === 'tool_use' && !turn.uses.has(block.id as string))
        turn.uses.set(block.id as string, i);
      if (role === 'user' && block.type === 'tool_result')
        turn.results.push({ id: block.tool_use_id as string, message: i, block: j });
    }
  }
  return turns;
}

/**
 * Anthropic's rules on how tool calls and their results follow each other, checked before any hold
 * or upstream call, so a conversation cut in the wrong place (as a client's compaction may leave
 * it) gets the rule it broke and where, in the API's own words, rather than the upstream's refusal,
 * which reaches the client without them:
 * - a `tool_result` answers a `tool_use` of the assistant turn just before it;
 * - an assistant turn with `tool_use` blocks that a user turn follows has every one answered there.
 *
 * Consecutive messages of one role are read as one turn (the API merges them into one, though it
 * may check these rules message by message, which refuses more); an assistant turn with calls that
 * ends the conversation is left to the upstream. So this refuses nothing the API accepts.
 */
export function validateToolTurns(messages: readonly unknown[]): void {
  const turns = turnsOf(messages);
  for (const [t, turn] of turns.entries()) {
    if (turn.role !== 'user') continue;
    const before = turns[t - 1];
    const uses = before?.role === 'assistant' ? before.uses : new Map<string, number>();
    const stray = turn.results.find((r) => !uses.has(r.id));
    if (stray) {
      const param = `messages.${stray.message}.content.${stray.block}`;
      throw invalidRequest(
        `${param}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${echo(stray.id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        `${param}.tool_use_id`,
      );
    }
    const answered = new Set(turn.results.map((r) => r.id));
    const open = [...uses.keys()].filter((id) => !answered.has(id));
    if (open.length > 0) {
      const param = `messages.${uses.get(open[0] as string)}`;
      throw invalidRequest(
        `${param}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${echoList(open)}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        param,
      );
    }
  }
}
