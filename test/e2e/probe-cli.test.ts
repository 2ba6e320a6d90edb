import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { waitFor } from '../support/e2e-helpers.js';
import { metricsOfEmfLine } from '../support/emf.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * The local probe schedule (first run shortly after start, so /health turns 200 without anyone asking) and
 * `npm run probe` as an operator runs it against a running gateway.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  // An hour between runs: only the first, shortly after start, happens during this file.
  runtime = await startTestRuntime({ probeEveryMs: 3_600_000 });
});
afterAll(async () => {
  await runtime?.close();
});

/** `npm run probe -- <args>` (the script is `tsx local/probe.ts`), against this file's runtime. */
function probe(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; out: string }> {
  // An `undefined` in `env` removes the variable.
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    TIERGATE_ADMIN_TOKEN: runtime.adminToken,
    ...env,
  };
  for (const [name, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/probe.ts', ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('local probe schedule', () => {
  it('runs the probe shortly after start, so /health turns 200 on its own', async () => {
    const body = await waitFor(
      async () => {
        const res = await fetch(`${runtime.url}/health`);
        return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: '/health to turn 200' },
    );
    expect(body).toMatchObject({ status: 'ok', probe: { passed: true } });
    const last = await admin(runtime, 'GET', '/admin/probe');
    expect((last.json.steps as Array<{ name: string }>).map((s) => s.name)).toEqual([
      'SignUp',
      'Complete',
      'Messages',
      'VerifyBilling',
      'Cleanup',
    ]);
  });
});

describe('npm run probe', () => {
  it('prints each step with its result and timing, records the run and exits 0 when all passed', async () => {
    const before = await admin(runtime, 'GET', '/admin/probe');
    const { code, out } = await probe(['--url', runtime.url], { POWERTOOLS_METRICS_DISABLED: undefined });
    expect(code, out).toBe(0);
    // Metrics are off unless asked for: no EMF line in front of the table.
    expect(out).not.toContain('CloudWatchMetrics');
    for (const step of ['SignUp', 'Complete', 'Messages', 'VerifyBilling', 'Cleanup']) {
      expect(out).toMatch(new RegExp(`^ {2}${step} +✓ +\\d+$`, 'm'));
    }
    expect(out).toMatch(/passed in \d+\.\d s/);
    expect(out).toMatch(/recorded: GET \/health now reflects this run/);
    const after = await admin(runtime, 'GET', '/admin/probe');
    expect(after.json.at).not.toBe(before.json.at);
    expect((await fetch(`${runtime.url}/health`)).status).toBe(200);
  });

  it('exits 1, names the failing step and its error, and turns /health 503 when a step fails', async () => {
    runtime.bus.setTargetEnabled('billing', false);
    try {
      const { code, out } = await probe(['--url', runtime.url, '--json'], {
        PROBE_BILLING_TIMEOUT_MS: '1500',
      });
      expect(code, out).toBe(1);
      const result = JSON.parse(out) as Record<string, unknown>;
      expect(result).toMatchObject({ passed: false, failingStep: 'VerifyBilling', recorded: true });
      expect(result.steps).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'VerifyBilling',
            passed: false,
            error: expect.stringMatching(/billing did not settle/),
          }),
          expect.objectContaining({ name: 'Cleanup', passed: true }),
        ]),
      );
      expect((await admin(runtime, 'GET', `/admin/accounts/${result.probeAccountId}`)).status).toBe(404);
      const health = await fetch(`${runtime.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ reason: 'probe failed at VerifyBilling' });
    } finally {
      runtime.bus.setTargetEnabled('billing', true);
    }
  });

  it('with metrics on, prints the ProbeSuccess EMF line the Record task publishes, 0 for a failed run', async () => {
    const passed = await probe(['--url', runtime.url], { POWERTOOLS_METRICS_DISABLED: 'false' });
    expect(passed.code, passed.out).toBe(0);
    const failed = await probe(['--url', runtime.url, '--token', 'not-the-token'], {
      POWERTOOLS_METRICS_DISABLED: 'false',
    });
    expect(failed.code, failed.out).toBe(1);
    for (const [run, value] of [
      [passed, 1],
      [failed, 0],
    ] as const) {
      const metrics = run.out.split('\n').flatMap(metricsOfEmfLine);
      expect(metrics).toEqual([
        { namespace: 'Tiergate', name: 'ProbeSuccess', dimensions: { service: 'tiergate' }, value },
      ]);
    }
  });

  it('exits 1 and says the run was not recorded when the admin token is wrong', async () => {
    const { code, out } = await probe(['--url', runtime.url, '--token', 'not-the-token']);
    expect(code).toBe(1);
    expect(out).toMatch(/^ {2}SignUp +✗ +\d+ +admin API: Missing or wrong admin token\./m);
    expect(out).toMatch(/FAILED at SignUp/);
    expect(out).toMatch(/NOT recorded/);
  });
});
