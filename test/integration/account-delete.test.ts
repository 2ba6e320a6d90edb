import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { DynamoAccountStore } from '../../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { hashApiKey } from '../../shared/domain/keys.js';
import { accountItems, ledgerKeys } from '../../shared/tables.js';

type DeleteRequest = { DeleteRequest: { Key: { sk: string | { S: string } } } };
/** A delete's sort key, marshalled or not. */
const sk = (r: DeleteRequest): string => {
  const value = r.DeleteRequest.Key.sk;
  return typeof value === 'string' ? value : value.S;
};

/**
 * Deleting an account when DynamoDB returns part of a batch as unprocessed and then keeps failing:
 * the profile must outlive every other item, so a retried DELETE still finds the account and no key
 * is left to authenticate against what remains.
 */
describe('account delete under partial batch writes', () => {
  let ledger: string;
  let endpoint: string;

  beforeAll(async () => {
    endpoint = inject('dynamodbEndpoint');
    ({ ledger } = await createTables(endpoint, `ad${randomBytes(6).toString('hex')}`));
  });

  it('keeps the profile until every other item is gone, so a retry finishes the delete', async () => {
    const db = createDocumentClient(endpoint);
    const store = new DynamoAccountStore(db, ledger);
    const { account, apiKey } = await store.createAccount('partial', 1_000);

    // The first batch write is applied to its profile delete only (if it holds one) and returns the
    // rest as unprocessed; every later one fails, as a throttled table might.
    const flaky = createDocumentClient(endpoint);
    let batches = 0;
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchWriteItemCommand') return next(args);
        if (batches++ > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        const input = args.input as { RequestItems: Record<string, DeleteRequest[]> };
        const requests = input.RequestItems[ledger] ?? [];
        const profile = requests.filter((r) => sk(r) === accountItems.profile);
        const others = requests.filter((r) => sk(r) !== accountItems.profile);
        if (profile.length > 0) await next({ ...args, input: { RequestItems: { [ledger]: profile } } });
        return {
          output: { UnprocessedItems: others.length > 0 ? { [ledger]: others } : {} },
          response: {},
        } as never;
      },
      { step: 'initialize', name: 'partialBatch' },
    );
    await expect(new DynamoAccountStore(flaky, ledger).deleteAccount(account.id)).rejects.toThrow();

    const profile = await db.send(
      new GetCommand({ TableName: ledger, Key: ledgerKeys.accountProfile(account.id), ConsistentRead: true }),
    );
    expect(profile.Item, 'the profile must remain while other items do').toBeDefined();

    // The operator retries: the account is found and everything goes, its key included.
    await store.deleteAccount(account.id);
    for (const key of [ledgerKeys.accountProfile(account.id), ledgerKeys.apiKey(hashApiKey(apiKey.key))]) {
      const { Item } = await db.send(new GetCommand({ TableName: ledger, Key: key, ConsistentRead: true }));
      expect(Item).toBeUndefined();
    }
  });
});
