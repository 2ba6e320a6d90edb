/**
 * Demo upstream: an OpenAI-compatible chat completions emulator that imitates OpenRouter.
 *
 * The local runtime, the tests and the benchmark use it as the gateway's upstream provider. It
 * deliberately emits everything a real upstream leaks (generation ids, provider names, model ids,
 * system fingerprints, identifying headers, distinctive error messages) so that the gateway's
 * "nothing upstream-specific reaches the client" tests have something real to catch.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type DemoFault, type FaultRule, FaultRules, promptFault, STATUS_ERRORS } from './demo-faults.js';
import { planChoices, promptTtftMs, randomToken, userTexts } from './demo-replies.js';
import { type Pacing, type Reply, sendJson, writeCompletion, writeStream } from './demo-reply-writer.js';
import { chatUsage, PRICES, PromptCache } from './demo-usage.js';

export type { DemoFault, FaultRule } from './demo-faults.js';

import { isObject } from '../shared/domain/json-body.js';
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

const MAX_BODY_BYTES = 8 * 1024 * 1024;

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

function sendError(res: ServerResponse, e: ErrorInit, headers: Record<string, string> = {}): void {
  sendJson(res, e.status, errorJson(e), headers);
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

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const pacing: Pacing = { ttftMs: options.ttftMs ?? 20, tokensPerSecond: options.tokensPerSecond ?? 500 };
  const requests: RecordedRequest[] = [];
  const faults = new FaultRules();
  const promptCache = new PromptCache();
  const sockets = new Set<Socket>();
  let closing = false;

  const serveMessages = messagesRoute({
    requests,
    takeFault: (model) => faults.take(model),
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
    if (!isObject(body)) {
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

    // An injected rule first, else a fault word in the last user message.
    const fault = faults.take(model) ?? promptFault(userTexts(messages).at(-1) ?? '');
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

    // Cost at the catalog's list prices, cache reads and writes included, as OpenRouter reports it.
    const prompt = promptCache.split(model, messages);
    const usageFor = (completionTokens: number) => chatUsage(model, prompt, completionTokens);
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

    const reply: Reply = {
      res,
      signal: ctl.signal,
      identity,
      headers,
      plans: planChoices(body, messages),
      fault,
      pacing: {
        ttftMs: promptTtftMs(messages) ?? pacing.ttftMs,
        tokensPerSecond: fault?.kind === 'slow' ? fault.tokensPerSecond : pacing.tokensPerSecond,
      },
      usageFor,
      record: rec,
      kill,
      includeUsage: isObject(body.stream_options) && body.stream_options.include_usage === true,
    };
    await (stream ? writeStream(reply) : writeCompletion(reply));
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
      faults.inject(rule);
    },
    clearFaults(): void {
      faults.clear();
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
