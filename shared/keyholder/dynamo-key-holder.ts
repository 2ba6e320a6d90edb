import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoAccountReader } from '../adapters/dynamodb/account-reader.js';
import { RequestLogReports } from '../admin/reports.js';
import { KeyHolderApi } from './key-holder-api.js';

/**
 * A key holder's usage report reads at most this many request-log items (the newest of its range,
 * and says it was truncated): its reads count against no rate limit, so each is kept small.
 */
export const KEY_HOLDER_MAX_USAGE_ITEMS = 10_000;

/**
 * The key holder's reads over DynamoDB. The public API imports this module on the first such
 * read, so the completions hot path neither loads nor initialises it.
 */
export function createKeyHolderApi(
  db: DynamoDBDocumentClient,
  ledgerTable: string,
  requestLogTable: string,
): KeyHolderApi {
  return new KeyHolderApi(
    new DynamoAccountReader(db, ledgerTable),
    new RequestLogReports(db, requestLogTable, Date.now, KEY_HOLDER_MAX_USAGE_ITEMS),
  );
}
