/**
 * Table definitions: the single source of truth read by the CDK stack (infra/) and by the
 * local runtime, which creates the same tables in DynamoDB Local.
 */

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey: KeyAttribute;
}

export interface TableDefinition {
  /** Logical id, also the default name prefix locally. */
  id: string;
  partitionKey: KeyAttribute;
  sortKey: KeyAttribute;
  /** Epoch-seconds attribute that DynamoDB TTL deletes by. */
  timeToLiveAttribute: string;
  globalSecondaryIndexes: IndexDefinition[];
}

/**
 * The ledger: accounts, wallets, holds, release records, credit references, keys, catalog
 * versions, guardrail aggregates, dedupe markers, rate windows, Idempotency-Key records and the
 * last probe result, in one pk/sk table.
 */
export const LEDGER_TABLE: TableDefinition = {
  id: 'Ledger',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  globalSecondaryIndexes: [
    // Sparse: only hold items carry gsi1pk, so the reconciler can find old holds by age.
    {
      indexName: 'holds-by-age',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
    },
  ],
};

/** One item per request, by account and time, and by UTC day for reports. */
export const REQUEST_LOG_TABLE: TableDefinition = {
  id: 'RequestLog',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  globalSecondaryIndexes: [
    { indexName: 'by-day', partitionKey: { name: 'day', type: 'S' }, sortKey: { name: 'sk', type: 'S' } },
  ],
};

export const TABLES = [LEDGER_TABLE, REQUEST_LOG_TABLE] as const;

/** Sort keys (and their prefixes) of the item types in an account's ledger partition. */
export const accountItems = {
  profile: 'PROFILE',
  wallet: 'WALLET',
  keyPrefix: 'KEY#',
  holdPrefix: 'HOLD#',
  releasedPrefix: 'RELEASED#',
  creditPrefix: 'CREDIT#',
} as const;

/** Sort keys of the guardrail's daily aggregates: global and per tier (both sharded), per account and per key. */
export const guardrailScopes = {
  global: 'GLOBAL',
  tierPrefix: 'TIER#',
  tier: (tier: string) => `TIER#${tier}`,
  account: (accountId: string) => `ACCOUNT#${accountId}`,
  key: (keyId: string) => `KEY#${keyId}`,
};

/** Keys of request-log items: by account and time. */
export const requestLogKeys = {
  account: (accountId: string) => `ACCOUNT#${accountId}`,
  item: (accountId: string, startedAt: string, requestId: string) => ({
    pk: `ACCOUNT#${accountId}`,
    sk: `${startedAt}#${requestId}`,
  }),
};

/**
 * The partition-key prefix of the spend guardrail's per-day items. The guardrail's and the
 * reconciler's roles may Query the ledger only in partitions that start with it.
 */
export const GUARDRAIL_PARTITION_PREFIX = 'GUARDRAIL#';

/** Key names of the ledger's item types, kept here so every adapter builds keys alike. */
export const ledgerKeys = {
  accountProfile: (accountId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: 'PROFILE' }),
  /** One item per account in a single partition, newest last by sort key, so listing is a Query. */
  accountIndex: (createdAt: string, accountId: string) => ({
    pk: 'ACCOUNTS',
    sk: `${createdAt}#${accountId}`,
  }),
  wallet: (accountId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: 'WALLET' }),
  accountKeyRef: (accountId: string, keyId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `KEY#${keyId}` }),
  credit: (accountId: string, reference: string) => ({
    pk: `ACCOUNT#${accountId}`,
    sk: `CREDIT#${reference}`,
  }),
  hold: (accountId: string, requestId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `HOLD#${requestId}` }),
  /** Left by the reconciler when it releases a hold in full, so usage that arrives later still charges. */
  released: (accountId: string, requestId: string) => ({
    pk: `ACCOUNT#${accountId}`,
    sk: `RELEASED#${requestId}`,
  }),
  apiKey: (keyHash: string) => ({ pk: `APIKEY#${keyHash}`, sk: 'APIKEY' }),
  keyIdIndex: (keyId: string) => ({ pk: `KEYID#${keyId}`, sk: 'KEYID' }),
  catalogVersion: (version: number) => ({ pk: 'CATALOG', sk: `VERSION#${String(version).padStart(8, '0')}` }),
  catalogActive: () => ({ pk: 'CATALOG', sk: 'ACTIVE' }),
  guardrailAggregate: (day: string, scope: string) => ({
    pk: `${GUARDRAIL_PARTITION_PREFIX}${day}`,
    sk: scope,
  }),
  eventDedupe: (consumer: string, eventId: string) => ({ pk: `DEDUPE#${consumer}#${eventId}`, sk: 'DEDUPE' }),
  rateWindow: (keyId: string, window: string) => ({ pk: `RATE#${keyId}`, sk: window }),
  probeLast: () => ({ pk: 'PROBE', sk: 'LAST' }),
  /** Outside the account's partition: records of up to 350 KB must not weigh on reads of the account. */
  idempotency: (accountId: string, key: string) => ({ pk: `IDEMPOTENCY#${accountId}`, sk: key }),
} as const;
