import { type AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ENV, optionalEnv } from '../../config.js';
import { sdkRequestHandler, withoutSdkLogging } from '../sdk-client.js';

/**
 * One document client per process (module singleton), reused across invocations so the
 * connection pool stays warm. `DYNAMODB_ENDPOINT` points it at DynamoDB Local.
 */
let shared: DynamoDBDocumentClient | undefined;

export function documentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient(optionalEnv(ENV.dynamodbEndpoint));
  return shared;
}

/** `instrument` wraps the raw client, e.g. with X-Ray tracing; `requestTimeoutMs` bounds each attempt. */
export function createDocumentClient(
  endpoint?: string,
  instrument: (client: DynamoDBClient) => DynamoDBClient = (c) => c,
  requestTimeoutMs?: number,
): DynamoDBDocumentClient {
  const raw = withoutSdkLogging(
    new DynamoDBClient({
      ...(endpoint ? { endpoint, region: process.env.AWS_REGION ?? 'us-east-1' } : {}),
      maxAttempts: 3,
      requestHandler: sdkRequestHandler(requestTimeoutMs),
    }),
  );
  return DynamoDBDocumentClient.from(instrument(raw), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** True for a cancelled transaction whose item at `index` failed its condition. */
export function conditionFailedAt(err: unknown, index: number): boolean {
  const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
  return (
    (err as Error).name === 'TransactionCanceledException' &&
    reasons?.[index]?.Code === 'ConditionalCheckFailed'
  );
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * The item returned with a cancelled transaction's failed condition (ALL_OLD), if any. The
 * document client does not convert items carried by exceptions: they arrive as raw attribute
 * values, so they are unmarshalled here.
 */
export function cancelledItem(err: unknown, index: number): Record<string, unknown> | undefined {
  const reasons = (err as { CancellationReasons?: Array<{ Item?: Record<string, AttributeValue> }> })
    .CancellationReasons;
  const item = reasons?.[index]?.Item;
  return item ? unmarshall(item) : undefined;
}

/** The item a failed conditional write returned (ReturnValuesOnConditionCheckFailure), unmarshalled. */
export function conditionFailedItem(err: unknown): Record<string, unknown> | undefined {
  const item = (err as { Item?: Record<string, AttributeValue> }).Item;
  return item ? unmarshall(item) : undefined;
}

/** True when DynamoDB cancelled a transaction only because another one touched the same item. */
export function isTransactionConflict(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: Array<{ Code?: string }> };
  if (e?.name === 'TransactionConflictException') return true;
  return (
    e?.name === 'TransactionCanceledException' &&
    (e.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict') &&
    !(e.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
  );
}

/**
 * Runs a transaction again when it lost a conflict with a concurrent one on the same item (a
 * busy wallet): the outcome is still decided by the conditions, never by the race.
 */
export async function retryOnConflict<T>(run: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= attempts || !isTransactionConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** attempt));
    }
  }
}

type Item = Record<string, unknown>;

/** Every item a query matches, page by page, up to `limit` items. */
export async function queryAll(
  db: DynamoDBDocumentClient,
  input: QueryCommandInput,
  limit = Number.POSITIVE_INFINITY,
): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    // Without a Limit, DynamoDB reads (and bills) a whole 1 MB page whatever the caller keeps.
    const wanted = limit - items.length;
    const pageLimit = Number.isFinite(wanted) ? Math.min(wanted, input.Limit ?? wanted) : input.Limit;
    const page = await db.send(
      new QueryCommand({
        ...input,
        ExclusiveStartKey: startKey,
        ...(pageLimit === undefined ? {} : { Limit: pageLimit }),
      }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey && items.length < limit);
  return items.length > limit ? items.slice(0, limit) : items;
}

/** Every item of one partition (optionally under a sort-key prefix), strongly consistent. */
export function queryPartition(db: DynamoDBDocumentClient, table: string, pk: string, skPrefix?: string) {
  return queryAll(db, {
    TableName: table,
    KeyConditionExpression: skPrefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :sk)',
    ExpressionAttributeValues: { ':pk': pk, ...(skPrefix === undefined ? {} : { ':sk': skPrefix }) },
    ConsistentRead: true,
  });
}

/** One TransactWriteItems call, run again if it only lost a conflict with a concurrent one. */
export function transactWrite(
  db: DynamoDBDocumentClient,
  items: NonNullable<TransactWriteCommandInput['TransactItems']>,
): Promise<unknown> {
  return retryOnConflict(() => db.send(new TransactWriteCommand({ TransactItems: items })));
}
