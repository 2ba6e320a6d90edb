import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildUrl, normaliseBaseUrl } from '../../shared/admin-client/client.js';
import {
  ACCOUNT,
  admin,
  baseUrl,
  canned,
  only,
  port,
  recorded,
  run,
  useFakeAdminApi,
} from '../support/fake-admin-api.js';

/** Invoking the CLI: connection and auth, usage errors, SigV4 signing for Function URLs, and the bin script. */

useFakeAdminApi();

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
    ['impossible date', ['usage', '--since', '2026-02-30'], /--since must be an ISO 8601 .* that exists/],
    ['no such leap day', ['usage', '--until', '2027-02-29'], /--until must be an ISO 8601/],
    ['impossible hour', ['routing', '--until', '2026-12-03T24:00'], /--until must be an ISO 8601/],
    ['impossible minute', ['usage', '--since', '2026-12-03T13:60Z'], /--since must be an ISO 8601/],
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
