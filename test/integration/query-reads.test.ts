// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient, queryAll } from '../../shared/adapters/dynamodb/client.js';
import { uniqueId } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';

/**
 * A query that keeps the first n items asks DynamoDB for n, not for a page: DynamoDB reads, and
 * bills, a whole 1 MB page for a Query without a Limit, whatever the caller then keeps (a key
 * holder's `/v1/requests?limit=1` read 1,850 log items, 128 read units, for one).
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;
const ITEMS = 250;
const pk = uniqueId('query-reads');

/** `queryAll` against a client that counts the items each Query read. */
async function readsOf(limit?: number): Promise<{ kept: number; read: number; queries: number }> {
  let read = 0;
  let queries = 0;
  const counting = {
    send: async (command: unknown) => {
      const out = await db.send(command as QueryCommand);
      if (command instanceof QueryCommand) {
        queries++;
        read += (out as { ScannedCount?: number }).ScannedCount ?? 0;
      }
      return out;
    },
  } as DynamoDBDocumentClient;
  const items = await queryAll(
    counting,
    {
      TableName: runtime.tables.requestLog,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ScanIndexForward: false,
    },
    limit,
  );
  return { kept: items.length, read, queries };
}

beforeAll(async () => {
  runtime = await startTestRuntime();
  db = createDocumentClient(runtime.dynamodbEndpoint);
  const padding = 'x'.repeat(500);
  for (let i = 0; i < ITEMS; i += 25) {
    const batch = Array.from({ length: 25 }, (_, j) => ({
      PutRequest: { Item: { pk, sk: String(i + j).padStart(4, '0'), padding } },
    }));
    await db.send(new BatchWriteCommand({ RequestItems: { [runtime.tables.requestLog]: batch } }));
  }
});
afterAll(async () => {
  await runtime?.close();
});

describe('queryAll', () => {
  it('reads no more items than it keeps', async () => {
    expect(await readsOf(1)).toEqual({ kept: 1, read: 1, queries: 1 });
    expect(await readsOf(101)).toEqual({ kept: 101, read: 101, queries: 1 });
    expect(await readsOf(ITEMS + 10)).toMatchObject({ kept: ITEMS, read: ITEMS });
  });

  it('reads every item when no limit is given', async () => {
    expect(await readsOf()).toMatchObject({ kept: ITEMS, read: ITEMS });
  });
});
