import { isObject, type Json } from '../../domain/json-body.js';
import type { RouteInput } from '../../routing/features.js';
import { contentText, routeInputOf, type Turn } from '../../routing/text.js';

const roleOf = (role: unknown): Turn['role'] =>
  role === 'system' || role === 'developer' ? 'system' : role === 'user' ? 'user' : 'other';

/** What tier-auto reads of a (validated) chat-completions body. */
export function chatRouteInput(body: Json, mediaParts: number): RouteInput {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const turns = messages
    .filter(isObject)
    .map((m) => ({ role: roleOf(m.role), text: contentText(m.content) }));
  const tools =
    (Array.isArray(body.tools) && body.tools.length > 0) || (body.tool_choice ?? 'none') !== 'none';
  const format = body.response_format;
  return routeInputOf(turns, {
    tools,
    media: mediaParts > 0,
    jsonSchema: isObject(format) && format.type === 'json_schema',
    reasoning: typeof body.reasoning_effort === 'string' ? body.reasoning_effort : undefined,
  });
}
