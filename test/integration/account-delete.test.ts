import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { DynamoAccountStore } from '../../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { hashApiKey } from '../../shared/domain/keys.js';
import { accountItems, ledgerKeys } from '../../shared/tables.js';

type Attribute = string | { S: string };
type DeleteRequest = { DeleteRequest: { Key: { pk: Attribute; sk: Attribute } } };
const text = (value: Attribute): string => (typeof value === 'string' ? value : value.S);
/** A delete's key, marshalled or not. */
const keyOf = (r: DeleteRequest) => ({ pk: text(r.DeleteRequest.Key.pk), sk: text(r.DeleteRequest.Key.sk) });

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

  const cases: Array<[string, (key: { pk: string; sk: string }) => boolean]> = [
    ['applies only the profile delete', (key) => key.sk === accountItems.profile],
    ["applies every delete but the key's hash item", (key) => !key.pk.startsWith('APIKEY#')],
  ];
  it.each(cases)(
    'when the first batch write %s and then the table fails, a retry still deletes it all',
    async (_, applied) => {
      const db = createDocumentClient(endpoint);
      const store = new DynamoAccountStore(db, ledger);
      const { account, apiKey } = await store.createAccount('partial', 1_000);
      const hashItem = ledgerKeys.apiKey(hashApiKey(apiKey.key));

      // The first batch write applies some of its deletes and returns the rest as unprocessed; every
      // later one fails, as a throttled table might.
      const flaky = createDocumentClient(endpoint);
      let batches = 0;
      flaky.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName !== 'BatchWriteItemCommand') return next(args);
          if (batches++ > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
          const input = args.input as { RequestItems: Record<string, DeleteRequest[]> };
          const requests = input.RequestItems[ledger] ?? [];
          const done = requests.filter((r) => applied(keyOf(r)));
          const others = requests.filter((r) => !applied(keyOf(r)));
          if (done.length > 0) await next({ ...args, input: { RequestItems: { [ledger]: done } } });
          return {
            output: { UnprocessedItems: others.length > 0 ? { [ledger]: others } : {} },
            response: {},
          } as never;
        },
        { step: 'initialize', name: 'partialBatch' },
      );
      await expect(new DynamoAccountStore(flaky, ledger).deleteAccount(account.id)).rejects.toThrow();

      const profile = await db.send(
        new GetCommand({
          TableName: ledger,
          Key: ledgerKeys.accountProfile(account.id),
          ConsistentRead: true,
        }),
      );
      expect(profile.Item, 'the profile must remain while other items do').toBeDefined();

      // The operator retries: the account is found and everything goes, its key's hash item included
      // (the item a request authenticates with).
      await store.deleteAccount(account.id);
      for (const key of [ledgerKeys.accountProfile(account.id), hashItem]) {
        const { Item } = await db.send(new GetCommand({ TableName: ledger, Key: key, ConsistentRead: true }));
        expect(Item, JSON.stringify(key)).toBeUndefined();
      }
    },
  );
});
