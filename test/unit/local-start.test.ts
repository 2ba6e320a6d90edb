import { describe, expect, it } from 'vitest';
import { formatAccessLine } from '../../local/access-log.js';
import { startBanner } from '../../local/banner.js';

const runtime = {
  url: 'http://127.0.0.1:9123',
  adminUrl: 'http://127.0.0.1:9123/admin',
  adminToken: 'tga-token',
  apiKey: 'tg-key',
  accountId: 'acct_1',
  demoBalanceMicros: 4_250_000,
  reused: false,
  upstream: undefined,
  upstreamBaseUrl: 'https://openrouter.ai/api/v1',
};

describe('npm start banner', () => {
  it('prints the full export line for the CLI and the probe on the port in use, not 8787', () => {
    const text = startBanner(runtime, { quiet: false });
    expect(text).toContain(
      '  export TIERGATE_ADMIN_URL=http://127.0.0.1:9123/admin TIERGATE_ADMIN_TOKEN=tga-token\n',
    );
    expect(text).toContain('  npm run probe\n');
    expect(text).not.toContain('8787');
    expect(text).toContain('$4.250000 demo credit');
    expect(text).toMatch(/Access log below.*--quiet/);
    expect(startBanner(runtime, { quiet: true })).toContain('Access log off (--quiet).');
  });

  it('says when the account and token were reused from the data dir', () => {
    expect(startBanner({ ...runtime, reused: true }, { quiet: false, dataDir: '/data' })).toContain(
      'reused from /data',
    );
  });
});

describe('access-log line', () => {
  it('shows time, method, path, status, tier, duration, charge and request id', () => {
    const entry = {
      time: '2026-01-02T03:04:05.678Z',
      method: 'POST',
      path: '/v1/chat/completions',
      status: 200,
      completed: true,
      tier: 'tier-2',
      requestId: 'abc123',
      ms: 412,
      chargeMicros: 1234,
    };
    expect(formatAccessLine(entry)).toBe(
      '2026-01-02T03:04:05.678Z POST /v1/chat/completions 200 tier-2 412ms $0.001234 id=abc123',
    );
    expect(
      formatAccessLine({
        ...entry,
        completed: false,
        tier: undefined,
        chargeMicros: undefined,
        requestId: undefined,
      }),
    ).toBe('2026-01-02T03:04:05.678Z POST /v1/chat/completions 200 (client closed) - 412ms -');
  });
});
