/**
 * Context for the hold comparison: how long one wallet-hold transaction takes on its own against
 * this DynamoDB Local, on a scratch account, with nothing else running. A hold that is faster than
 * the upstream's time to first token should be hidden behind it.
 */
import { performance } from 'node:perf_hooks';
import { DynamoAccountStore } from '../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../shared/adapters/dynamodb/wallet-store.js';
import { type Summary, summarize } from './stats.js';

export async function probeHoldLatency(
  dynamodbEndpoint: string,
  ledgerTable: string,
  count: number,
  warmup: number,
): Promise<{ latency: Summary; failures: number }> {
  const db = createDocumentClient(dynamodbEndpoint);
  try {
    const accounts = new DynamoAccountStore(db, ledgerTable);
    const { account, apiKey } = await accounts.createAccount('bench-hold-probe', 1_000_000_000);
    const wallet = new DynamoWalletStore(db, ledgerTable);
    const times: number[] = [];
    let failures = 0;
    for (let i = 0; i < warmup + count; i++) {
      const t0 = performance.now();
      const result = await wallet
        .placeHold({
          accountId: account.id,
          keyId: apiKey.id,
          requestId: `bench-hold-probe-${i}`,
          tier: 'tier-1',
          catalogVersion: 1,
          holdMicros: 1_000,
          startedAt: new Date().toISOString(),
        })
        .catch(() => ({ ok: false as const }));
      const ms = performance.now() - t0;
      if (!result.ok) failures++;
      else if (i >= warmup) times.push(ms);
    }
    return { latency: summarize(times), failures };
  } finally {
    db.destroy();
  }
}
