/**
 * How the demo upstream writes a reply it has planned: one JSON completion, or an SSE stream
 * paced like a real model (time to first token, then tokens per second), with the planned
 * fault (disconnect, malformed frames, no usage) applied on the way.
 */
import type { ServerResponse } from 'node:http';
import type { DemoFault } from './demo-faults.js';
import type { ChoicePlan } from './demo-replies.js';

export interface Pacing {
  ttftMs: number;
  tokensPerSecond: number;
}

export interface Reply {
  res: ServerResponse;
  signal: AbortSignal;
  /** The upstream-style identity every body and chunk carries (id, model, provider, …). */
  identity: Record<string, unknown>;
  headers: Record<string, string>;
  plans: ChoicePlan[];
  fault: DemoFault | undefined;
  pacing: Pacing;
  usageFor: (completionTokens: number) => Record<string, unknown>;
  record: { outputTokens: number };
  /** Drops the connection after what was written has reached the socket. */
  kill: () => Promise<void>;
  includeUsage: boolean;
}

export function sendJson(
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

/** A non-streaming reply takes as long as the stream would have: TTFT plus generation time. */
export async function writeCompletion(reply: Reply): Promise<void> {
  const { res, signal, identity, headers, plans, fault, pacing, usageFor, record, kill } = reply;
  const interval = pacing.tokensPerSecond > 0 ? 1000 / pacing.tokensPerSecond : 0;
  const steps = Math.max(0, ...plans.map((p) => p.units.length));
  const start = Date.now();
  await sleep(pacing.ttftMs + Math.max(0, steps - 1) * interval, signal);
  if (signal.aborted) return;
  if (fault?.kind === 'disconnect') {
    await kill();
    return;
  }
  if (fault?.kind === 'malformed-sse') {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(`{"id":"${String(identity.id)}","object":"chat.completion","choices":[{not json`);
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
                { id: p.callId, type: 'function', function: { name: p.name, arguments: p.arguments } },
              ],
            },
      logprobs: null,
      finish_reason: p.kind === 'text' ? p.finishReason : 'tool_calls',
      native_finish_reason: p.kind === 'text' ? p.finishReason : 'tool_calls',
    })),
  };
  if (fault?.kind !== 'no-usage') completion.usage = usageFor(units);
  record.outputTokens = units;
  sendJson(res, 200, JSON.stringify(completion), {
    ...headers,
    'openai-processing-ms': String(Date.now() - start),
  });
  return;
}

/** Streaming. n > 1 is supported: every step emits one chunk per choice, interleaved by index. */
export async function writeStream(reply: Reply): Promise<void> {
  const { res, signal, identity, headers, plans, fault, pacing, usageFor, record, kill } = reply;
  const interval = pacing.tokensPerSecond > 0 ? 1000 / pacing.tokensPerSecond : 0;
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
  const choice = (index: number, delta: Record<string, unknown>, finish: string | null = null): unknown => ({
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
  await sleep(pacing.ttftMs, signal);
  if (signal.aborted) return;
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
    if (step > 0) await sleep(t0 + step * interval - Date.now(), signal);
    if (signal.aborted) return;
    for (const [index, p] of plans.entries()) {
      const unit = p.units[step];
      if (unit === undefined) continue;
      const delta =
        p.kind === 'text' ? { content: unit } : { tool_calls: [{ index: 0, function: { arguments: unit } }] };
      if (!(await send(chunk([choice(index, delta)])))) return;
      record.outputTokens++;
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
  if (reply.includeUsage && fault?.kind !== 'no-usage') {
    const units = plans.reduce((sum, p) => sum + p.units.length, 0);
    if (!(await send(chunk([], { usage: usageFor(units) })))) return;
  }
  if (!(await send('data: [DONE]\n\n'))) return;
  res.end();
}
