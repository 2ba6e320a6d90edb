import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV, optionalEnv } from '../../config.js';

/**
 * One document client per process (module singleton), reused across invocations so the
 * connection pool stays warm. `DYNAMODB_ENDPOINT` points it at DynamoDB Local.
 */
let shared: DynamoDBDocumentClient | undefined;

export function documentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient(optionalEnv(ENV.dynamodbEndpoint));
  return shared;
}

/** `instrument` wraps the raw client, e.g. with X-Ray tracing. */
export function createDocumentClient(
  endpoint?: string,
  instrument: (client: DynamoDBClient) => DynamoDBClient = (c) => c,
): DynamoDBDocumentClient {
  const raw = new DynamoDBClient({
    ...(endpoint ? { endpoint, region: process.env.AWS_REGION ?? 'us-east-1' } : {}),
    maxAttempts: 3,
  });
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

/** The item returned with a cancelled transaction's failed condition (ALL_OLD), if any. */
export function cancelledItem(err: unknown, index: number): Record<string, unknown> | undefined {
  const reasons = (err as { CancellationReasons?: Array<{ Item?: Record<string, unknown> }> })
    .CancellationReasons;
  return reasons?.[index]?.Item;
}
