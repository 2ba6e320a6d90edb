import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoAdminReports } from '../../shared/admin/reports.js';
import type { CatalogDocument } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { rawRequest, waitFor } from '../support/e2e-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ env: { KEY_CACHE_TTL_MS: '300' } });
});
afterAll(async () => {
  await runtime?.close();
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against the live runtime's admin API. */
function cli(...argv: string[]): Promise<CliRun> {
  return runCliWithStdin(argv, '');
}

/** The CLI, with `-` reading the given text as standard input. */
async function runCliWithStdin(argv: string[], stdin: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: { TIERGATE_ADMIN_URL: runtime.adminUrl, TIERGATE_ADMIN_TOKEN: runtime.adminToken },
    readStdin: async () => stdin,
  });
  return { code, stdout, stderr };
}

async function ok(...argv: string[]): Promise<string> {
  const run = await cli(...argv);
  expect(run.stderr, `tiergate ${argv.join(' ')}`).toBe('');
  expect(run.code, `tiergate ${argv.join(' ')}`).toBe(0);
  return run.stdout;
}

const keyIn = (text: string): string => {
  const key = /\btg-[A-Za-z0-9_-]{43}\b/.exec(text)?.[0];
  if (!key) throw new Error(`no API key in: ${text}`);
  return key;
};

async function completionStatus(key: string): Promise<number> {
  const res = await rawRequest(
    runtime,
    { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'cli tokens:1' }] },
    { apiKey: key },
  );
  await res.text();
  return res.status;
}

describe('tiergate CLI against the local runtime', () => {
  it('creates an account, shows it, manages keys and credit', async () => {
    const created = JSON.parse(
      await ok('accounts', 'create', '--name', 'cli-account', '--credit', '1', '--json'),
    ) as {
      account: { id: string; name: string; balanceMicros: number };
      apiKey: { id: string; key: string };
    };
    expect(created.account.name).toBe('cli-account');
    expect(created.account.balanceMicros).toBe(1_000_000);
    expect(created.apiKey.key).toMatch(/^tg-/);
    const accountId = created.account.id;

    // Shown before the key is used, so no hold has touched the balance yet.
    const shown = await ok('accounts', 'show', accountId);
    expect(shown).toContain(accountId);
    expect(shown).toContain('cli-account');
    expect(shown).toMatch(/Balance\s+\$1\.000000/);
    expect(shown).toContain(created.apiKey.id);
    expect(shown).not.toContain(created.apiKey.key);
    const shownJson = await ok('accounts', 'show', accountId, '--json');
    expect(JSON.parse(shownJson).balanceMicros).toBe(1_000_000);
    expect(shownJson).not.toContain(created.apiKey.key);

    const credited = await ok('credit', 'add', accountId, '--amount', '2', '--reference', 'cli-r1');
    expect(credited).toContain('$2.000000');
    expect(credited).toContain('Balance: $3.000000');
    const again = await ok('credit', 'add', accountId, '--amount', '2', '--reference', 'cli-r1');
    expect(again).toBe(
      'Reference cli-r1 was already applied ($2.000000): nothing added. Balance: $3.000000.\n',
    );
    expect((await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).json.balanceMicros).toBe(3_000_000);

    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: created.apiKey.key, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'speed',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hello from the cli tokens:2' }],
    });
    expect(completion.model).toBe('tier-1');

    const keyText = await ok('keys', 'create', accountId, '--name', 'second');
    const secondKey = keyIn(keyText);
    expect(secondKey).not.toBe(created.apiKey.key);
    const secondKeyId = /Created key (\S+) for account/.exec(keyText)?.[1];
    expect(secondKeyId).toBeTruthy();
    expect(await completionStatus(secondKey)).toBe(200);

    const revoked = await ok('keys', 'revoke', secondKeyId ?? '');
    expect(revoked).toContain(secondKeyId);
    await waitFor(async () => (await completionStatus(secondKey)) === 401, {
      timeoutMs: 5_000,
      intervalMs: 50,
      what: 'the revoked key to be refused',
    });
    expect(await completionStatus(created.apiKey.key)).toBe(200);
    const afterRevoke = await ok('accounts', 'show', accountId);
    expect(afterRevoke).toMatch(new RegExp(`${secondKeyId}\\s+second\\s+revoked`));
  });

  it('shows the tier catalog and its versions', async () => {
    const tiers = await ok('tiers', 'show');
    expect(tiers).toContain('Catalog version 1');
    for (const [id, tier] of Object.entries(DEFAULT_CATALOG.tiers)) {
      expect(tiers).toContain(id);
      for (const m of tier.models) expect(tiers).toContain(m.id);
    }
    expect(tiers).toContain('speed');

    const versions = await ok('tiers', 'versions');
    const lines = versions.trim().split('\n');
    expect(lines[0]).toMatch(/VERSION\s+PUBLISHED\s+ACTIVE/);
    expect(lines.slice(1).some((l) => /^\s*1\s+\S+\s+\*$/.test(l))).toBe(true);

    const json = JSON.parse(await ok('tiers', 'versions', '--json')) as {
      active: number;
      versions: unknown[];
    };
    expect(json.active).toBe(1);
    expect(json.versions).toHaveLength(1);
  });

  it('fails with exit code 1 and one stderr line for an API error', async () => {
    const run = await cli('accounts', 'show', 'acct_doesnotexist');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tiergate: /);
    expect(lines[0]).toContain('404');

    const revokeMissing = await cli('keys', 'revoke', 'key_doesnotexist');
    expect(revokeMissing.code).toBe(1);
    expect(revokeMissing.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('fails with exit code 1 for a wrong admin token', async () => {
    let stderr = '';
    const code = await runCli(['tiers', 'show'], {
      stdout: () => {},
      stderr: (s) => {
        stderr += s;
      },
      env: { TIERGATE_ADMIN_URL: runtime.adminUrl, TIERGATE_ADMIN_TOKEN: 'wrong' },
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('401');
  });
});

describe('operator papercuts', () => {
  const createAccount = async (name: string, credit = '1') =>
    JSON.parse(await ok('accounts', 'create', '--name', name, '--credit', credit, '--json')) as {
      account: { id: string };
      apiKey: { id: string; key: string };
    };

  it('lists accounts newest first, page by page, with balances', async () => {
    const made = [];
    for (const name of ['list-a', 'list-b', 'list-c'])
      made.push((await createAccount(name, '0.5')).account.id);
    const first = await ok('accounts', 'list', '--limit', '2');
    const cursor = /More accounts: tiergate accounts list --limit 2 --cursor (\S+)/.exec(first)?.[1];
    expect(cursor, first).toBeTruthy();
    expect(first).toMatch(/^ACCOUNT\s+NAME\s+CREATED\s+BALANCE$/m);
    expect(first).toMatch(new RegExp(`^${made[2]}\\s+list-c\\s+\\S+\\s+\\$0\\.500000$`, 'm'));
    expect(first).toContain(made[1]);

    const ids: string[] = [];
    let page: { accounts: Array<{ id: string; balanceMicros: number }>; nextCursor?: string } | undefined;
    let next: string | undefined;
    do {
      page = JSON.parse(
        await ok('accounts', 'list', '--limit', '2', ...(next ? ['--cursor', next] : []), '--json'),
      ) as NonNullable<typeof page>;
      ids.push(...page.accounts.map((a) => a.id));
      next = page.nextCursor;
    } while (next);
    // Every account once, the demo account among them, newest first.
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(runtime.accountId);
    expect(ids.indexOf(made[2] as string)).toBeLessThan(ids.indexOf(made[0] as string));

    const bad = await cli('accounts', 'list', '--cursor', 'bm90LWEtY3Vyc29y');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/400 invalid_request: Invalid cursor/);
  });

  it("lists an account's keys, and an unknown account is an error", async () => {
    const { account, apiKey } = await createAccount('keys-list');
    const listed = await ok('keys', 'list', account.id);
    expect(listed).toMatch(new RegExp(`^${apiKey.id}\\s+default\\s+active`, 'm'));
    expect(listed).not.toContain(apiKey.key);
    const missing = await cli('keys', 'list', 'acct_doesnotexist');
    expect(missing.code).toBe(1);
  });

  it('deletes an account only with --yes, saying what balance is forfeited', async () => {
    const { account } = await createAccount('to-delete', '4.25');
    const refused = await cli('accounts', 'delete', account.id);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(`not deleted: account ${account.id} \\(to-delete\\) holds \\$4\\.250000, .*add --yes`),
    );
    expect((await admin(runtime, 'GET', `/admin/accounts/${account.id}`)).status).toBe(200);
    expect(await ok('accounts', 'delete', account.id, '--yes')).toBe(
      `Deleted account ${account.id}; its balance of $4.250000 was forfeited.\n`,
    );
    expect((await admin(runtime, 'GET', `/admin/accounts/${account.id}`)).status).toBe(404);
    const listed = JSON.parse(await ok('accounts', 'list', '--limit', '100', '--json')) as {
      accounts: Array<{ id: string }>;
    };
    expect(listed.accounts.map((a) => a.id)).not.toContain(account.id);
  });

  it('states the usage range, refuses an unknown account, and says when a report is truncated', async () => {
    const { account, apiKey } = await createAccount('reports');
    for (let i = 0; i < 3; i++) expect(await completionStatus(apiKey.key)).toBe(200);
    await waitFor(
      async () =>
        ((await admin(runtime, 'GET', `/admin/requests?accountId=${account.id}`)).json.requests as unknown[])
          .length === 3,
      { what: 'three settled requests' },
    );
    const usage = await ok('usage', '--account', account.id, '--since', '2020-01-01');
    expect(usage.split('\n')[0]).toMatch(
      new RegExp(`^Usage by tier, account ${account.id}, from 2020-01-01T00:00:00\\.000Z to \\d{4}-`),
    );
    expect(usage).toMatch(/^tier-1\s+3\s/m);
    expect(usage).not.toContain('Truncated');
    const defaultRange = (await ok('usage', '--account', account.id)).split('\n')[0] ?? '';
    const [, since, until] = /from (\S+) to (\S+)$/.exec(defaultRange) ?? [];
    expect(Date.parse(until ?? '') - Date.parse(since ?? '')).toBe(7 * 86_400_000);

    const unknown = await cli('usage', '--account', 'acct_doesnotexist');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404/);
    expect((await cli('requests', '--account', 'acct_doesnotexist')).code).toBe(1);

    const requests = await ok('requests', '--account', account.id, '--limit', '2');
    expect(requests).toMatch(/Truncated: the newest 2 shown; there are more/);
    expect(await ok('requests', '--account', account.id, '--limit', '3')).not.toContain('Truncated');

    // A usage report past its item bound counts the newest ones and says so.
    const db = createDocumentClient(runtime.dynamodbEndpoint);
    const reports = new DynamoAdminReports(
      db,
      runtime.tables.requestLog,
      new SpendGuardrail(db, runtime.tables.ledger, 1),
      1,
      Date.now,
      2,
    );
    expect(await reports.usage({ accountId: account.id })).toMatchObject({
      truncated: true,
      maxRequests: 2,
      rows: [{ group: 'tier-1', requests: 2 }],
    });
    expect(await reports.usage({ accountId: account.id, since: '2020-01-01' })).toMatchObject({
      truncated: true,
    });
  });

  it('publishes `tiers show --json` as it is: identical is a no-op that says so; warnings are said', async () => {
    const shown = await ok('tiers', 'show', '--json');
    const unchanged = await runCliWithStdin(['tiers', 'publish', '-'], shown);
    expect(unchanged.code).toBe(0);
    expect(unchanged.stdout).toMatch(
      /\nNothing published: the catalog is identical to the active version \d+\.\n$/,
    );
    // The margin of each tier against its primary model, at 0, 50 and 90% cache hits.
    expect(unchanged.stdout).toMatch(/^Margin per request of 20,000 prompt and 1,000 output tokens/);
    expect(unchanged.stdout).toMatch(/\ntier-2\s+openai\/gpt-4\.1-mini\s+\$0\.002900 \(23\.2%\)/);

    const active = JSON.parse(shown) as { version: number; catalog: CatalogDocument };
    const edited = structuredClone(active);
    const tier2 = edited.catalog.tiers['tier-2'];
    const primary = tier2.models[0];
    if (!primary) throw new Error('tier-2 has no model');
    tier2.models.push({ ...primary });
    tier2.price.outputUsdPerMTok = primary.outputUsdPerMTok / 2;
    const published = await runCliWithStdin(['tiers', 'publish', '-'], JSON.stringify(edited));
    expect(published.code, published.stderr).toBe(0);
    const lines = published.stdout.trimEnd().split('\n');
    expect(lines).toContain(`Warning: tier-2: model "${primary.id}" is listed more than once.`);
    expect(
      lines.some((l) => /^Warning: tier-2: the output price \$\S+ is below the primary model's cost/.test(l)),
    ).toBe(true);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^Published catalog version ${active.version + 1} at \\S+\\. Now active on every instance within 30 s\\.$`,
      ),
    );
    expect(await ok('tiers', 'rollback', String(active.version))).toBe(
      `Active catalog version is now ${active.version}, on every instance within 30 s.\n`,
    );
  });
});
