import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
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
async function cli(...argv: string[]): Promise<CliRun> {
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
    expect(again).toContain('Balance: $3.000000');
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
