import { randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoIdempotencyStore } from '../../shared/adapters/dynamodb/idempotency-store.js';
import { IDEMPOTENCY_TTL_MS, MAX_STORED_RESULT_BYTES } from '../../shared/gateway/idempotency.js';
import type { ClaimResult, IdempotencyClaim, StoredResponse } from '../../shared/ports.js';
import { ledgerKeys } from '../../shared/tables.js';

/** The Idempotency-Key store's conditions against DynamoDB Local: one winner per key, owners only. */

let db: DynamoDBDocumentClient;
let ledger: string;
let store: DynamoIdempotencyStore;

beforeAll(async () => {
  const endpoint = inject('dynamodbEndpoint');
  db = createDocumentClient(endpoint);
  ({ ledger } = await createTables(endpoint, `i${randomBytes(6).toString('hex')}`));
  store = new DynamoIdempotencyStore(db, ledger);
});

const T0 = Date.parse('2031-05-01T12:00:00.000Z');

/** A claim on a fresh key of a fresh account, at T0 with a 10 s lease. */
function claimOf(overrides: Partial<IdempotencyClaim> = {}): IdempotencyClaim {
  return {
    accountId: `acct_${randomBytes(6).toString('hex')}`,
    key: `key-${randomBytes(6).toString('hex')}`,
    requestId: 'req-a',
    bodyHash: 'hash-1',
    now: T0,
    leaseUntil: T0 + 10_000,
    expiresAt: T0 + IDEMPOTENCY_TTL_MS,
    ...overrides,
  };
}

const json: StoredResponse = {
  status: 200,
  headers: { 'content-type': 'application/json', 'x-request-id': 'req-a', 'x-tier': 'tier-1' },
  body: '{"id":"chatcmpl-req-a"}',
};

/** The stored body a refused claim is shown, when the key holds a completed result. */
const storedBody = (result: ClaimResult) =>
  !result.claimed && result.record.state === 'completed' ? result.record.response.body : undefined;

async function itemOf(claim: IdempotencyClaim) {
  const { Item } = await db.send(
    new GetCommand({
      TableName: ledger,
      Key: ledgerKeys.idempotency(claim.accountId, claim.key),
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('DynamoIdempotencyStore', () => {
  it('claims a free key once, with its TTL, and shows later claims the in-flight record', async () => {
    const claim = claimOf();
    expect(await store.claim(claim)).toEqual({ claimed: true });
    const item = await itemOf(claim);
    expect(item).toMatchObject({
      pk: `IDEMPOTENCY#${claim.accountId}`,
      sk: claim.key,
      state: 'in_flight',
      requestId: 'req-a',
      bodyHash: 'hash-1',
      leaseUntil: T0 + 10_000,
      expiresAt: (T0 + IDEMPOTENCY_TTL_MS) / 1000,
    });
    expect(await store.claim({ ...claim, requestId: 'req-b', bodyHash: 'hash-2' })).toEqual({
      claimed: false,
      record: { state: 'in_flight', requestId: 'req-a', bodyHash: 'hash-1', leaseUntil: T0 + 10_000 },
    });
  });

  it('lets exactly one of many concurrent claims win', async () => {
    const claim = claimOf();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.claim({ ...claim, requestId: `req-${i}` })),
    );
    const winners = results.flatMap((r, i) => (r.claimed ? [`req-${i}`] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.claimed) expect(r.record.requestId).toBe(winners[0]);
  });

  it('stores a buffered result and a stream, and returns them to later claims', async () => {
    const claim = claimOf();
    await store.claim(claim);
    expect(await store.complete(claim.accountId, claim.key, 'req-a', json)).toBe(true);
    expect(await store.claim({ ...claim, requestId: 'req-b', now: T0 + 20_000 })).toEqual({
      claimed: false,
      record: { state: 'completed', requestId: 'req-a', bodyHash: 'hash-1', response: json },
    });
    expect((await itemOf(claim))?.leaseUntil).toBeUndefined();

    const streamed = claimOf();
    const frames: StoredResponse = {
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8' },
      body: ['data: {"n":1}\n\n', '', 'data: {"n":"漢"}\n\n', 'data: [DONE]\n\n'],
    };
    await store.claim(streamed);
    await store.complete(streamed.accountId, streamed.key, 'req-a', frames);
    const repeat = await store.claim({ ...streamed, requestId: 'req-b' });
    expect(repeat).toMatchObject({ claimed: false, record: { state: 'completed', response: frames } });
  });

  it('holds a result as large as the cap in one item', async () => {
    const claim = claimOf();
    await store.claim(claim);
    const big = { ...json, body: 'x'.repeat(MAX_STORED_RESULT_BYTES) };
    expect(await store.complete(claim.accountId, claim.key, 'req-a', big)).toBe(true);
    const repeat = await store.claim({ ...claim, requestId: 'req-b' });
    expect(
      repeat.claimed === false && repeat.record.state === 'completed' && repeat.record.response.body,
    ).toBe(big.body);
  });

  it('holds a stream of small frames as large as the cap in one item', async () => {
    const claim = claimOf();
    await store.claim(claim);
    // The cap counts one byte per frame on top of its text, for the list's overhead.
    const frames = Array.from({ length: MAX_STORED_RESULT_BYTES / 10 }, (_, i) => `data: ${i % 10}\n`);
    const stream = { ...json, body: frames };
    expect(await store.complete(claim.accountId, claim.key, 'req-a', stream)).toBe(true);
    expect(storedBody(await store.claim({ ...claim, requestId: 'req-b' }))).toEqual(frames);
  });

  it('records a result too large to store, or one that could not be stored, as completed', async () => {
    for (const [outcome, state] of [
      ['too_large', 'completed_too_large'],
      ['unstored', 'completed_unstored'],
    ] as const) {
      const claim = claimOf();
      await store.claim(claim);
      expect(await store.complete(claim.accountId, claim.key, 'req-a', outcome)).toBe(true);
      // Completed for good: a later claim, even once the lease has run out, finds it.
      expect(await store.claim({ ...claim, requestId: 'req-b', now: claim.leaseUntil + 1 })).toEqual({
        claimed: false,
        record: { state, requestId: 'req-a', bodyHash: 'hash-1' },
      });
    }
  });

  it('frees a released key for the next claim; only the claiming request can release or complete', async () => {
    const claim = claimOf();
    await store.claim(claim);
    await store.release(claim.accountId, claim.key, 'req-other');
    expect(await store.complete(claim.accountId, claim.key, 'req-other', json)).toBe(false);
    expect((await store.claim({ ...claim, requestId: 'req-b' })).claimed).toBe(false);

    await store.release(claim.accountId, claim.key, 'req-a');
    expect((await itemOf(claim))?.state).toBe('released');
    expect(await store.claim({ ...claim, requestId: 'req-b', bodyHash: 'hash-2' })).toEqual({
      claimed: true,
    });
    // The released attempt cannot complete over its successor.
    expect(await store.complete(claim.accountId, claim.key, 'req-a', json)).toBe(false);
    expect((await itemOf(claim))?.requestId).toBe('req-b');
  });

  it('frees an in-flight key once its lease has ended, but not before', async () => {
    const claim = claimOf();
    await store.claim(claim);
    const retry = { ...claim, requestId: 'req-b' };
    expect((await store.claim({ ...retry, now: claim.leaseUntil - 1 })).claimed).toBe(false);
    expect(
      await store.claim({ ...retry, now: claim.leaseUntil, leaseUntil: claim.leaseUntil + 10_000 }),
    ).toEqual({ claimed: true });
    // The crashed attempt's late result is refused: the key is the retry's now.
    expect(await store.complete(claim.accountId, claim.key, 'req-a', json)).toBe(false);
    expect(await store.complete(claim.accountId, claim.key, 'req-b', json)).toBe(true);
  });

  it('treats a record past its expiry as gone, though TTL has not deleted it yet', async () => {
    const claim = claimOf();
    await store.claim(claim);
    await store.complete(claim.accountId, claim.key, 'req-a', json);
    const later = { ...claim, requestId: 'req-b' };
    expect((await store.claim({ ...later, now: claim.expiresAt - 1_000 })).claimed).toBe(false);
    expect((await store.claim({ ...later, now: claim.expiresAt })).claimed).toBe(true);
  });

  it('keeps keys apart per account', async () => {
    const claim = claimOf();
    await store.claim(claim);
    expect((await store.claim({ ...claim, accountId: `${claim.accountId}x` })).claimed).toBe(true);
  });
});
