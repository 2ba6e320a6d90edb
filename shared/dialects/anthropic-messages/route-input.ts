import { isObject, type Json } from '../../domain/json-body.js';
import type { RouteInput } from '../../routing/features.js';
import { contentText, routeInputOf, type Turn } from '../../routing/text.js';

/** What tier-auto reads of a (validated) Messages body. */
export function messagesRouteInput(body: Json, mediaParts: number): RouteInput {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const turns: Turn[] = [
    { role: 'system', text: contentText(body.system) },
    ...messages
      .filter(isObject)
      .map((m): Turn => ({ role: m.role === 'user' ? 'user' : 'other', text: contentText(m.content) })),
  ];
  const thinking = body.thinking;
  return routeInputOf(turns, {
    tools: (Array.isArray(body.tools) && body.tools.length > 0) || isObject(body.tool_choice),
    media: mediaParts > 0,
    jsonSchema: false,
    reasoning: isObject(thinking) && thinking.type === 'enabled' ? 'thinking' : undefined,
  });
}
