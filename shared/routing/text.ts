import type { RouteInput } from './features.js';

/**
 * Building a RouteInput from a conversation, shared by the dialects: each reduces its messages to
 * (role, text) pairs and its options to flags; this collects the prompt, history and size.
 */
export interface Turn {
  role: 'system' | 'user' | 'other';
  text: string;
}

/** Text of a message's content: a string, or the `text` of its text parts (others skipped). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part !== 'object' || part === null) continue;
    const { text, content: nested } = part as { text?: unknown; content?: unknown };
    if (typeof text === 'string') parts.push(text);
    else if (nested !== undefined) parts.push(contentText(nested)); // tool results hold content
  }
  return parts.join('\n');
}

export function routeInputOf(
  turns: Turn[],
  flags: Pick<RouteInput, 'tools' | 'media' | 'jsonSchema' | 'reasoning'>,
): RouteInput {
  const system: string[] = [];
  const users: string[] = [];
  let chars = 0;
  for (const turn of turns) {
    chars += turn.text.length;
    if (turn.role === 'system') system.push(turn.text);
    else if (turn.role === 'user') users.push(turn.text);
  }
  return {
    system: system.join('\n'),
    prompt: users.at(-1) ?? '',
    history: users.slice(0, -1),
    chars,
    ...flags,
  };
}
