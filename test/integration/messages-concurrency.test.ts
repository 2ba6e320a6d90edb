// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { messagesRequest, readMessagesStream } from '../support/anthropic-helpers.js';
import { createAccount, expectBooksBalanced, holdFor } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';

/**
 * Many concurrent Messages requests against one small wallet, through the same hold as chat:
 * nothing overdrafts, every admitted request is logged and charged once, and the rest are refused
 * with 402 billing_error.
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

interface Outcome {
  status: number;
  requestId: string | null;
  errorType?: string;
  /** A whole answer: a Message, or a stream that ended with message_stop. */
  complete: boolean;
  outputTokens?: number;
  stopReason?: string;
}

async function send(apiKey: string, body: string, stream: boolean): Promise<Outcome> {
  const res = await messagesRequest(runtime, body, { apiKey });
  const requestId = res.headers.get('request-id');
  if (res.status !== 200) {
    const json = (await res.json()) as { error?: { type?: string } };
    return {
      status: res.status,
      requestId,
      complete: false,
      ...(json.error?.type ? { errorType: json.error.type } : {}),
    };
  }
  if (!stream) {
    const json = (await res.json()) as {
      type?: string;
      stop_reason?: string;
      usage?: { output_tokens?: number };
    };
    return {
      status: 200,
      requestId,
      complete: json.type === 'message',
      ...(json.usage?.output_tokens === undefined ? {} : { outputTokens: json.usage.output_tokens }),
      ...(json.stop_reason ? { stopReason: json.stop_reason } : {}),
    };
  }
  const { events } = await readMessagesStream(res);
  const delta = events.find((e) => e.event === 'message_delta')?.data as
    | { delta: { stop_reason: string }; usage: { output_tokens: number } }
    | undefined;
  return {
    status: 200,
    requestId,
    complete: events.at(-1)?.event === 'message_stop',
    ...(delta ? { outputTokens: delta.usage.output_tokens, stopReason: delta.delta.stop_reason } : {}),
  };
}

/** The same bytes for both (so their holds are equal): the metadata's user id takes up the difference. */
function bodyPair(content: string, maxTokens: number): { plain: string; stream: string } {
  const make = (stream: boolean, user: string) =>
    JSON.stringify({
      model: 'claude-3-5-haiku-latest',
      max_tokens: maxTokens,
      stream,
      metadata: { user_id: user },
      messages: [{ role: 'user', content }],
    });
  const diff = Buffer.byteLength(make(false, 'u')) - Buffer.byteLength(make(true, 'u'));
  return { plain: make(false, 'u'), stream: make(true, `u${'x'.repeat(Math.max(0, diff))}`) };
}

async function expectConserved(accountId: string, creditMicros: number, outcomes: Outcome[]): Promise<void> {
  await runtime.bus.drain();
  const refusedOtherwise = outcomes.filter(
    (o) => o.status !== 200 && !(o.status === 402 && o.errorType === 'billing_error'),
  );
  expect(
    refusedOtherwise.map((o) => `${o.status} ${o.errorType ?? ''}`),
    'neither 200 nor 402',
  ).toEqual([]);
  const served = outcomes.filter((o) => o.status === 200);
  expect(
    served.filter((o) => !o.complete).map((o) => o.requestId),
    'incomplete answers',
  ).toEqual([]);
  await expectBooksBalanced(
    db,
    runtime,
    accountId,
    creditMicros,
    served.map((o) => o.requestId),
  );
}

describe('concurrent Messages requests against one wallet', () => {
  it('admit what the credit covers, refuse the rest with 402, and bill each admitted request once', async () => {
    const { plain, stream } = bodyPair('concurrency tokens:8', 64);
    expect(Buffer.byteLength(stream)).toBe(Buffer.byteLength(plain));
    const hold = holdFor('tier-1', plain, 64);
    const creditMicros = 40 * hold;
    const { accountId, apiKey } = await createAccount(runtime, 'messages-concurrency', creditMicros);

    const outcomes = await Promise.all(
      Array.from({ length: 160 }, (_, i) => send(apiKey, i % 2 === 0 ? plain : stream, i % 2 !== 0)),
    );
    const served = outcomes.filter((o) => o.status === 200).length;
    console.info(
      `[messages-concurrency] hold=${hold} credit=${creditMicros} served=${served} refused=${160 - served}`,
    );
    expect(served, 'at least the 40 covered holds are served').toBeGreaterThanOrEqual(40);
    // Lowered caps may let every request through; every other one is a 402 billing_error, before any byte.
    const refused = outcomes.filter((o) => o.status === 402 && o.errorType === 'billing_error').length;
    expect(served + refused).toBe(160);
    await expectConserved(accountId, creditMicros, outcomes);
  });

  it('lower the output cap for a wallet short of a full hold, and keep the books exact', async () => {
    const { plain, stream } = bodyPair('cap lowering tokens:500', 1000);
    const hold = holdFor('tier-1', plain, 1000);
    const creditMicros = 3 * hold + 10;
    const { accountId, apiKey } = await createAccount(runtime, 'messages-cap', creditMicros);
    const outcomes: Outcome[] = [];
    for (let wave = 0; wave < 12; wave++) {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => send(apiKey, i % 2 === 0 ? plain : stream, i % 2 !== 0)),
      );
      await runtime.bus.drain();
      outcomes.push(...results);
      if (results.every((o) => o.status !== 200)) break;
    }
    const shortened = outcomes.filter((o) => o.status === 200 && (o.outputTokens ?? 500) < 500);
    expect(shortened.length, 'answers cut to what the wallet covered').toBeGreaterThan(0);
    expect(shortened.every((o) => o.stopReason === 'max_tokens')).toBe(true);
    expect(outcomes.at(-1)?.status).toBe(402);
    await expectConserved(accountId, creditMicros, outcomes);
  });
});
