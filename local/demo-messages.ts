/**
 * The demo upstream's Anthropic Messages endpoints (`POST /v1/messages`, `/v1/messages/count_tokens`),
 * as Anthropic or OpenRouter serve them: the event grammar, `msg_01…` and `toolu_01…` ids, the model
 * and provider in bodies and headers (so leak tests have something to catch), cache tokens in usage
 * for prompts with `cache_control`, and the chat path's fault rules.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { isObject } from '../shared/domain/json-body.js';
import type { DemoFault, RecordedRequest } from './demo-upstream.js';

export interface MessagesRouteContext {
  requests: RecordedRequest[];
  takeFault(model: string): DemoFault | undefined;
  /** Current pacing; read per request. */
  pacing: { ttftMs: number; tokensPerSecond: number };
  /** When set, requests must also carry `x-api-key: <apiKey>`. */
  apiKey: string | undefined;
  closing(): boolean;
}

type Json = Record<string, unknown>;

const WORDS = 'Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor'.split(' ');
const DEFAULT_OUTPUT_TOKENS = 24;
const MAX_OUTPUT_TOKENS = 100_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
// Concatenates to the tool input; Anthropic streams it as input_json_delta fragments like these.
const TOOL_INPUT_FRAGMENTS = ['{"', 'location', '":"', 'Paris', '"}'];

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

const anthropicId = (prefix: string): string => `${prefix}_01${randomBytes(16).toString('base64url')}`;
const tokensOf = (text: string): number => Math.ceil(Buffer.byteLength(text) / 4);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  sendJson(res, status, { type: 'error', error: { type, message } }, headers);
}

async function readJson(req: IncomingMessage): Promise<Json | 'too-large' | 'invalid' | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return 'too-large';
      chunks.push(chunk as Buffer);
    }
  } catch {
    return undefined; // the client aborted mid-body
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return isObject(value) ? value : 'invalid';
  } catch {
    return 'invalid';
  }
}

function userTexts(messages: unknown[]): string[] {
  return messages
    .filter((m): m is Json => isObject(m) && m.role === 'user')
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : Array.isArray(m.content)
          ? m.content.map((b) => (isObject(b) && typeof b.text === 'string' ? b.text : '')).join(' ')
          : '',
    );
}

/** The tool to call: the one tool_choice names, or one the last user text asks for. */
function chooseTool(body: Json, messages: unknown[]): string | undefined {
  const names = (Array.isArray(body.tools) ? body.tools : [])
    .map((t) => (isObject(t) ? t.name : undefined))
    .filter((n): n is string => typeof n === 'string' && n !== '');
  const choice = isObject(body.tool_choice) ? body.tool_choice : {};
  if (names[0] === undefined || choice.type === 'none') return undefined;
  if (choice.type === 'tool' && typeof choice.name === 'string' && names.includes(choice.name))
    return choice.name;
  const last = (userTexts(messages).at(-1) ?? '').toLowerCase();
  return (
    names.find((n) => last.includes(n.toLowerCase())) ??
    (last.includes('weather') || choice.type === 'any' ? names[0] : undefined)
  );
}

/**
 * Prompt tokens, split as Anthropic reports them: the prefix up to the last `cache_control`
 * breakpoint is written to the cache the first time this upstream sees it and read afterwards.
 */
function promptUsage(body: Json, seen: Set<string>): Json {
  const prompt = JSON.stringify({ tools: body.tools, system: body.system, messages: body.messages });
  const total = tokensOf(prompt);
  const breakpoint = prompt.lastIndexOf('"cache_control"');
  if (breakpoint < 0)
    return { input_tokens: total, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const prefix = prompt.slice(0, breakpoint);
  const cached = Math.min(total, tokensOf(prefix));
  const key = createHash('sha256').update(String(body.model)).update('\0').update(prefix).digest('hex');
  const hit = seen.has(key);
  seen.add(key);
  return {
    input_tokens: total - cached,
    cache_creation_input_tokens: hit ? 0 : cached,
    cache_read_input_tokens: hit ? cached : 0,
  };
}

/** Tool results must answer tool uses this upstream minted, as Anthropic checks. */
function unknownToolResult(messages: unknown[], minted: Set<string>): string | undefined {
  for (const m of messages) {
    if (!isObject(m) || !Array.isArray(m.content)) continue;
    for (const b of m.content) {
      if (isObject(b) && b.type === 'tool_result' && !minted.has(String(b.tool_use_id)))
        return String(b.tool_use_id);
    }
  }
  return undefined;
}

/** The Messages route of a demo upstream; keeps its prompt cache and minted tool ids across requests. */
export function messagesRoute(ctx: MessagesRouteContext) {
  const cachedPrefixes = new Set<string>();
  const mintedToolIds = new Set<string>();

  return async function serveMessages(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<void> {
    if (path !== '/v1/messages' && path !== '/v1/messages/count_tokens') {
      req.resume();
      return sendError(res, 404, `Demo upstream: no route for ${req.method} ${path}`);
    }
    if (req.method !== 'POST') {
      req.resume();
      return sendError(res, 405, `Demo upstream: method ${req.method} not allowed`);
    }
    if (ctx.apiKey !== undefined && req.headers['x-api-key'] !== ctx.apiKey) {
      req.resume();
      return sendError(res, 401, 'Demo upstream: invalid x-api-key');
    }
    const body = await readJson(req);
    if (body === undefined) return;
    if (body === 'too-large') return sendError(res, 413, 'Demo upstream: request body too large');
    if (body === 'invalid') return sendError(res, 400, 'Demo upstream: request body must be a JSON object');
    const { model, messages } = body;
    if (typeof model !== 'string' || model === '' || !Array.isArray(messages))
      return sendError(res, 400, "Demo upstream: 'model' and 'messages' are required");
    const counting = path.endsWith('/count_tokens');
    const maxTokens = body.max_tokens;
    if (!counting && !(Number.isSafeInteger(maxTokens) && (maxTokens as number) > 0))
      return sendError(res, 400, 'Demo upstream: max_tokens: Field required');

    const stream = !counting && body.stream === true;
    const record: RecordedRequest = {
      model,
      body,
      headers: { ...req.headers },
      stream,
      aborted: false,
      completed: false,
      outputTokens: 0,
    };
    ctx.requests.push(record);
    const abort = new AbortController();
    let killed = false;
    res.on('finish', () => {
      record.completed = true;
    });
    res.on('close', () => {
      if (!res.writableFinished && !killed && !ctx.closing()) record.aborted = true;
      abort.abort();
    });
    const fault = ctx.takeFault(model);
    if (fault) record.fault = fault.kind;
    const requestId = anthropicId('req');
    const headers = {
      'request-id': requestId,
      'anthropic-organization-id': 'demo-org-anthropic',
      'x-upstream-provider': 'Anthropic',
      'x-model-id': model,
    };
    if (fault?.kind === 'status') {
      const retry: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      // Names the provider and model on purpose: a gateway must not pass this text through.
      return sendError(
        res,
        fault.status,
        `Demo upstream: provider Anthropic returned ${fault.status} for ${model}`,
        {
          ...headers,
          ...retry,
        },
      );
    }
    if (fault?.kind === 'hang') return;
    const stray = unknownToolResult(messages, mintedToolIds);
    if (stray !== undefined)
      return sendError(
        res,
        400,
        `Demo upstream: tool_result ${stray} answers no tool_use of ${model}`,
        headers,
      );
    const prompt = promptUsage(body, counting ? new Set() : cachedPrefixes);
    if (counting) {
      const total =
        Number(prompt.input_tokens) +
        Number(prompt.cache_creation_input_tokens) +
        Number(prompt.cache_read_input_tokens);
      return sendJson(res, 200, { input_tokens: total }, headers);
    }

    const tool = chooseTool(body, messages);
    let requested = DEFAULT_OUTPUT_TOKENS;
    for (const text of userTexts(messages))
      for (const m of text.matchAll(/\btokens:(\d+)\b/g)) requested = Number(m[1]);
    requested = Math.min(requested, MAX_OUTPUT_TOKENS);
    const count = Math.min(requested, maxTokens as number);
    const units = tool
      ? TOOL_INPUT_FRAGMENTS
      : Array.from({ length: count }, (_, i) => `${WORDS[i % WORDS.length]} `);
    const stopReason = tool ? 'tool_use' : count < requested ? 'max_tokens' : 'end_turn';
    const toolId = tool ? anthropicId('toolu') : undefined;
    if (toolId) mintedToolIds.add(toolId);
    const noUsage = fault?.kind === 'no-usage';
    const usage = (output: number): Json => ({
      ...prompt,
      output_tokens: output,
      service_tier: 'standard',
      inference_geo: 'us-east-2',
    });
    const message = (content: unknown[], stop: string | null, output: number): Json => ({
      id: anthropicId('msg'),
      type: 'message',
      role: 'assistant',
      model,
      provider: 'Anthropic',
      content,
      stop_reason: stop,
      stop_sequence: null,
      ...(noUsage ? {} : { usage: usage(output) }),
    });
    const tokensPerSecond = fault?.kind === 'slow' ? fault.tokensPerSecond : ctx.pacing.tokensPerSecond;
    const interval = tokensPerSecond > 0 ? 1000 / tokensPerSecond : 0;
    const pause = (ms: number) => delay(Math.max(0, ms), undefined, { signal: abort.signal }).catch(() => {});
    // Drops the connection mid-response, once what was written has reached the client.
    const kill = async (): Promise<void> => {
      killed = true;
      const socket = req.socket;
      if (!socket.destroyed) await new Promise<void>((resolve) => socket.end(() => resolve()));
      socket.destroy();
    };

    if (!stream) {
      await pause(ctx.pacing.ttftMs + Math.max(0, units.length - 1) * interval);
      if (abort.signal.aborted) return;
      if (fault?.kind === 'disconnect') return kill();
      if (fault?.kind === 'malformed-sse') {
        res.writeHead(200, { 'content-type': 'application/json', ...headers });
        return void res.end('{"id":"msg_01x","type":"message","content":[{not json');
      }
      record.outputTokens = units.length;
      const content = tool
        ? [{ type: 'tool_use', id: toolId, name: tool, input: { location: 'Paris' } }]
        : [{ type: 'text', text: units.join('') }];
      return sendJson(res, 200, message(content, stopReason, units.length), headers);
    }

    const write = async (event: string, data: unknown): Promise<boolean> => {
      if (res.destroyed || res.writableEnded) return false;
      if (res.write(`event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`))
        return true;
      // Backpressure: a slow reader must not make the demo buffer a whole reply. A closed response aborts.
      await once(res, 'drain', { signal: abort.signal }).catch(() => {});
      return !res.destroyed;
    };
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    res.flushHeaders();
    // message_start and a ping come at once; the first content after the time to first token.
    if (!(await write('message_start', { type: 'message_start', message: message([], null, 1) }))) return;
    if (!(await write('ping', { type: 'ping' }))) return;
    await pause(ctx.pacing.ttftMs);
    if (abort.signal.aborted) return;
    if (fault?.kind === 'disconnect' && fault.afterChunks <= 0) return kill();
    const block = tool ? { type: 'tool_use', id: toolId, name: tool, input: {} } : { type: 'text', text: '' };
    if (
      !(await write('content_block_start', { type: 'content_block_start', index: 0, content_block: block }))
    )
      return;
    const t0 = Date.now();
    for (const [step, unit] of units.entries()) {
      if (step > 0) await pause(t0 + step * interval - Date.now());
      if (abort.signal.aborted) return;
      const delta = tool
        ? { type: 'input_json_delta', partial_json: unit }
        : { type: 'text_delta', text: unit };
      if (!(await write('content_block_delta', { type: 'content_block_delta', index: 0, delta }))) return;
      record.outputTokens++;
      if (fault?.kind === 'disconnect' && step + 1 >= fault.afterChunks) return kill();
      if (fault?.kind === 'malformed-sse') {
        await write('content_block_delta', '{not json');
        return void res.end();
      }
    }
    if (fault?.kind === 'disconnect') return kill();
    if (!(await write('content_block_stop', { type: 'content_block_stop', index: 0 }))) return;
    const final = { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null } };
    if (
      !(await write('message_delta', noUsage ? final : { ...final, usage: { output_tokens: units.length } }))
    )
      return;
    if (!(await write('message_stop', { type: 'message_stop' }))) return;
    res.end();
  };
}
