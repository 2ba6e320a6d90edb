/**
 * Demo upstream: an OpenAI-compatible chat completions emulator that imitates OpenRouter.
 *
 * The local runtime, the tests and the benchmark use it as the gateway's upstream provider. It
 * deliberately emits everything a real upstream leaks (generation ids, provider names, model ids,
 * system fingerprints, identifying headers, distinctive error messages) so that the gateway's
 * "nothing upstream-specific reaches the client" tests have something real to catch.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_CATALOG } from '../shared/domain/default-catalog.js';
import { messagesRoute } from './demo-messages.js';

export interface DemoUpstreamOptions {
  /** 0 or undefined = a free port. */
  port?: number;
  /** Delay before the first token (default 20). */
  ttftMs?: number;
  /** Pacing of subsequent tokens (default 500; 0 = no delay). */
  tokensPerSecond?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401 in OpenAI error shape. */
  apiKey?: string;
}

export type DemoFault =
  /** Answer with this HTTP status and an OpenAI-shaped error body (and retry-after if given). */
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  /** Accept the request and send nothing at all until the client aborts. */
  | { kind: 'hang' }
  /**
   * Streaming: destroy the socket after N content chunks (0 = right after the SSE preamble and
   * TTFT; if the reply is shorter than N, just before the finish chunk). Non-streaming: destroy
   * the socket instead of sending the body.
   */
  | { kind: 'disconnect'; afterChunks: number }
  /**
   * Streaming: after the role chunk and the first content chunk, send a `data: {not json` frame
   * and end without `[DONE]`. Non-streaming: a truncated, unparseable JSON body with status 200.
   */
  | { kind: 'malformed-sse' }
  /** Omit the usage block (non-stream: no `usage` field; stream: no usage chunk). */
  | { kind: 'no-usage' }
  /** Override pacing for this request. */
  | { kind: 'slow'; tokensPerSecond: number };

/**
 * `model`: only requests whose body.model equals this; `times`: how many requests (default unlimited);
 * `probability`: the chance (0..1, default 1) that the rule applies to a matching request, for random
 * faults under load. A rule that does not fire uses up none of its `times`, and the next matching rule
 * gets its chance.
 */
export interface FaultRule {
  fault: DemoFault;
  model?: string;
  times?: number;
  probability?: number;
}

export interface RecordedRequest {
  model: string;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  stream: boolean;
  /** The client went away before the response was complete. */
  aborted: boolean;
  /** The whole response (success or error) was handed to the socket. */
  completed: boolean;
  /** Output tokens actually sent (tool-call argument fragments count as tokens). */
  outputTokens: number;
  /** The fault applied to this request, if any. */
  fault?: DemoFault['kind'];
}

export interface DemoUpstream {
  /** e.g. http://127.0.0.1:PORT/v1 (the OpenAI "base URL": POST {baseUrl}/chat/completions). */
  baseUrl: string;
  port: number;
  requests: RecordedRequest[];
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Applies to requests that start after the call. */
  setPacing(p: { ttftMs?: number; tokensPerSecond?: number }): void;
  /** Closes the server and destroys open sockets. */
  close(): Promise<void>;
}

const WORDS = (
  'Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ' +
  'et dolore magna aliqua Ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut ' +
  'aliquip ex ea commodo consequat'
).split(' ');

const DEFAULT_OUTPUT_TOKENS = 24;
// A `tokens:N` prompt must not let one request pin the process forever.
const MAX_OUTPUT_TOKENS = 100_000;
const MAX_CHOICES = 16;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const TOOL_ARGUMENTS = '{"location":"Paris"}';
// Concatenates to TOOL_ARGUMENTS; OpenAI streams arguments in fragments like these.
const TOOL_ARGUMENT_FRAGMENTS = ['{"', 'location', '":"', 'Paris', '"}'];
const FALLBACK_PRICE = { inputUsdPerMTok: 1, outputUsdPerMTok: 2 };

// Report cost at the catalog's list prices, as OpenRouter does, so usage-based billing can be checked.
const PRICES = new Map<string, { inputUsdPerMTok: number; outputUsdPerMTok: number }>();
for (const tier of Object.values(DEFAULT_CATALOG.tiers)) {
  for (const m of tier.models) PRICES.set(m.id, m);
}

const PROVIDERS: Readonly<Record<string, string>> = {
  openai: 'OpenAI',
  google: 'Google',
  anthropic: 'Anthropic',
  deepseek: 'DeepSeek',
};

function providerFor(model: string): string {
  const prefix = model.split('/')[0] ?? '';
  return Object.hasOwn(PROVIDERS, prefix) ? (PROVIDERS[prefix] ?? 'DemoProvider') : 'DemoProvider';
}

function fingerprintFor(model: string): string {
  return `fp_demo_${createHash('sha256').update(model).digest('hex').slice(0, 10)}`;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += BASE62[b % BASE62.length];
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join(' ');
  }
  return '';
}

function userTexts(messages: unknown[]): string[] {
  return messages
    .filter((m): m is Record<string, unknown> => isRecord(m) && m.role === 'user')
    .map((m) => messageText(m.content));
}

function nonNegativeInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

interface ErrorInit {
  status: number;
  message: string;
  type?: string;
  code?: string | null;
  param?: string | null;
}

function errorJson(e: ErrorInit): string {
  return JSON.stringify({
    error: {
      message: e.message,
      type: e.type ?? (e.status >= 500 ? 'server_error' : 'invalid_request_error'),
      param: e.param ?? null,
      code: e.code ?? null,
    },
  });
}

// Type and code per status roughly as OpenAI/OpenRouter send them.
const STATUS_ERRORS: Readonly<Record<number, { type: string; code: string }>> = {
  400: { type: 'invalid_request_error', code: 'bad_request' },
  401: { type: 'authentication_error', code: 'invalid_api_key' },
  402: { type: 'insufficient_quota', code: 'insufficient_credits' },
  403: { type: 'invalid_request_error', code: 'moderation_blocked' },
  404: { type: 'invalid_request_error', code: 'model_not_found' },
  408: { type: 'server_error', code: 'timeout' },
  429: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  500: { type: 'server_error', code: 'internal_error' },
  502: { type: 'server_error', code: 'upstream_error' },
  503: { type: 'server_error', code: 'service_unavailable' },
  529: { type: 'server_error', code: 'overloaded' },
};

function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

function sendError(res: ServerResponse, e: ErrorInit, headers: Record<string, string> = {}): void {
  sendJson(res, e.status, errorJson(e), headers);
}

/** Resolves after `ms` or as soon as `signal` aborts; `ms <= 0` still yields to the event loop. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    if (ms <= 0) {
      setImmediate(resolve);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large' | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY_BYTES) return 'too-large';
      chunks.push(buf);
    }
  } catch {
    // The client aborted mid-body.
    return undefined;
  }
  return Buffer.concat(chunks);
}

/** What one choice will say: text tokens or a tool call whose arguments stream as fragments. */
type ChoicePlan =
  | { kind: 'text'; units: string[]; finishReason: 'stop' | 'length' }
  | { kind: 'tool'; units: string[]; callId: string; name: string };

function chooseTool(body: Record<string, unknown>, messages: unknown[]): string | undefined {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const names = tools
    .map((t) => (isRecord(t) && isRecord(t.function) ? t.function.name : undefined))
    .filter((n): n is string => typeof n === 'string' && n.length > 0);
  const first = names[0];
  const choice = body.tool_choice;
  if (first === undefined || choice === 'none') return undefined;
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    if (names.includes(choice.function.name)) return choice.function.name;
  }
  const lastUser = (userTexts(messages).at(-1) ?? '').toLowerCase();
  const mentioned = names.find((n) => lastUser.includes(n.toLowerCase()));
  if (mentioned !== undefined) return mentioned;
  if (lastUser.includes('weather') || choice === 'required') return first;
  return undefined;
}

function planChoices(body: Record<string, unknown>, messages: unknown[]): ChoicePlan[] {
  const n = Math.min(MAX_CHOICES, Math.max(1, nonNegativeInt(body.n) ?? 1));
  const tool = chooseTool(body, messages);
  // The last `tokens:N` in any user message wins.
  let requested = DEFAULT_OUTPUT_TOKENS;
  for (const text of userTexts(messages)) {
    for (const m of text.matchAll(/\btokens:(\d+)\b/g)) requested = Number(m[1]);
  }
  requested = Math.min(requested, MAX_OUTPUT_TOKENS);
  const cap = nonNegativeInt(body.max_completion_tokens) ?? nonNegativeInt(body.max_tokens);
  const count = cap !== undefined && cap < requested ? cap : requested;
  const finishReason = count < requested ? 'length' : 'stop';
  const plans: ChoicePlan[] = [];
  for (let index = 0; index < n; index++) {
    if (tool !== undefined) {
      // Tool-call arguments are not truncated by max_tokens: they are a handful of tokens.
      plans.push({
        kind: 'tool',
        units: [...TOOL_ARGUMENT_FRAGMENTS],
        callId: `call_${randomToken(24)}`,
        name: tool,
      });
    } else {
      // Each choice starts at a different word so that n > 1 choices are distinguishable.
      const units = Array.from({ length: count }, (_, i) => `${WORDS[(i + index) % WORDS.length]} `);
      plans.push({ kind: 'text', units, finishReason });
    }
  }
  return plans;
}

interface Pacing {
  ttftMs: number;
  tokensPerSecond: number;
}

interface FaultSlot {
  rule: FaultRule;
  remaining: number;
}

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const pacing: Pacing = { ttftMs: options.ttftMs ?? 20, tokensPerSecond: options.tokensPerSecond ?? 500 };
  const requests: RecordedRequest[] = [];
  let faults: FaultSlot[] = [];
  const sockets = new Set<Socket>();
  let closing = false;

  function takeFault(model: string): DemoFault | undefined {
    const slot = faults.find(
      (f) =>
        f.remaining > 0 &&
        (f.rule.model === undefined || f.rule.model === model) &&
        (f.rule.probability === undefined || Math.random() < f.rule.probability),
    );
    if (slot === undefined) return undefined;
    slot.remaining--;
    faults = faults.filter((f) => f.remaining > 0);
    return slot.rule.fault;
  }

  const serveMessages = messagesRoute({
    requests,
    takeFault,
    pacing,
    apiKey: options.apiKey,
    closing: () => closing,
  });

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // A bug here must not take the process down; drop the connection instead.
      res.destroy();
    });
  });
  // Hung and slow streams are part of the job; only the request head is time-limited.
  server.requestTimeout = 0;
  server.on('connection', (socket) => {
    // Chunks must leave as soon as they are written, or TTFT and pacing are meaningless.
    socket.setNoDelay(true);
    socket.on('error', () => {});
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    socket.destroy();
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.on('error', () => {});
    res.on('error', () => {});
    const ctl = new AbortController();
    let record: RecordedRequest | undefined;
    let killedByServer = false;
    res.on('finish', () => {
      if (record) record.completed = true;
    });
    res.on('close', () => {
      if (!res.writableFinished && !killedByServer && !closing && record) record.aborted = true;
      ctl.abort();
    });

    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;

    if (options.apiKey !== undefined && path.startsWith('/v1/')) {
      if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
        req.resume();
        sendError(res, {
          status: 401,
          message: 'Demo upstream: incorrect API key provided.',
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        });
        return;
      }
    }

    if (path.startsWith('/v1/messages')) return serveMessages(req, res, path);
    if (path === '/v1/models' && req.method === 'GET') {
      req.resume();
      sendJson(res, 200, modelsJson());
      return;
    }
    if (path !== '/v1/chat/completions') {
      req.resume();
      sendError(res, {
        status: 404,
        message: `Demo upstream: no route for ${req.method} ${path}`,
        code: 'not_found',
      });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendError(res, { status: 405, message: `Demo upstream: method ${req.method} not allowed`, code: null });
      return;
    }

    const raw = await readBody(req);
    if (raw === undefined) return;
    if (raw === 'too-large') {
      sendError(res, {
        status: 413,
        message: 'Demo upstream: request body too large',
        code: 'body_too_large',
      });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      sendError(res, {
        status: 400,
        message: 'Demo upstream: request body is not valid JSON',
        code: 'invalid_json',
      });
      return;
    }
    if (!isRecord(body)) {
      sendError(res, { status: 400, message: 'Demo upstream: request body must be a JSON object' });
      return;
    }
    const messages = body.messages;
    if (!Array.isArray(messages)) {
      sendError(res, {
        status: 400,
        message: "Demo upstream: 'messages' must be an array",
        param: 'messages',
        code: 'invalid_type',
      });
      return;
    }
    const model = body.model;
    if (typeof model !== 'string' || model.length === 0) {
      sendError(res, {
        status: 400,
        message: "Demo upstream: 'model' is required",
        param: 'model',
        code: null,
      });
      return;
    }

    const stream = body.stream === true;
    record = {
      model,
      body,
      headers: { ...req.headers },
      stream,
      aborted: false,
      completed: false,
      outputTokens: 0,
    };
    requests.push(record);
    const rec = record;
    // The client may already be gone (closed while we parsed).
    if (ctl.signal.aborted) {
      if (!closing) rec.aborted = true;
      return;
    }

    const fault = takeFault(model);
    if (fault) rec.fault = fault.kind;
    const provider = providerFor(model);
    const id = `gen-${Math.floor(Date.now() / 1000)}-${randomToken(20)}`;
    const created = Math.floor(Date.now() / 1000);
    const fingerprint = fingerprintFor(model);
    const identity = { id, model, provider, system_fingerprint: fingerprint, created };
    const headers: Record<string, string> = {
      'x-upstream-provider': provider,
      'openai-organization': 'demo-org',
      'x-model-id': model,
      'x-request-id': id,
      'x-generation-id': id,
      'openai-version': '2020-10-01',
    };

    if (fault?.kind === 'status') {
      const known = STATUS_ERRORS[fault.status];
      const extra: Record<string, string> = { ...headers };
      if (fault.retryAfterSeconds !== undefined) extra['retry-after'] = String(fault.retryAfterSeconds);
      sendError(
        res,
        {
          status: fault.status,
          // Names the provider and model on purpose: a gateway must not pass this text through.
          message: `Demo upstream: provider ${provider} returned ${fault.status} for ${model} (${fingerprint})`,
          type: known?.type ?? (fault.status >= 500 ? 'server_error' : 'invalid_request_error'),
          code: known?.code ?? `upstream_${fault.status}`,
        },
        extra,
      );
      return;
    }
    if (fault?.kind === 'hang') {
      // Nothing at all is sent; the 'close' listener marks the request aborted when the client gives up.
      return;
    }

    const effective: Pacing = {
      ttftMs: pacing.ttftMs,
      tokensPerSecond: fault?.kind === 'slow' ? fault.tokensPerSecond : pacing.tokensPerSecond,
    };
    const interval = effective.tokensPerSecond > 0 ? 1000 / effective.tokensPerSecond : 0;
    const plans = planChoices(body, messages);
    const promptTokens = Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4);
    const price = PRICES.get(model) ?? FALLBACK_PRICE;
    const usageFor = (completionTokens: number): Record<string, unknown> => ({
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      cost:
        Math.round(
          ((promptTokens * price.inputUsdPerMTok + completionTokens * price.outputUsdPerMTok) / 1e6) * 1e12,
        ) / 1e12,
      is_byok: false,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    // Waits for what was already written to reach the kernel, so the client really gets the chunks
    // sent before the drop; destroying at once would discard them from the socket's buffer.
    const kill = async (): Promise<void> => {
      killedByServer = true;
      const socket = req.socket;
      if (!socket.destroyed && socket.writableLength > 0) {
        await new Promise<void>((resolve) => {
          socket.write('', () => resolve());
          socket.once('close', () => resolve());
        });
      }
      socket.destroy();
    };

    if (!stream) {
      // A non-streaming reply takes as long as the stream would have: TTFT plus generation time.
      const steps = Math.max(0, ...plans.map((p) => p.units.length));
      const start = Date.now();
      await sleep(effective.ttftMs + Math.max(0, steps - 1) * interval, ctl.signal);
      if (ctl.signal.aborted) return;
      if (fault?.kind === 'disconnect') {
        await kill();
        return;
      }
      if (fault?.kind === 'malformed-sse') {
        res.writeHead(200, { 'content-type': 'application/json', ...headers });
        res.end(`{"id":"${id}","object":"chat.completion","choices":[{not json`);
        return;
      }
      const units = plans.reduce((sum, p) => sum + p.units.length, 0);
      const completion: Record<string, unknown> = {
        ...identity,
        object: 'chat.completion',
        choices: plans.map((p, index) => ({
          index,
          message:
            p.kind === 'text'
              ? { role: 'assistant', content: p.units.join(''), refusal: null }
              : {
                  role: 'assistant',
                  content: null,
                  refusal: null,
                  tool_calls: [
                    { id: p.callId, type: 'function', function: { name: p.name, arguments: TOOL_ARGUMENTS } },
                  ],
                },
          logprobs: null,
          finish_reason: p.kind === 'text' ? p.finishReason : 'tool_calls',
          native_finish_reason: p.kind === 'text' ? p.finishReason : 'tool_calls',
        })),
      };
      if (fault?.kind !== 'no-usage') completion.usage = usageFor(units);
      rec.outputTokens = units;
      sendJson(res, 200, JSON.stringify(completion), {
        ...headers,
        'openai-processing-ms': String(Date.now() - start),
      });
      return;
    }

    // Streaming. n > 1 is supported: every step emits one chunk per choice, interleaved by index.
    const send = async (data: string): Promise<boolean> => {
      if (res.destroyed || res.writableEnded) return false;
      let ok: boolean;
      try {
        ok = res.write(data);
      } catch {
        return false;
      }
      if (ok) return true;
      // Honour backpressure so a slow reader cannot make us buffer an unbounded reply.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      return !res.destroyed;
    };
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ ...identity, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    const choice = (
      index: number,
      delta: Record<string, unknown>,
      finish: string | null = null,
    ): unknown => ({
      index,
      delta,
      logprobs: null,
      finish_reason: finish,
      ...(finish === null ? {} : { native_finish_reason: finish }),
    });

    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      ...headers,
    });
    res.flushHeaders();
    // Real OpenRouter sends keep-alive comments while the provider warms up; clients must ignore them.
    if (!(await send(': OPENROUTER PROCESSING\n\n'))) return;
    await sleep(effective.ttftMs, ctl.signal);
    if (ctl.signal.aborted) return;
    if (fault?.kind === 'disconnect' && fault.afterChunks <= 0) {
      await kill();
      return;
    }

    for (const [index, p] of plans.entries()) {
      const delta =
        p.kind === 'text'
          ? { role: 'assistant', content: '' }
          : {
              role: 'assistant',
              content: null,
              tool_calls: [
                { index: 0, id: p.callId, type: 'function', function: { name: p.name, arguments: '' } },
              ],
            };
      if (!(await send(chunk([choice(index, delta)])))) return;
    }

    let contentChunks = 0;
    const steps = Math.max(0, ...plans.map((p) => p.units.length));
    const t0 = Date.now();
    for (let step = 0; step < steps; step++) {
      // Scheduled against absolute times so timer drift does not accumulate over long replies.
      if (step > 0) await sleep(t0 + step * interval - Date.now(), ctl.signal);
      if (ctl.signal.aborted) return;
      for (const [index, p] of plans.entries()) {
        const unit = p.units[step];
        if (unit === undefined) continue;
        const delta =
          p.kind === 'text'
            ? { content: unit }
            : { tool_calls: [{ index: 0, function: { arguments: unit } }] };
        if (!(await send(chunk([choice(index, delta)])))) return;
        rec.outputTokens++;
        contentChunks++;
        if (fault?.kind === 'disconnect' && contentChunks >= fault.afterChunks) {
          await kill();
          return;
        }
        if (fault?.kind === 'malformed-sse') {
          await send('data: {not json\n\n');
          res.end();
          return;
        }
      }
    }
    if (fault?.kind === 'disconnect') {
      // The reply was shorter than afterChunks: still drop the connection before it can finish cleanly.
      await kill();
      return;
    }

    for (const [index, p] of plans.entries()) {
      const finish = p.kind === 'text' ? p.finishReason : 'tool_calls';
      if (!(await send(chunk([choice(index, {}, finish)])))) return;
    }
    const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
    if (streamOptions.include_usage === true && fault?.kind !== 'no-usage') {
      const units = plans.reduce((sum, p) => sum + p.units.length, 0);
      if (!(await send(chunk([], { usage: usageFor(units) })))) return;
    }
    if (!(await send('data: [DONE]\n\n'))) return;
    res.end();
  }

  function modelsJson(): string {
    const created = 1_700_000_000;
    return JSON.stringify({
      object: 'list',
      data: [...PRICES.entries()].map(([id, p]) => ({
        id,
        object: 'model',
        created,
        owned_by: id.split('/')[0] ?? 'demo',
        name: `${providerFor(id)}: ${id.split('/')[1] ?? id}`,
        pricing: { prompt: String(p.inputUsdPerMTok / 1e6), completion: String(p.outputUsdPerMTok / 1e6) },
      })),
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    injectFault(rule: FaultRule): void {
      const p = rule.probability;
      if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError('probability must be between 0 and 1');
      faults.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
    },
    clearFaults(): void {
      faults = [];
    },
    setPacing(p: { ttftMs?: number; tokensPerSecond?: number }): void {
      if (p.ttftMs !== undefined) pacing.ttftMs = p.ttftMs;
      if (p.tokensPerSecond !== undefined) pacing.tokensPerSecond = p.tokensPerSecond;
    },
    close(): Promise<void> {
      closing = true;
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
    },
  };
}
