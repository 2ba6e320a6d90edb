import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lambdaUrlRegion } from '../shared/admin-client/sigv4.js';
import { checkProbeTarget, createProbeEnv, PROBE_ENV, ProbeConfigError } from '../shared/probe/env.js';
import type { ProbeResult } from '../shared/probe/result.js';
import { type ProbeRun, probeRunSucceeded, runProbe } from '../shared/probe/runner.js';
import { createMetrics, publishProbeSuccess } from '../shared/runtime/metrics.js';

/**
 * `npm run probe`: the synthetic probe's steps, once, against the local runtime (default: PORT and
 * TIERGATE_ADMIN_TOKEN) or a deployed stack (--url and --admin-url; the admin URL is signed with SigV4 from the
 * default AWS credential chain). Prints each step's result and timing, records the result so /health reflects
 * it, and exits 0 only when every step passed. With POWERTOOLS_METRICS_DISABLED=false it also prints the run's
 * ProbeSuccess EMF line, as the probe function's Record task does.
 */

const USAGE = `Usage: npm run probe -- [--url <public URL>] [--admin-url <admin URL>] [--token <admin token>] [--json]

  --url        public API root (default: $TIERGATE_ADMIN_URL without /admin, else
               http://127.0.0.1:$PORT, PORT defaulting to 8787)
  --admin-url  admin API (default <url>/admin; required for a deployed stack: its AdminUrl output)
  --token      admin token of a local runtime (default $TIERGATE_ADMIN_TOKEN)
  --json       print the recorded result as JSON`;

export interface ProbeCliOutput {
  stdout: string;
  stderr: string;
  code: number;
}

function table(run: ProbeRun, target: string): string {
  const { result } = run;
  const steps = result.steps ?? [];
  const width = Math.max(4, ...steps.map((step) => step.name.length));
  const lines = [`Synthetic probe against ${target}`, ''];
  lines.push(`  ${'step'.padEnd(width)}  result  ${'ms'.padStart(6)}  error`);
  for (const step of steps) {
    lines.push(
      `  ${step.name.padEnd(width)}  ${(step.passed ? '✓' : '✗').padEnd(6)}  ${String(step.ms).padStart(6)}  ${step.error ?? ''}`.trimEnd(),
    );
  }
  lines.push('');
  const total = Math.max(0, Date.parse(result.at) - Date.parse(result.startedAt ?? result.at));
  lines.push(
    result.passed
      ? `passed in ${(total / 1000).toFixed(1)} s`
      : `FAILED at ${result.failingStep} after ${(total / 1000).toFixed(1)} s`,
  );
  lines.push(
    run.recorded
      ? 'recorded: GET /health now reflects this run'
      : `NOT recorded (${run.recordError}): /health does not reflect this run`,
  );
  if (!result.passed && result.probeAccountId) lines.push(`probe account: ${result.probeAccountId}`);
  return `${lines.join('\n')}\n`;
}

export interface ProbeCliDeps {
  /** Publishes ProbeSuccess for a run (the script: EMF on stdout when metrics are on). */
  probeSucceeded?: (passed: boolean) => void;
}

/** Runs the CLI; returns what to print and the exit code (0 all passed and recorded, 1 failed, 2 usage). */
export async function probeCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  deps: ProbeCliDeps = {},
): Promise<ProbeCliOutput> {
  let values: { url?: string; 'admin-url'?: string; token?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        'admin-url': { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    return { stdout: '', stderr: `${(err as Error).message}\n${USAGE}\n`, code: 2 };
  }
  if (values.help) return { stdout: `${USAGE}\n`, stderr: '', code: 0 };

  // Without --url: the local runtime that TIERGATE_ADMIN_URL (as npm start prints it) or PORT names.
  const localAdminUrl = values.url === undefined ? env.TIERGATE_ADMIN_URL || undefined : undefined;
  if (localAdminUrl && URL.canParse(localAdminUrl) && lambdaUrlRegion(new URL(localAdminUrl).hostname)) {
    return {
      stdout: '',
      stderr: 'probe: --url is required for a deployed stack (its ApiUrl output)\n',
      code: 2,
    };
  }
  const publicUrl = (
    values.url ??
    (localAdminUrl ? localAdminUrl.replace(/\/+$/, '').replace(/\/admin$/, '') : undefined) ??
    `http://127.0.0.1:${env.PORT || 8787}`
  ).replace(/\/+$/, '');
  let adminUrl = values['admin-url'];
  if (adminUrl === undefined) {
    if (URL.canParse(publicUrl) && lambdaUrlRegion(new URL(publicUrl).hostname)) {
      return {
        stdout: '',
        stderr: 'probe: --admin-url is required for a deployed stack (its AdminUrl output)\n',
        code: 2,
      };
    }
    adminUrl = `${publicUrl}/admin`;
  }
  const adminToken = values.token ?? env[PROBE_ENV.adminToken];
  let run: ProbeRun;
  try {
    const target = checkProbeTarget({
      publicUrl,
      adminUrl,
      ...(adminToken ? { adminToken } : {}),
      ...(env[PROBE_ENV.billingTimeoutMs]
        ? { billingTimeoutMs: Number(env[PROBE_ENV.billingTimeoutMs]) }
        : {}),
    });
    run = await runProbe(createProbeEnv(target));
  } catch (err) {
    if (err instanceof ProbeConfigError) return { stdout: '', stderr: `probe: ${err.message}\n`, code: 2 };
    throw err;
  }
  const ok = probeRunSucceeded(run);
  deps.probeSucceeded?.(ok);
  const stdout = values.json ? `${JSON.stringify(jsonOutput(run), null, 2)}\n` : table(run, publicUrl);
  return { stdout, stderr: '', code: ok ? 0 : 1 };
}

function jsonOutput(run: ProbeRun): ProbeResult & { recorded: boolean; recordError?: string } {
  return {
    ...run.result,
    recorded: run.recorded,
    ...(run.recordError ? { recordError: run.recordError } : {}),
  };
}

// Only when run as the script, not when a test imports probeCli.
const script = process.argv[1];
if (script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href) {
  // Off by default, as in `npm start`: an EMF line is for a log shipper, and would sit in front of --json output.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const metrics = createMetrics();
  probeCli(process.argv.slice(2), process.env, {
    probeSucceeded: (passed) => publishProbeSuccess(metrics, passed),
  }).then(
    ({ stdout, stderr, code }) => {
      process.stdout.write(stdout);
      process.stderr.write(stderr);
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`probe: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
