/** Accounts, their API keys and their credit. */
import { segment } from '../../shared/admin-client/client.js';
import { type Command, intOption, nonEmpty, required, right, showKey, usdOption } from '../command-kit.js';
import { formatInt, formatText, formatUsd, renderFields, renderTable, UsageError } from '../format.js';

// The response shapes of the admin API, as far as the renderers use them.
interface KeyCreated {
  id: string;
  key: string;
}
interface AccountCreated {
  account: { id: string; name: string; balanceMicros: number };
  apiKey: KeyCreated;
}
interface AccountKey {
  id: string;
  name?: string;
  status: string;
  createdAt: string;
  rpm?: number;
  tpm?: number;
  dailyBudgetMicros?: number;
}
interface Account {
  id: string;
  name: string;
  createdAt: string;
  balanceMicros: number;
  heldMicros: number;
  /** Late usage the wallet could not cover, paid from the next top-ups. */
  debtMicros?: number;
  keys: AccountKey[];
}
interface AccountPage {
  accounts: Array<{ id: string; name: string; createdAt: string; balanceMicros: number }>;
  nextCursor?: string;
}
interface Credit {
  balanceMicros: number;
  applied?: boolean;
  amountMicros?: number;
}

const MAX_RPM = 1_000_000;
const MAX_TPM = 1_000_000_000;
const MAX_ACCOUNTS_PAGE = 100;

function keysTable(keys: AccountKey[]): string {
  if (keys.length === 0) return 'No keys.';
  return renderTable(
    [
      { header: 'KEY' },
      { header: 'NAME' },
      { header: 'STATUS' },
      { header: 'CREATED' },
      { header: 'RPM', align: right },
      { header: 'TPM', align: right },
      { header: 'DAILY BUDGET', align: right },
    ],
    keys.map((key) => [
      key.id,
      formatText(key.name),
      formatText(key.status),
      formatText(key.createdAt),
      formatInt(key.rpm),
      formatInt(key.tpm),
      formatUsd(key.dailyBudgetMicros),
    ]),
  );
}

const accountPath = (id: string) => `/admin/accounts/${segment(id)}`;

export const ACCOUNT_COMMANDS: readonly Command[] = [
  {
    name: 'accounts create',
    args: [],
    options: {
      name: ['N', 'the account name (required)'],
      credit: ['USD', 'initial credit in USD, e.g. 25 or 0.50 (at most 6 decimals, at most 1,000,000)'],
    },
    required: ['name'],
    summary: 'Create an account and its first API key',
    details: 'The API key is printed once; it cannot be shown again.',
    build: (_args, options) => {
      const name = nonEmpty('name', required(options, 'name'));
      const credit = options.credit === undefined ? undefined : usdOption('credit', options.credit);
      return {
        method: 'POST',
        path: '/admin/accounts',
        body: { name, ...(credit ? { creditUsd: credit.usd } : {}) },
      };
    },
    render: (data) => {
      const { account, apiKey } = data as AccountCreated;
      return [
        `Created account ${account.id} (${account.name}) with balance ${formatUsd(account.balanceMicros)}.`,
        '',
        ...showKey(apiKey.id, apiKey.key),
      ].join('\n');
    },
  },
  {
    name: 'accounts list',
    args: [],
    options: {
      limit: ['N', `how many accounts per page, newest first (default 50, at most ${MAX_ACCOUNTS_PAGE})`],
      cursor: ['C', 'the page after the one that printed this cursor'],
    },
    summary: 'List accounts with their balances',
    build: (_args, options) => ({
      method: 'GET',
      path: '/admin/accounts',
      query: {
        limit: options.limit === undefined ? undefined : intOption('limit', options.limit, MAX_ACCOUNTS_PAGE),
        cursor: options.cursor,
      },
    }),
    render: (data, _args, options) => {
      const { accounts, nextCursor } = data as AccountPage;
      const lines =
        accounts.length === 0
          ? ['No accounts.']
          : [
              renderTable(
                [
                  { header: 'ACCOUNT' },
                  { header: 'NAME' },
                  { header: 'CREATED' },
                  { header: 'BALANCE', align: right },
                ],
                accounts.map((a) => [
                  a.id,
                  formatText(a.name),
                  formatText(a.createdAt),
                  formatUsd(a.balanceMicros),
                ]),
              ),
            ];
      if (nextCursor) {
        const limit = options.limit === undefined ? '' : ` --limit ${options.limit}`;
        lines.push('', `More accounts: tiergate accounts list${limit} --cursor ${nextCursor}`);
      }
      return lines.join('\n');
    },
  },
  {
    name: 'accounts show',
    args: ['ID'],
    options: {},
    summary: 'Show an account, its balance and its keys',
    build: ([id = '']) => ({ method: 'GET', path: accountPath(id) }),
    render: (data) => {
      const account = data as Account;
      return [
        renderFields([
          ['Account', account.id],
          ['Name', formatText(account.name)],
          ['Created', formatText(account.createdAt)],
          ['Balance', formatUsd(account.balanceMicros)],
          ['Held', formatUsd(account.heldMicros)],
          ['Debt', formatUsd(account.debtMicros ?? 0)],
        ]),
        '',
        keysTable(account.keys ?? []),
      ].join('\n');
    },
  },
  {
    name: 'accounts delete',
    args: ['ID'],
    options: { yes: ['', 'confirm: delete the account and forfeit its balance'] },
    summary: 'Delete an account, its keys and its wallet',
    details: 'Its balance is forfeited: without --yes the command only says how much that is.',
    build: ([id = '']) => ({ method: 'DELETE', path: accountPath(id) }),
    run: async (send, [id = ''], options) => {
      if (options.yes !== 'true') {
        const account = (await send({ method: 'GET', path: accountPath(id) })) as Account;
        throw new UsageError(
          `not deleted: account ${account.id} (${formatText(account.name)}) holds ${formatUsd(account.balanceMicros)}, ` +
            'which deleting it forfeits; add --yes to delete it',
        );
      }
      return send({ method: 'DELETE', path: accountPath(id) });
    },
    render: (data, [id]) => {
      const forfeited = (data as { forfeitedMicros?: number } | undefined)?.forfeitedMicros;
      return forfeited === undefined
        ? `Deleted account ${id}.`
        : `Deleted account ${id}; its balance of ${formatUsd(forfeited)} was forfeited.`;
    },
  },
  {
    name: 'keys create',
    args: ['ACCOUNT_ID'],
    options: {
      name: ['N', 'a label for the key'],
      rpm: ['N', `requests per minute allowed for this key (at most ${formatInt(MAX_RPM)})`],
      tpm: ['N', 'tokens per minute allowed for this key (prompt estimate plus output cap)'],
      'daily-budget': ['USD', 'the most this key may spend per UTC day'],
    },
    summary: 'Create an API key for an account',
    details: 'The API key is printed once; it cannot be shown again.',
    build: ([accountId = ''], options) => {
      const rpm = options.rpm === undefined ? undefined : intOption('rpm', options.rpm, MAX_RPM);
      const tpm = options.tpm === undefined ? undefined : intOption('tpm', options.tpm, MAX_TPM);
      const budget =
        options['daily-budget'] === undefined
          ? undefined
          : usdOption('daily-budget', options['daily-budget']);
      return {
        method: 'POST',
        path: `${accountPath(accountId)}/keys`,
        body: {
          ...(options.name === undefined ? {} : { name: nonEmpty('name', options.name) }),
          ...(rpm === undefined ? {} : { rpm }),
          ...(tpm === undefined ? {} : { tpm }),
          ...(budget === undefined ? {} : { dailyBudgetUsd: budget.usd }),
        },
      };
    },
    render: (data, [accountId]) => {
      const key = data as KeyCreated;
      return [`Created key ${key.id} for account ${accountId}.`, '', ...showKey(key.id, key.key)].join('\n');
    },
  },
  {
    name: 'keys list',
    args: ['ACCOUNT_ID'],
    options: {},
    summary: "List an account's API keys (ids, names, status, limits; never the key)",
    build: ([accountId = '']) => ({ method: 'GET', path: accountPath(accountId) }),
    render: (data) => keysTable((data as Account).keys ?? []),
  },
  {
    name: 'keys revoke',
    args: ['KEY_ID'],
    options: {},
    summary: 'Revoke an API key',
    build: ([keyId = '']) => ({ method: 'DELETE', path: `/admin/keys/${segment(keyId)}` }),
    render: (_data, [keyId]) => `Revoked key ${keyId}.`,
  },
  {
    name: 'credit add',
    args: ['ACCOUNT_ID'],
    options: {
      amount: ['USD', 'the amount to add, e.g. 10 or 2.50 (required; more than 0, at most 1,000,000)'],
      reference: ['REF', 'a unique payment reference; repeating it does not add twice (required)'],
    },
    required: ['amount', 'reference'],
    summary: "Add credit to an account's wallet",
    details: 'A reference that was already applied adds nothing; the command then says so.',
    build: ([accountId = ''], options) => {
      const amount = usdOption('amount', required(options, 'amount'), { positive: true });
      const reference = nonEmpty('reference', required(options, 'reference'));
      return {
        method: 'POST',
        path: `${accountPath(accountId)}/credit`,
        body: { amountUsd: amount.usd, reference },
      };
    },
    render: (data, [accountId], options) => {
      const {
        balanceMicros,
        applied,
        amountMicros,
        debtMicros = 0,
      } = data as Credit & { debtMicros?: number };
      const debt = debtMicros > 0 ? ` Debt still owed: ${formatUsd(debtMicros)}.` : '';
      const amount = amountMicros ?? usdOption('amount', options.amount ?? '0').micros;
      if (applied === false) {
        return (
          `Reference ${formatText(options.reference)} was already applied (${formatUsd(amount)}): ` +
          `nothing added. Balance: ${formatUsd(balanceMicros)}.${debt}`
        );
      }
      return `Added ${formatUsd(amount)} to account ${accountId}. Balance: ${formatUsd(balanceMicros)}.${debt}`;
    },
  },
];
