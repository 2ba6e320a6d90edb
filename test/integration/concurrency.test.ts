// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  createAccount,
  expectBooksBalanced,
  holdFor,
  logItems,
  sumOf,
  walletOf,
} from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Many concurrent requests against one small wallet: nothing overdrafts, nothing is lost,
 * nothing is charged twice, and a request is either served (and logged once) or refused with 429.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});

/**
 * A non-streaming and a streaming body of exactly the same UTF-8 length (so their holds are equal)
 * and the same messages (so their charges are equal): the `user` field takes up the difference.
 */
function bodyPair(content: string, maxTokens: number): { plain: string; stream: string } {
  const messages = [{ role: 'user', content }];
  const make = (stream: boolean, user: string) =>
    JSON.stringify({
      model: 'tier-1',
      max_tokens: maxTokens,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      user,
      messages,
    });
  const diff = Buffer.byteLength(make(true, 'u')) - Buffer.byteLength(make(false, 'u'));
  const pair = {
    plain: make(false, `u${'x'.repeat(Math.max(0, diff))}`),
    stream: make(true, `u${'x'.repeat(Math.max(0, -diff))}`),
  };
  if (Buffer.byteLength(pair.plain) !== Buffer.byteLength(pair.stream))
    throw new Error('body pair lengths differ');
  return pair;
}

interface Outcome {
  status: number;
  requestId: string | null;
  stream: boolean;
  code?: string | null;
  /** Streams: whether the SSE ended with [DONE]. Bodies: whether it parsed as a completion. */
  complete: boolean;
  completionTokens?: number;
  finishReason?: string | null;
}

async function send(runtime: LocalRuntime, apiKey: string, body: string, stream: boolean): Promise<Outcome> {
  const res = await fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body,
  });
  const text = await res.text();
  const requestId = res.headers.get('x-request-id');
  if (res.status !== 200) {
    let code: string | null = null;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
    } catch {
      code = null;
    }
    return { status: res.status, requestId, stream, code, complete: false };
  }
  if (stream) {
    const frames = text
      .split(/\n\n/)
      .map((f) => f.replace(/^data: ?/, '').trim())
      .filter((f) => f !== '');
    const json = frames.filter((f) => f !== '[DONE]').map((f) => JSON.parse(f) as Record<string, unknown>);
    const usage = json.find((c) => c.usage)?.usage as { completion_tokens?: number } | undefined;
    const finish = json
      .flatMap((c) =>
        Array.isArray(c.choices) ? (c.choices as Array<{ finish_reason?: string | null }>) : [],
      )
      .map((c) => c.finish_reason)
      .find((f) => typeof f === 'string');
    return {
      status: 200,
      requestId,
      stream,
      complete: frames.at(-1) === '[DONE]',
      ...(usage?.completion_tokens === undefined ? {} : { completionTokens: usage.completion_tokens }),
      finishReason: finish ?? null,
    };
  }
  const json = JSON.parse(text) as {
    choices?: Array<{ finish_reason?: string | null }>;
    usage?: { completion_tokens?: number };
  };
  return {
    status: 200,
    requestId,
    stream,
    complete: Array.isArray(json.choices),
    ...(json.usage?.completion_tokens === undefined
      ? {}
      : { completionTokens: json.usage.completion_tokens }),
    finishReason: json.choices?.[0]?.finish_reason ?? null,
  };
}

/** The money invariants after every request has ended and every event has been delivered. */
async function expectConserved(accountId: string, creditMicros: number, outcomes: Outcome[]): Promise<void> {
  const unexpected = outcomes.filter(
    (o) => o.status !== 200 && !(o.status === 429 && o.code === 'insufficient_quota'),
  );
  expect(
    unexpected.map((o) => `${o.status} ${o.code ?? ''}`),
    'responses other than 200 / 429 insufficient_quota',
  ).toEqual([]);
  const served = outcomes.filter((o) => o.status === 200);
  expect(
    served.filter((o) => !o.complete).map((o) => o.requestId),
    'incomplete 200 responses',
  ).toEqual([]);
  const wallet = await expectBooksBalanced(
    db,
    runtime,
    accountId,
    creditMicros,
    served.map((o) => o.requestId),
  );
  // The admin view agrees with the ledger.
  const view = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
  expect(view.json.balanceMicros).toBe(wallet.balanceMicros);
  expect(view.json.heldMicros).toBe(0);
}

describe('concurrent requests against one wallet', () => {
  it('admits what the credit covers, refuses the rest with 429, and bills each admitted request once', async () => {
    const { plain, stream } = bodyPair('concurrency tokens:8', 64);
    const hold = holdFor('tier-1', plain, 64);
    expect(holdFor('tier-1', stream, 64)).toBe(hold);
    const creditMicros = 50 * hold;
    const { accountId, apiKey } = await createAccount(runtime, 'concurrency', creditMicros);

    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send(runtime, apiKey, i % 2 === 0 ? plain : stream, i % 2 !== 0)),
    );
    await runtime.bus.drain();

    const served = outcomes.filter((o) => o.status === 200).length;
    const refused = outcomes.filter((o) => o.status === 429).length;
    const wallet = await walletOf(db, runtime.tables.ledger, accountId);
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    console.info(
      `[concurrency] hold=${hold} credit=${creditMicros} served=${served} refused=${refused} ` +
        `other=${200 - served - refused} (${outcomes
          .filter((o) => o.status !== 200 && o.status !== 429)
          .map((o) => o.status)
          .slice(0, 5)
          .join(
            ',',
          )}) charged=${sumOf(log, 'chargeMicros')} final=${wallet.balanceMicros} logged=${log.length}`,
    );

    expect(outcomes.filter((o) => o.status >= 500).length, '5xx responses').toBe(0);
    expect(served, 'at least the 50 covered holds are served').toBeGreaterThanOrEqual(50);
    await expectConserved(accountId, creditMicros, outcomes);
  });

  it('lowers the output cap for a wallet short of a full hold and keeps the books exact', async () => {
    const maxTokens = 1000;
    const wanted = 500;
    const { plain, stream } = bodyPair(`cap lowering tokens:${wanted}`, maxTokens);
    const hold = holdFor('tier-1', plain, maxTokens);
    const creditMicros = 3 * hold + 10; // a few full holds, then ever smaller balances
    const { accountId, apiKey } = await createAccount(runtime, 'cap-lowering', creditMicros);

    const outcomes: Outcome[] = [];
    const waves: string[] = [];
    for (let wave = 0; wave < 12; wave++) {
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          send(runtime, apiKey, i % 2 === 0 ? plain : stream, i % 2 !== 0),
        ),
      );
      await runtime.bus.drain();
      outcomes.push(...results);
      const ok = results.filter((o) => o.status === 200).length;
      waves.push(`${ok}/${results.length}`);
      // Stop once the wallet covers nothing more (or the gateway misbehaves: asserted below).
      if (ok === 0) break;
    }
    const wallet = await walletOf(db, runtime.tables.ledger, accountId);
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    const shortened = log.filter((i) => Number(i.outputTokens) < wanted && i.status === 'ok');
    console.info(
      `[cap-lowering] hold=${hold} credit=${creditMicros} waves(served/sent)=${waves.join(' ')} ` +
        `statuses=${[...new Set(outcomes.map((o) => o.status))].join(',')} shortened=${shortened.length} ` +
        `charged=${sumOf(log, 'chargeMicros')} final=${wallet.balanceMicros}`,
    );

    expect(outcomes.filter((o) => o.status >= 500).length, '5xx responses').toBe(0);
    // Some requests were served with an output cap lowered to what the wallet covered.
    expect(shortened.length, 'requests served with a lowered cap').toBeGreaterThan(0);
    for (const item of shortened) {
      expect(Number(item.holdMicros)).toBeLessThan(hold);
      expect(Number(item.outputTokens)).toBeGreaterThanOrEqual(16);
    }
    const servedShort = outcomes.filter(
      (o) => o.status === 200 && o.completionTokens !== undefined && o.completionTokens < wanted,
    );
    expect(servedShort.length).toBe(shortened.length);
    expect(servedShort.every((o) => o.finishReason === 'length')).toBe(true);
    // The last wave found a wallet that covers no minimum-size answer.
    expect(outcomes.at(-1)?.status).toBe(429);
    await expectConserved(accountId, creditMicros, outcomes);
  });
});
