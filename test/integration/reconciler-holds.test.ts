// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  DynamoWalletStore,
  HOLDS_INDEX_SHARDS,
  holdsIndexPartition,
} from '../../shared/adapters/dynamodb/wallet-store.js';
import { abandonedUsage, Reconciler } from '../../shared/billing/reconciler.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { silentLog } from '../../shared/http.js';
import { ledgerKeys } from '../../shared/tables.js';
import { createAccount, logItems, openHolds, uniqueId, walletOf } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';

/**
 * Holds the reconciler must not release uncharged (an outbox it cannot read, one written after it
 * read the hold), and holds spread over the shards of the holds-by-age index.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, env: { RECONCILE_AFTER_MS: '0' } });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});

/** A hold placed a second ago, as by a request whose function is gone. */
async function placeOldHold(hold: {
  accountId: string;
  keyId: string;
  requestId: string;
  tier: 'tier-1' | 'tier-2';
  holdMicros: number;
}) {
  const placed = { ...hold, catalogVersion: 1, startedAt: new Date(Date.now() - 1_000).toISOString() };
  expect(await new DynamoWalletStore(db, runtime.tables.ledger).placeHold(placed)).toEqual({ ok: true });
  return placed;
}

const reconciler = () =>
  new Reconciler(
    db,
    runtime.tables.ledger,
    new Settlement(db, runtime.tables.ledger, runtime.tables.requestLog),
    new SpendGuardrail(db, runtime.tables.ledger, Number.MAX_SAFE_INTEGER),
    silentLog,
  );

/** Sets one attribute of a hold item, as the function or an older version would have left it. */
const setOnHold = (
  hold: { accountId: string; requestId: string },
  name: 'outbox' | 'gsi1pk',
  value: unknown,
) =>
  db.send(
    new UpdateCommand({
      TableName: runtime.tables.ledger,
      Key: ledgerKeys.hold(hold.accountId, hold.requestId),
      UpdateExpression: 'SET #name = :value',
      ExpressionAttributeNames: { '#name': name },
      ExpressionAttributeValues: { ':value': value },
    }),
  );

const removeOutbox = (hold: { accountId: string; requestId: string }) =>
  db.send(
    new UpdateCommand({
      TableName: runtime.tables.ledger,
      Key: ledgerKeys.hold(hold.accountId, hold.requestId),
      UpdateExpression: 'REMOVE outbox',
    }),
  );

describe('holds with an outbox', () => {
  /** A hold placed a second ago for a request whose function is gone, with `outbox` parked on it. */
  async function heldWithOutbox(name: string, outbox: unknown) {
    const credit = 50_000;
    const { accountId, keyId } = await createAccount(runtime, name, credit);
    const requestId = uniqueId(name);
    const hold = await placeOldHold({ accountId, keyId, requestId, tier: 'tier-2', holdMicros: 12_345 });
    await setOnHold({ accountId, requestId }, 'outbox', outbox);
    return { ...hold, credit };
  }
  it('keeps a hold whose outbox does not parse, as a failure, instead of releasing it uncharged', async () => {
    const hold = await heldWithOutbox('bad-outbox', { requestId: 'x', status: 'from a newer version' });
    const report = await reconciler().reconcile(0);
    expect(report).toMatchObject({ failed: 1, released: 0 });
    expect(await openHolds(db, runtime.tables.ledger, hold.accountId)).toHaveLength(1);
    expect(await walletOf(db, runtime.tables.ledger, hold.accountId)).toEqual({
      balanceMicros: hold.credit - 12_345,
      heldMicros: 12_345,
    });
    expect(await logItems(db, runtime.tables.requestLog, hold.accountId)).toEqual([]);
    // Out of the way of the other tests' runs.
    await removeOutbox(hold);
    expect(await reconciler().reconcile(0)).toMatchObject({ failed: 0 });
  });

  it('does not release a hold that gained an outbox after the reconciler read it', async () => {
    const hold = await heldWithOutbox('late-outbox', { parked: true });
    // As the reconciler would, having read the hold from the index before the outbox was written.
    const settlement = new Settlement(db, runtime.tables.ledger, runtime.tables.requestLog);
    const released = await settlement.release(abandonedUsage(hold, Date.now()));
    expect(released.settled).toBe(false);
    expect(await openHolds(db, runtime.tables.ledger, hold.accountId)).toHaveLength(1);
    expect(await logItems(db, runtime.tables.requestLog, hold.accountId)).toEqual([]);
    await removeOutbox(hold);
  });
});

describe('the holds-by-age index', () => {
  it('spreads holds over its shards, and the reconciler finds them in each, and in the partition before them', async () => {
    const { accountId, keyId } = await createAccount(runtime, 'shards', 100_000);
    // Request ids until every shard has a hold.
    const ids = new Map<string, string>();
    for (let i = 0; ids.size < HOLDS_INDEX_SHARDS; i++) {
      const requestId = uniqueId(`shard${i}`);
      if (!ids.has(holdsIndexPartition(requestId))) ids.set(holdsIndexPartition(requestId), requestId);
    }
    const legacy = uniqueId('legacy');
    for (const requestId of [...ids.values(), legacy])
      await placeOldHold({ accountId, keyId, requestId, tier: 'tier-1', holdMicros: 100 });
    // A hold placed before the index had shards.
    await setOnHold({ accountId, requestId: legacy }, 'gsi1pk', 'HOLD');
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toHaveLength(HOLDS_INDEX_SHARDS + 1);

    await runtime.runReconciler();
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: 100_000,
      heldMicros: 0,
    });
  });

  it('reads the partitions in turns, so one full of holds that fail every run keeps no other waiting', async () => {
    const { accountId, keyId } = await createAccount(runtime, 'turns', 100_000);
    const inShard = (shard: string, label: string): string => {
      for (let i = 0; ; i++) {
        const requestId = uniqueId(`${label}${i}`);
        if (holdsIndexPartition(requestId) === shard) return requestId;
      }
    };
    // More holds than a run may take, all in one shard, each with an outbox that does not parse.
    const maxHolds = 18;
    const stuck = Array.from({ length: maxHolds + 2 }, (_, i) => inShard('HOLD#0', `stuck${i}-`));
    for (const requestId of stuck) {
      await placeOldHold({ accountId, keyId, requestId, tier: 'tier-1', holdMicros: 100 });
      await setOnHold({ accountId, requestId }, 'outbox', { unreadable: true });
    }
    const waiting = inShard('HOLD#5', 'waiting');
    await placeOldHold({ accountId, keyId, requestId: waiting, tier: 'tier-1', holdMicros: 100 });

    const report = await reconciler().reconcile(0, maxHolds);
    expect(report.scanned).toBe(maxHolds);
    expect(report.released).toBe(1);
    const open = (await openHolds(db, runtime.tables.ledger, accountId)) as Array<{ requestId: string }>;
    expect(open.map((h) => h.requestId).sort()).toEqual([...stuck].sort());

    // Out of the way of the other tests' runs.
    for (const requestId of stuck) await removeOutbox({ accountId, requestId });
    await reconciler().reconcile(0);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
  });
});
