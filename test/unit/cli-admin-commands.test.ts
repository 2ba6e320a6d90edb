import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatUsd, parseUsd, renderTable, UsageError } from '../../cli/format.js';
import {
  ACCOUNT,
  admin,
  baseUrl,
  canned,
  jsonBody,
  only,
  recorded,
  run,
  TIERS,
  useFakeAdminApi,
} from '../support/fake-admin-api.js';

/** The CLI's admin commands against a fake admin API: accounts, keys, credit and tiers, and how it prints them. */

useFakeAdminApi();

describe('printing what the server sends', () => {
  /** A control character other than the line feeds that lay output out. */
  const rawControl = (text: string): boolean =>
    [...text].some((c) => {
      const n = c.codePointAt(0) ?? 0;
      return (n < 0x20 && n !== 0x0a) || (n >= 0x7f && n <= 0x9f) || (n >= 0x202a && n <= 0x202e);
    });
  const hostile = 'Acme\u001b[2J\u001b]0;pwned\u0007\r\nX\u009b31m\u202eevil';

  it('escapes control characters in fields and tables, so a name cannot drive the terminal', async () => {
    canned.set('GET /admin/accounts/acc_1', {
      status: 200,
      body: { ...ACCOUNT, name: hostile, keys: [{ ...ACCOUNT.keys[0], name: `ci\n${hostile}` }] },
    });
    const out = await admin('accounts', 'show', 'acc_1');
    expect(out.code).toBe(0);
    expect(rawControl(out.stdout)).toBe(false);
    expect(out.stdout).toContain('Acme\\u001b[2J\\u001b]0;pwned\\u0007\\r\\nX\\u009b31m\\u202eevil');
    expect(out.stdout).toContain('ci\\nAcme');
  });

  it('escapes them in --json output too, which stays valid JSON', async () => {
    canned.set('GET /admin/accounts/acc_1', { status: 200, body: { ...ACCOUNT, name: hostile } });
    const out = await admin('--json', 'accounts', 'show', 'acc_1');
    expect(rawControl(out.stdout)).toBe(false);
    expect((JSON.parse(out.stdout) as { name: string }).name).toBe(hostile);
  });

  it('escapes them in error messages', async () => {
    canned.set('GET /admin/accounts/acc_1', {
      status: 404,
      body: {
        error: { message: `no ${hostile}`, type: 'invalid_request_error', param: null, code: 'not_found' },
      },
    });
    const out = await admin('accounts', 'show', 'acc_1');
    expect(out.code).toBe(1);
    expect(rawControl(out.stderr)).toBe(false);
    expect(out.stderr).toContain('\\u001b[2J');
  });
});

describe('accounts', () => {
  it('create sends name and credit as a JSON number and prints the key once with a warning', async () => {
    canned.set('POST /admin/accounts', {
      status: 201,
      body: {
        account: { id: 'acc_1', name: 'Acme', balanceMicros: 12_500_000 },
        apiKey: { id: 'key_1', key: 'tg-secret-key-123' },
      },
    });
    const out = await admin('accounts', 'create', '--name', 'Acme', '--credit', '12.5');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/admin/accounts');
    expect(req.headers['content-type']).toBe('application/json');
    expect(jsonBody(req)).toEqual({ name: 'Acme', creditUsd: 12.5 });
    expect(out.stdout).toContain('acc_1');
    expect(out.stdout).toContain('$12.500000');
    expect(out.stdout.split('\n')).toContain('    tg-secret-key-123');
    expect(out.stdout.match(/tg-secret-key-123/g)).toHaveLength(1);
    expect(out.stdout).toMatch(/shown only once/);
  });

  it('create without --credit sends only the name', async () => {
    canned.set('POST /admin/accounts', {
      status: 201,
      body: { account: { id: 'acc_2', name: 'B', balanceMicros: 0 }, apiKey: { id: 'key_2', key: 'k' } },
    });
    expect((await admin('accounts', 'create', '--name', 'B')).code).toBe(0);
    expect(jsonBody(only())).toEqual({ name: 'B' });
  });

  it('show fetches the account and prints balances and a keys table', async () => {
    canned.set('GET /admin/accounts/acc_1', { status: 200, body: ACCOUNT });
    const out = await admin('accounts', 'show', 'acc_1');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(only()).toMatchObject({ method: 'GET', path: '/admin/accounts/acc_1', body: '' });
    expect(out.stdout).toMatch(/Balance\s+\$1\.500000/);
    expect(out.stdout).toMatch(/Held\s+\$0\.250000/);
    expect(out.stdout).toMatch(/Debt\s+\$0\.040000/);
    const lines = out.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('KEY'));
    expect(header).toMatch(/KEY\s+NAME\s+STATUS\s+CREATED\s+RPM\s+TPM\s+DAILY BUDGET/);
    expect(lines.find((l) => l.startsWith('key_a'))).toMatch(/ci\s+active\s+\S+\s+60\s+-\s+-$/);
    expect(lines.find((l) => l.startsWith('key_b'))).toMatch(/batch\s+revoked\s+\S+\s+-\s+-\s+\$2\.000000$/);
  });

  it('delete with --yes sends DELETE and accepts an empty 204', async () => {
    canned.set('DELETE /admin/accounts/acc_1', { status: 204 });
    const out = await admin('accounts', 'delete', 'acc_1', '--yes');
    expect(out).toEqual({ code: 0, stdout: 'Deleted account acc_1.\n', stderr: '' });
    expect(only()).toMatchObject({ method: 'DELETE', path: '/admin/accounts/acc_1' });
  });

  it('encodes ids as a single path segment', async () => {
    canned.set('GET /admin/accounts/a%2Fb%20c', { status: 200, body: { ...ACCOUNT, keys: [] } });
    expect((await admin('accounts', 'show', 'a/b c')).code).toBe(0);
    expect(only().path).toBe('/admin/accounts/a%2Fb%20c');
  });
});

describe('keys', () => {
  it('create sends name, rpm, tpm and daily budget as numbers and prints the key', async () => {
    canned.set('POST /admin/accounts/acc_1/keys', { status: 201, body: { id: 'key_9', key: 'tg-new-key' } });
    const out = await admin(
      'keys',
      'create',
      'acc_1',
      '--name',
      'ci',
      '--rpm',
      '60',
      '--tpm',
      '90000',
      '--daily-budget',
      '2.5',
    );
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/admin/accounts/acc_1/keys');
    expect(jsonBody(req)).toEqual({ name: 'ci', rpm: 60, tpm: 90000, dailyBudgetUsd: 2.5 });
    expect(out.stdout).toContain('key_9');
    expect(out.stdout).toContain('    tg-new-key');
    expect(out.stdout).toMatch(/shown only once/);
  });

  it('create with no options sends an empty object', async () => {
    canned.set('POST /admin/accounts/acc_1/keys', { status: 201, body: { id: 'key_9', key: 'k' } });
    expect((await admin('keys', 'create', 'acc_1')).code).toBe(0);
    expect(jsonBody(only())).toEqual({});
  });

  it('revoke sends DELETE /admin/keys/{id}', async () => {
    canned.set('DELETE /admin/keys/key_9', { status: 200, body: { id: 'key_9', status: 'revoked' } });
    const out = await admin('keys', 'revoke', 'key_9');
    expect(out).toEqual({ code: 0, stdout: 'Revoked key key_9.\n', stderr: '' });
    expect(only()).toMatchObject({ method: 'DELETE', path: '/admin/keys/key_9' });
  });
});

describe('credit', () => {
  it('add sends amount and reference and prints the new balance', async () => {
    canned.set('POST /admin/accounts/acc_1/credit', { status: 200, body: { balanceMicros: 11_750_000 } });
    const out = await admin('credit', 'add', 'acc_1', '--amount', '10.25', '--reference', 'inv-42');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req).toMatchObject({ method: 'POST', path: '/admin/accounts/acc_1/credit' });
    expect(jsonBody(req)).toEqual({ amountUsd: 10.25, reference: 'inv-42' });
    expect(out.stdout).toBe('Added $10.250000 to account acc_1. Balance: $11.750000.\n');
  });

  it('add says what debt is still owed when the top-up did not cover it', async () => {
    canned.set('POST /admin/accounts/acc_1/credit', {
      status: 200,
      body: { balanceMicros: 0, debtMicros: 500_000, applied: true },
    });
    const out = await admin('credit', 'add', 'acc_1', '--amount', '1', '--reference', 'inv-43');
    expect(out.stdout).toBe(
      'Added $1.000000 to account acc_1. Balance: $0.000000. Debt still owed: $0.500000.\n',
    );
  });
});

describe('tiers', () => {
  it('show prints one row per tier in order with alias, models, prices and max output', async () => {
    canned.set('GET /admin/tiers', { status: 200, body: TIERS });
    const out = await admin('tiers', 'show');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(only()).toMatchObject({ method: 'GET', path: '/admin/tiers' });
    expect(out.stdout).toContain('Catalog version 4');
    const lines = out.stdout.split('\n');
    const tier1 = lines.findIndex((l) => l.startsWith('tier-1'));
    const tier2 = lines.findIndex((l) => l.startsWith('tier-2'));
    expect(tier1).toBeGreaterThan(-1);
    expect(tier2).toBeGreaterThan(tier1);
    expect(lines[tier1]).toMatch(
      /^tier-1\s+speed\s+google\/gemini-flash, meta\/llama-8b\s+\$0\.150000\s+\$0\.600000\s+\$0\.150000\s+\$0\.150000\s+4,096$/,
    );
    expect(lines[tier2]).toMatch(
      /^tier-2\s+balance\s+openai\/gpt-4\.1-mini\s+\$0\.500000\s+\$2\.000000\s+\$0\.125000\s+\$0\.625000\s+8,192$/,
    );
  });

  it('versions lists versions and marks the active one', async () => {
    canned.set('GET /admin/tiers/versions', {
      status: 200,
      body: {
        active: 2,
        versions: [
          { version: 2, publishedAt: '2025-02-02T00:00:00.000Z' },
          { version: 1, publishedAt: '2025-02-01T00:00:00.000Z' },
        ],
      },
    });
    const out = await admin('tiers', 'versions');
    expect(out.code).toBe(0);
    expect(only()).toMatchObject({ method: 'GET', path: '/admin/tiers/versions' });
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/VERSION\s+PUBLISHED\s+ACTIVE/);
    expect(lines[1]).toMatch(/^\s*2\s+2025-02-02T00:00:00\.000Z\s+\*$/);
    expect(lines[2]).toMatch(/^\s*1\s+2025-02-01T00:00:00\.000Z$/);
  });

  it('publish PUTs the JSON of a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiergate-cli-'));
    try {
      const file = join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify(TIERS.catalog));
      canned.set('PUT /admin/tiers', {
        status: 200,
        body: { version: 5, publishedAt: '2025-03-01T00:00:00Z' },
      });
      const out = await admin('tiers', 'publish', file);
      expect(out).toMatchObject({ code: 0, stderr: '' });
      const req = only();
      expect(req).toMatchObject({ method: 'PUT', path: '/admin/tiers' });
      expect(jsonBody(req)).toEqual(TIERS.catalog);
      expect(out.stdout).toContain('version 5');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('publish shows the margin of each tier at each cache-hit ratio, a loss signed, a free tier said', async () => {
    const at = (charge: number, cost: number) =>
      [0, 50, 90].map((cacheHitPercent) => ({
        cacheHitPercent,
        chargeMicros: charge,
        upstreamCostMicros: cost,
        marginMicros: charge - cost,
      }));
    canned.set('PUT /admin/tiers', {
      status: 201,
      body: {
        version: 7,
        publishedAt: '2025-03-01T00:00:00Z',
        warnings: ['tier-1 sells below cost at 0%, 50%, 90% cache hits: …'],
        margins: [
          { tier: 'tier-1', model: 'm/free', at: at(0, 3600) },
          { tier: 'tier-2', model: 'm/two', at: at(4800, 3600) },
          { tier: 'tier-3', model: 'm/three', at: at(3000, 3001) },
        ],
      },
    });
    const out = await run(['--url', baseUrl, 'tiers', 'publish', '-'], {
      readStdin: async () => JSON.stringify(TIERS.catalog),
    });
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const lines = out.stdout.split('\n');
    expect(lines[0]).toBe(
      "Margin per request of 20,000 prompt and 1,000 output tokens, against each tier's primary model:",
    );
    expect(lines[1]).toMatch(/^TIER\s+PRIMARY\s+0% CACHED\s+50% CACHED\s+90% CACHED$/);
    expect(lines[2]).toMatch(/^tier-1\s+m\/free\s+-\$0\.003600 \(free\)/);
    expect(lines[3]).toMatch(/^tier-2\s+m\/two\s+\$0\.001200 \(25\.0%\)/);
    expect(lines[4]).toMatch(/^tier-3\s+m\/three\s+-\$0\.000001 \(-0\.0%\)/);
    expect(out.stdout).toContain('Warning: tier-1 sells below cost');
    expect(lines.at(-2)).toMatch(/^Published catalog version 7/);
  });

  it('publish - reads the catalog from stdin', async () => {
    canned.set('PUT /admin/tiers', {
      status: 200,
      body: { version: 6, publishedAt: '2025-03-01T00:00:00Z' },
    });
    const out = await run(['--url', baseUrl, 'tiers', 'publish', '-'], {
      readStdin: async () => JSON.stringify({ tiers: { x: 1 } }),
    });
    expect(out.code).toBe(0);
    expect(jsonBody(only())).toEqual({ tiers: { x: 1 } });
  });

  it('publish of a file that is not JSON fails before any request', async () => {
    const out = await run(['--url', baseUrl, 'tiers', 'publish', '-'], { readStdin: async () => '{nope' });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^tiergate: standard input is not valid JSON/);
    expect(recorded).toHaveLength(0);
  });

  it('rollback POSTs the version as a number', async () => {
    canned.set('POST /admin/tiers/rollback', { status: 200, body: { active: 3 } });
    const out = await admin('tiers', 'rollback', '3');
    expect(out).toEqual({
      code: 0,
      stdout: 'Active catalog version is now 3, on every instance within 30 s.\n',
      stderr: '',
    });
    const req = only();
    expect(req).toMatchObject({ method: 'POST', path: '/admin/tiers/rollback' });
    expect(jsonBody(req)).toEqual({ version: 3 });
  });
});

describe('formatting helpers', () => {
  it('formats micro-USD with 6 decimals without floats', () => {
    expect(formatUsd(1_500_000)).toBe('$1.500000');
    expect(formatUsd(0)).toBe('$0.000000');
    expect(formatUsd(1)).toBe('$0.000001');
    expect(formatUsd(-2_500_001)).toBe('-$2.500001');
    expect(formatUsd(123_456_789_012_345_678n)).toBe('$123456789012.345678');
    expect(formatUsd(undefined)).toBe('-');
  });

  it('parses USD arguments exactly and rejects what cannot be sent exactly', () => {
    expect(parseUsd('credit', '0.000001')).toEqual({ micros: 1, usd: 0.000001 });
    expect(parseUsd('credit', '12.50')).toEqual({ micros: 12_500_000, usd: 12.5 });
    expect(() => parseUsd('credit', '1e3')).toThrow(UsageError);
    expect(() => parseUsd('credit', '0.1234567')).toThrow(UsageError);
    expect(() => parseUsd('amount', '0', { positive: true })).toThrow(UsageError);
  });

  it('aligns tables with numbers on the right', () => {
    const text = renderTable(
      [{ header: 'NAME' }, { header: 'N', align: 'right' }],
      [
        ['a', '1'],
        ['long-name', '1,000'],
      ],
    );
    expect(text.split('\n')).toEqual(['NAME           N', 'a              1', 'long-name  1,000']);
  });
});
