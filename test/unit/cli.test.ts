import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd, renderTable, UsageError } from '../../cli/format.js';
import { type CliIo, runCli } from '../../cli/main.js';
import { buildUrl, normaliseBaseUrl } from '../../shared/admin-client/client.js';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Canned {
  status: number;
  body?: unknown;
}

// The fake admin API: canned answers by "METHOD /path", every request recorded.
const canned = new Map<string, Canned>();
const recorded: Recorded[] = [];
let server: Server;
let baseUrl: string;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      recorded.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = canned.get(`${req.method} ${url.pathname}`) ?? {
        status: 404,
        body: {
          error: {
            message: 'no canned answer',
            type: 'invalid_request_error',
            param: null,
            code: 'not_found',
          },
        },
      };
      if (answer.body === undefined) {
        res.writeHead(answer.status).end();
      } else {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}/admin`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  canned.clear();
  recorded.length = 0;
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], io: Partial<CliIo> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: {},
    ...io,
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}

/** Runs against the fake server with an admin token. */
function admin(...argv: string[]): Promise<Run> {
  return run(['--url', baseUrl, '--token', 'admin-secret', ...argv]);
}

function only(): Recorded {
  expect(recorded).toHaveLength(1);
  return recorded[0] as Recorded;
}

function jsonBody(r: Recorded): unknown {
  return JSON.parse(r.body);
}

const ACCOUNT = {
  id: 'acc_1',
  name: 'Acme',
  createdAt: '2025-01-02T03:04:05.000Z',
  balanceMicros: 1_500_000,
  heldMicros: 250_000,
  debtMicros: 40_000,
  keys: [
    { id: 'key_a', name: 'ci', status: 'active', createdAt: '2025-01-02T03:04:05.000Z', rpm: 60 },
    {
      id: 'key_b',
      name: 'batch',
      status: 'revoked',
      createdAt: '2025-01-03T00:00:00.000Z',
      dailyBudgetMicros: 2_000_000,
    },
  ],
};

const TIERS = {
  version: 4,
  publishedAt: '2025-02-01T00:00:00.000Z',
  catalog: {
    tiers: {
      'tier-2': {
        models: [{ id: 'openai/gpt-4.1-mini', inputUsdPerMTok: 0.4, outputUsdPerMTok: 1.6 }],
        price: {
          inputUsdPerMTok: 0.5,
          outputUsdPerMTok: 2,
          cachedInputUsdPerMTok: 0.125,
          cacheWriteUsdPerMTok: 0.625,
        },
        maxOutputTokens: 8192,
        ttftTimeoutMs: 5000,
        totalTimeoutMs: 60000,
      },
      'tier-1': {
        models: [
          { id: 'google/gemini-flash', inputUsdPerMTok: 0.1, outputUsdPerMTok: 0.4 },
          { id: 'meta/llama-8b', inputUsdPerMTok: 0.05, outputUsdPerMTok: 0.08 },
        ],
        price: { inputUsdPerMTok: 0.15, outputUsdPerMTok: 0.6 },
        maxOutputTokens: 4096,
        ttftTimeoutMs: 3000,
        totalTimeoutMs: 30000,
      },
    },
  },
};

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

describe('usage, requests and guardrail', () => {
  it('usage sends every filter as a query parameter and prints rows with a total', async () => {
    canned.set('GET /admin/usage', {
      status: 200,
      body: {
        by: 'tier',
        since: '2025-01-01T00:00:00.000Z',
        until: '2025-02-01T00:00:00.000Z',
        accountId: 'acc_1',
        rows: [
          {
            group: 'tier-1',
            requests: 1200,
            inputTokens: 1_500_000,
            cachedInputTokens: 1_000_000,
            cacheWriteTokens: 200_000,
            outputTokens: 20_000,
            reasoningTokens: 4_000,
            chargeMicros: 1_500_000,
            upstreamCostMicros: 900_000,
            marginMicros: 600_000,
          },
          {
            group: 'tier-2',
            requests: 3,
            inputTokens: 10,
            cachedInputTokens: 0,
            cacheWriteTokens: 0,
            outputTokens: 5,
            reasoningTokens: 0,
            chargeMicros: 1,
            upstreamCostMicros: 2,
            marginMicros: -1,
          },
        ],
      },
    });
    const out = await admin(
      'usage',
      '--account',
      'acc_1',
      '--by',
      'tier',
      '--since',
      '2025-01-01T00:00:00Z',
      '--until',
      '2025-02-01',
    );
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req).toMatchObject({ method: 'GET', path: '/admin/usage' });
    expect(req.query).toEqual({
      accountId: 'acc_1',
      by: 'tier',
      since: '2025-01-01T00:00:00Z',
      until: '2025-02-01',
    });
    const [heading, blank, ...lines] = out.stdout.split('\n');
    // The report says what it covers.
    expect(heading).toBe(
      'Usage by tier, account acc_1, from 2025-01-01T00:00:00.000Z to 2025-02-01T00:00:00.000Z',
    );
    expect(blank).toBe('');
    expect(lines[0]).toMatch(
      /^TIER\s+REQUESTS\s+INPUT TOKENS\s+CACHED\s+CACHE WRITE\s+OUTPUT TOKENS\s+REASONING\s+CHARGE\s+UPSTREAM COST\s+MARGIN$/,
    );
    expect(lines[1]).toMatch(
      /^tier-1\s+1,200\s+1,500,000\s+1,000,000\s+200,000\s+20,000\s+4,000\s+\$1\.500000\s+\$0\.900000\s+\$0\.600000$/,
    );
    expect(lines[2]).toMatch(/^tier-2\s+3\s+10\s+0\s+0\s+5\s+0\s+\$0\.000001\s+\$0\.000002\s+-\$0\.000001$/);
    expect(lines[3]).toMatch(
      /^TOTAL\s+1,203\s+1,500,010\s+1,000,000\s+200,000\s+20,005\s+4,000\s+\$1\.500001\s+\$0\.900002\s+\$0\.599999$/,
    );
    // Numbers are right-aligned: every row of the table ends at the same column.
    expect(new Set(lines.slice(0, 4).map((l) => l.length)).size).toBe(1);
  });

  it('usage without filters sends no query', async () => {
    canned.set('GET /admin/usage', { status: 200, body: { by: 'day', rows: [] } });
    const out = await admin('usage');
    expect(out.code).toBe(0);
    expect(only().query).toEqual({});
    expect(out.stdout).toContain('No usage');
  });

  it('requests sends account and limit and prints a row per request', async () => {
    canned.set('GET /admin/requests', {
      status: 200,
      body: {
        requests: [
          {
            requestId: 'req_1',
            accountId: 'acc_1',
            keyId: 'key_a',
            tier: 'tier-2',
            status: 'completed',
            inputTokens: 1234,
            cachedInputTokens: 1000,
            cacheWriteTokens: 100,
            outputTokens: 56,
            reasoningTokens: 20,
            chargeMicros: 4321,
            upstreamCostMicros: 1000,
            marginMicros: 3321,
            startedAt: '2025-01-05T10:00:00.000Z',
            latencyMs: 1530,
            ttftMs: 210,
            stream: true,
          },
        ],
      },
    });
    const out = await admin('requests', '--account', 'acc_1', '--limit', '5');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req).toMatchObject({ method: 'GET', path: '/admin/requests' });
    expect(req.query).toEqual({ accountId: 'acc_1', limit: '5' });
    const row = out.stdout.split('\n').find((l) => l.startsWith('req_1'));
    expect(row).toMatch(
      /^req_1\s+2025-01-05T10:00:00\.000Z\s+acc_1\s+key_a\s+tier-2\s+completed\s+1,234\s+1,000\s+100\s+56\s+20\s+\$0\.004321\s+\$0\.001000\s+\$0\.003321\s+210 ms\s+1,530 ms\s+yes$/,
    );
  });

  it('guardrail prints spend, cap, tripped and the per-tier spend', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: {
        day: '2025-01-05',
        spendMicros: 12_000_000,
        capMicros: 100_000_000,
        tripped: false,
        byTier: { 'tier-1': 2_000_000, 'tier-3': 10_000_000 },
      },
    });
    const out = await admin('guardrail');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(only()).toMatchObject({ method: 'GET', path: '/admin/guardrail' });
    expect(out.stdout).toMatch(/Day\s+2025-01-05/);
    expect(out.stdout).toMatch(/Spend\s+\$12\.000000/);
    expect(out.stdout).toMatch(/Cap\s+\$100\.000000/);
    expect(out.stdout).toMatch(/Tripped\s+no/);
    expect(out.stdout).toMatch(/tier-3\s+\$10\.000000/);
  });
});

describe('connection and auth', () => {
  it('sends the token from --token as a bearer token', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: { day: 'd', spendMicros: 0, capMicros: 0, tripped: false },
    });
    await admin('guardrail');
    expect(only().headers.authorization).toBe('Bearer admin-secret');
  });

  it('takes URL and token from the environment, and --token overrides the env token', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: { day: 'd', spendMicros: 0, capMicros: 0, tripped: false },
    });
    const env = { TIERGATE_ADMIN_URL: baseUrl, TIERGATE_ADMIN_TOKEN: 'from-env' };
    expect((await run(['guardrail'], { env })).code).toBe(0);
    expect((await run(['guardrail', '--token', 'from-flag'], { env })).code).toBe(0);
    expect(recorded.map((r) => r.headers.authorization)).toEqual(['Bearer from-env', 'Bearer from-flag']);
  });

  it('defaults to http://127.0.0.1:$PORT/admin', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: { day: 'd', spendMicros: 0, capMicros: 0, tripped: false },
    });
    const out = await run(['guardrail'], { env: { PORT: String(port) } });
    expect(out.code).toBe(0);
    expect(only().path).toBe('/admin/guardrail');
    expect(only().headers.authorization).toBeUndefined();
  });

  it('accepts a base URL with or without /admin and trailing slashes', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: { day: 'd', spendMicros: 0, capMicros: 0, tripped: false },
    });
    for (const url of [
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${port}/`,
      `http://127.0.0.1:${port}/admin/`,
    ]) {
      expect((await run(['--url', url, 'guardrail'])).code).toBe(0);
    }
    expect(recorded.map((r) => r.path)).toEqual(['/admin/guardrail', '/admin/guardrail', '/admin/guardrail']);
  });

  it('keeps a path prefix in front of /admin', () => {
    const base = normaliseBaseUrl('https://example.com/prod/admin//');
    expect(buildUrl(base, '/admin/usage', { since: '2025-01-01T00:00:00Z', by: undefined }).href).toBe(
      'https://example.com/prod/admin/usage?since=2025-01-01T00%3A00%3A00Z',
    );
    expect(buildUrl(normaliseBaseUrl('https://abc.lambda-url.us-east-1.on.aws/'), '/admin/tiers').href).toBe(
      'https://abc.lambda-url.us-east-1.on.aws/admin/tiers',
    );
  });

  it('--json prints the raw response as parseable JSON', async () => {
    canned.set('GET /admin/accounts/acc_1', { status: 200, body: ACCOUNT });
    const out = await admin('accounts', 'show', 'acc_1', '--json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(ACCOUNT);
    expect(out.stdout).not.toContain('Balance');
  });

  it('an API error prints one line with status, code and message and exits 1', async () => {
    canned.set('GET /admin/accounts/nope', {
      status: 404,
      body: {
        error: {
          message: 'No such account.',
          type: 'invalid_request_error',
          param: null,
          code: 'account_not_found',
        },
      },
    });
    const out = await admin('accounts', 'show', 'nope');
    expect(out).toEqual({
      code: 1,
      stdout: '',
      stderr: 'tiergate: 404 account_not_found: No such account.\n',
    });
  });

  it('an error without a JSON body still prints one line', async () => {
    canned.set('GET /admin/guardrail', { status: 502, body: 'Bad gateway\n<html>' });
    const out = await admin('guardrail');
    expect(out.code).toBe(1);
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/^tiergate: 502: /);
  });

  it('an unreachable URL prints "cannot reach" and exits 1', async () => {
    // A port that was just free: bind, note it, close.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const out = await run(['--url', `http://127.0.0.1:${freePort}/admin`, 'guardrail']);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(
      new RegExp(
        `^tiergate: cannot reach http://127\\.0\\.0\\.1:${freePort}/admin/guardrail: .*ECONNREFUSED`,
      ),
    );
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'.*tiergate --help/],
    ['unknown subcommand', ['accounts', 'explode'], /unknown subcommand 'accounts explode'/],
    ['missing command', [], /missing command/],
    ['missing argument', ['accounts', 'show'], /missing ID.*tiergate accounts show --help/],
    ['extra argument', ['keys', 'revoke', 'a', 'b'], /unexpected argument 'b'/],
    ['missing required option', ['credit', 'add', 'acc_1', '--amount', '1'], /--reference/],
    ['unknown option', ['guardrail', '--bogus'], /Unknown option '--bogus'/],
    ['option of another command', ['guardrail', '--limit', '3'], /'--limit' is not valid for 'guardrail'/],
    ['too many decimals', ['accounts', 'create', '--name', 'A', '--credit', '1.0000001'], /--credit/],
    [
      'credit beyond the bound',
      ['accounts', 'create', '--name', 'A', '--credit', '99999999999'],
      /--credit must be at most 1,000,000 USD, got "99999999999"/,
    ],
    [
      'negative amount, no parseArgs text',
      ['credit', 'add', 'acc_1', '--amount', '-5', '--reference', 'r'],
      /--amount must be greater than 0, got "-5"/,
    ],
    [
      'huge amount',
      ['credit', 'add', 'acc_1', '--amount', '1000000.01', '--reference', 'r'],
      /--amount must be at most 1,000,000 USD/,
    ],
    [
      'negative rpm',
      ['keys', 'create', 'acc_1', '--rpm', '-3'],
      /--rpm must be a positive integer, got "-3"/,
    ],
    [
      'rpm over the bound',
      ['keys', 'create', 'acc_1', '--rpm', '1000001'],
      /--rpm must be at most 1,000,000/,
    ],
    ['limit over the bound', ['requests', '--limit', '1001'], /--limit must be at most 1,000/],
    ['mistyped command', ['acounts', 'list'], /unknown command 'acounts'; did you mean 'accounts'\?/],
    [
      'mistyped subcommand',
      ['tiers', 'pubish', 'x.json'],
      /unknown subcommand 'tiers pubish'.*; did you mean 'tiers publish'\? Run/,
    ],
    ['mistyped option', ['requests', '--limt', '3'], /Unknown option '--limt'; did you mean '--limit'\?/],
    [
      'option of a neighbour',
      ['credit', 'add', 'acc_1', '--amount', '1', '--refrence', 'r'],
      /did you mean '--reference'\?/,
    ],
    ['negative credit', ['accounts', 'create', '--name', 'A', '--credit=-1'], /--credit/],
    ['zero amount', ['credit', 'add', 'acc_1', '--amount', '0', '--reference', 'r'], /--amount/],
    ['non-integer limit', ['requests', '--limit', '2.5'], /--limit must be a positive integer/],
    ['zero limit', ['requests', '--limit', '0'], /--limit must be a positive integer/],
    ['bad rpm', ['keys', 'create', 'acc_1', '--rpm', 'many'], /--rpm/],
    ['bad --by', ['usage', '--by', 'model'], /--by must be one of tier, day, key/],
    ['bad date', ['usage', '--since', 'yesterday'], /--since must be an ISO 8601/],
    ['bad version', ['tiers', 'rollback', 'v2'], /VERSION must be a positive integer/],
    ['version zero', ['tiers', 'rollback', '0'], /VERSION must be a positive integer/],
    ['bad url', ['--url', 'ftp://x', 'guardrail'], /--url/],
  ];
  it.each(cases)('%s exits 2 with one line and sends nothing', async (_name, argv, message) => {
    const out = await run(argv[0] === '--url' ? argv : ['--url', baseUrl, ...argv]);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(message);
    expect(out.stderr).toMatch(/^tiergate: .*Run 'tiergate .*--help' for usage\.\n$/);
    expect(recorded).toHaveLength(0);
  });

  it('--help, per-command help and --version exit 0', async () => {
    const global = await run(['--help']);
    expect(global.code).toBe(0);
    expect(global.stdout).toContain('Usage: tiergate');
    expect(global.stdout).toContain('credit add ACCOUNT_ID --amount USD --reference REF');
    const command = await run(['keys', 'create', '-h']);
    expect(command.code).toBe(0);
    expect(command.stdout).toContain(
      'Usage: tiergate keys create ACCOUNT_ID [--name N] [--rpm N] [--tpm N] [--daily-budget USD]',
    );
    const group = await run(['help', 'tiers']);
    expect(group.stdout).toContain('tiergate tiers rollback VERSION');
    const version = await run(['--version']);
    expect(version).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    expect(recorded).toHaveLength(0);
  });
});

describe('SigV4 for Lambda Function URLs', () => {
  interface Captured {
    url: string;
    method: string;
    headers: Record<string, string>;
    body: string | undefined;
  }

  function capturingFetch(captured: Captured[], answer: unknown): typeof fetch {
    return async (input, init) => {
      captured.push({
        url: String(input),
        method: init?.method ?? 'GET',
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        body: typeof init?.body === 'string' ? init.body : undefined,
      });
      return new Response(JSON.stringify(answer), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
  }

  it('signs with the region from the host, sends the payload hash and no bearer token', async () => {
    const captured: Captured[] = [];
    const out = await run(
      [
        '--url',
        'https://abc123.lambda-url.eu-west-1.on.aws/',
        '--token',
        'must-not-be-sent',
        'credit',
        'add',
        'acc_1',
        '--amount',
        '5',
        '--reference',
        'r-1',
      ],
      {
        env: {
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_SESSION_TOKEN: 'session-tok',
        },
        fetch: capturingFetch(captured, { balanceMicros: 5_000_000 }),
      },
    );
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(captured).toHaveLength(1);
    const req = captured[0] as Captured;
    expect(req.url).toBe('https://abc123.lambda-url.eu-west-1.on.aws/admin/accounts/acc_1/credit');
    expect(req.method).toBe('POST');
    const authorization = req.headers.authorization ?? '';
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/,
    );
    expect(authorization).not.toContain('Bearer');
    expect(authorization).toMatch(/SignedHeaders=[^,]*host[^,]*x-amz-content-sha256[^,]*x-amz-date/);
    expect(req.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(req.headers['x-amz-security-token']).toBe('session-tok');
    expect(req.body).toBe(JSON.stringify({ amountUsd: 5, reference: 'r-1' }));
    expect(req.headers['x-amz-content-sha256']).toBe(
      createHash('sha256')
        .update(req.body ?? '')
        .digest('hex'),
    );
  });

  it('falls back to the AWS default credential chain when the env passed has no keys', async () => {
    const saved = {
      id: process.env.AWS_ACCESS_KEY_ID,
      secret: process.env.AWS_SECRET_ACCESS_KEY,
      profile: process.env.AWS_PROFILE,
    };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDFROMPROCESS';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret2';
    delete process.env.AWS_PROFILE;
    try {
      const captured: Captured[] = [];
      const out = await run(['--url', 'https://xyz.lambda-url.us-east-2.on.aws', 'tiers', 'versions'], {
        fetch: capturingFetch(captured, { active: 1, versions: [] }),
      });
      expect(out.code).toBe(0);
      expect(captured[0]?.url).toBe('https://xyz.lambda-url.us-east-2.on.aws/admin/tiers/versions');
      expect(captured[0]?.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDFROMPROCESS\/\d{8}\/us-east-2\/lambda\/aws4_request/,
      );
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
        ['AWS_PROFILE', saved.profile],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('does not sign requests to other hosts', async () => {
    const captured: Captured[] = [];
    await run(['--url', 'https://admin.example.com/admin', '--token', 't', 'guardrail'], {
      env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' },
      fetch: capturingFetch(captured, { day: 'd', spendMicros: 0, capMicros: 0, tripped: false }),
    });
    expect(captured[0]?.headers.authorization).toBe('Bearer t');
    expect(captured[0]?.headers['x-amz-date']).toBeUndefined();
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

describe('bin', () => {
  it('node cli/bin.js --help runs the CLI through tsx', () => {
    const bin = fileURLToPath(new URL('../../cli/bin.js', import.meta.url));
    const result = spawnSync(process.execPath, [bin, '--help'], {
      encoding: 'utf8',
      env: { ...process.env },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: tiergate [global options] <command> [arguments]');
    expect(result.stdout).toContain('tiers publish FILE');
  });
});
