import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { guardrailScopes, ledgerKeys } from '../../tables.js';

/** What a key holder may see of their account: its name and wallet. */
export interface AccountBalance {
  name: string;
  balanceMicros: number;
  heldMicros: number;
}

/**
 * Point reads for a key holder's own view: the account's profile and wallet, and a key's and its
 * account's charges today (the daily aggregates their budgets are checked against). GetItem only,
 * never a Query.
 */
export class DynamoAccountReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly ledgerTable: string,
  ) {}

  private async item(key: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    return (await this.db.send(new GetCommand({ TableName: this.ledgerTable, Key: key }))).Item;
  }

  /** The account's name and wallet; undefined once the account is gone. */
  async balance(accountId: string): Promise<AccountBalance | undefined> {
    const [profile, wallet] = await Promise.all([
      this.item(ledgerKeys.accountProfile(accountId)),
      this.item(ledgerKeys.wallet(accountId)),
    ]);
    if (!profile) return undefined;
    return {
      name: String(profile.name ?? ''),
      balanceMicros: Number(wallet?.balanceMicros ?? 0),
      heldMicros: Number(wallet?.heldMicros ?? 0),
    };
  }

  private async chargesOn(day: string, scope: string): Promise<number> {
    const item = await this.item(ledgerKeys.guardrailAggregate(day, scope));
    return Number(item?.chargeMicros ?? 0);
  }

  /** The key's settled charges on a UTC day. */
  keyChargesOn(day: string, keyId: string): Promise<number> {
    return this.chargesOn(day, guardrailScopes.key(keyId));
  }

  /** The settled charges of all the account's keys on a UTC day. */
  accountChargesOn(day: string, accountId: string): Promise<number> {
    return this.chargesOn(day, guardrailScopes.account(accountId));
  }
}
