import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { Template } from 'aws-cdk-lib/assertions';
import { ExecutionError, type RunOptions, StateMachine } from 'aws-local-stepfunctions';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import type { TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { hashApiKey } from '../../shared/domain/keys.js';
import type { ProbeResult } from '../../shared/probe/result.js';
import type { ProbeState } from '../../shared/probe/steps.js';
import { ledgerKeys } from '../../shared/tables.js';
import {
  logicalId,
  removeTestOutput,
  type StateMachineDefinition,
  stateMachineDefinition,
  testStack,
} from '../infra/support.js';
import { demoUpstream, rawRequest } from '../support/e2e-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * The probe state machine exactly as synthesized, run by aws-local-stepfunctions with every Lambda task mapped
 * to the real probe handler (lambdas/probe), against a local runtime. One test per real outage: each must fail
 * the probe at the step that is broken, still clean up, record the failure and turn /health 503.
 */

type Handler = (event: unknown, context: unknown) => Promise<unknown>;
type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type Hook = (output: unknown) => Promise<void>;

let runtime: LocalRuntime;
let definition: StateMachineDefinition;
let probeHandler: Handler;
let stdout: MockInstance<typeof process.stdout.write>;
/** Every probe key SignUp handed out, to prove none is ever recorded. */
const probeKeys: string[] = [];

const lambdaContext = {
  functionName: 'probe',
  awsRequestId: 'local',
  getRemainingTimeInMillis: () => 180_000,
};

beforeAll(async () => {
  const { stack } = testStack();
  definition = stateMachineDefinition(Template.fromStack(stack), logicalId(stack.probe.stateMachine));
  runtime = await startTestRuntime();
  // The probe function reads its configuration at import, as at a cold start in Lambda.
  Object.assign(process.env, {
    PROBE_PUBLIC_URL: runtime.url,
    PROBE_ADMIN_URL: runtime.adminUrl,
    TIERGATE_ADMIN_TOKEN: runtime.adminToken,
    PROBE_BILLING_TIMEOUT_MS: '3000',
    PROBE_POLL_INTERVAL_MS: '100',
  });
  // Metrics on for the probe function only (its Metrics instance reads this at import): the Record task's
  // ProbeSuccess is asserted on, as the EMF line Lambda would ship to CloudWatch.
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  try {
    probeHandler = (await import('../../lambdas/probe/handler.js')).handler as unknown as Handler;
  } finally {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  }
});

afterAll(async () => {
  await runtime?.close();
  removeTestOutput();
});

afterEach(() => {
  runtime.upstream?.clearFaults();
  runtime.bus.setTargetEnabled('billing', true);
  stdout?.mockRestore();
});

interface Execution {
  /** The execution's output when it succeeded. */
  output?: unknown;
  /** The execution's failure, when it ended in a Fail state. */
  error?: ExecutionError;
  /** Task states in the order they ran. */
  tasks: string[];
}

/** Runs the synthesized definition once; `hooks` run after a task's handler, with its output. */
async function execute(hooks: Record<string, Hook> = {}): Promise<Execution> {
  const tasks: string[] = [];
  const taskNames = Object.entries(definition.States)
    .filter(([, state]) => state.Type === 'Task')
    .map(([name]) => name);
  const taskResourceLocalHandlers = Object.fromEntries(
    taskNames.map((name) => [
      name,
      async (input: unknown) => {
        tasks.push(name);
        const output = await probeHandler(input, lambdaContext);
        if (name === 'SignUp') probeKeys.push(String((output as ProbeState).apiKey));
        await hooks[name]?.(output);
        return output;
      },
    ]),
  );
  const machine = new StateMachine(definition as never);
  // EMF lines are captured (and kept out of the test output); everything else is written through.
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown) => boolean;
  stdout = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: unknown) => (String(chunk).includes('"_aws"') ? true : write(chunk)));
  const execution = machine.run(
    { trigger: 'test' },
    {
      overrides: {
        taskResourceLocalHandlers: taskResourceLocalHandlers as unknown as LocalHandlers,
        waitTimeOverrides: { WaitForBilling: 50 },
      },
    },
  );
  try {
    return { output: await execution.result, tasks };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    return { error, tasks };
  }
}

/** The ProbeSuccess values the Record task published in the last execution. */
function probeSuccessMetrics(): number[] {
  return stdout.mock.calls
    .map(([chunk]) => String(chunk))
    .filter((line) => line.includes('"ProbeSuccess"'))
    .map((line) => {
      const emf = JSON.parse(line) as {
        ProbeSuccess: number;
        service: string;
        _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> };
      };
      expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
        Namespace: 'Tiergate',
        Dimensions: [['service']],
      });
      expect(emf.service).toBe('tiergate');
      return emf.ProbeSuccess;
    });
}

async function recorded(): Promise<ProbeResult> {
  const { status, json } = await admin(runtime, 'GET', '/admin/probe');
  expect(status).toBe(200);
  return json as unknown as ProbeResult;
}

async function health(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${runtime.url}/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function expectAccountGone(accountId: string | undefined): Promise<void> {
  expect(accountId).toMatch(/^acct_/);
  expect((await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).status).toBe(404);
}

/** A failed run: the execution fails, the failure is recorded at `step`, cleanup ran, /health is 503. */
async function expectFailedAt(run: Execution, step: string, error: RegExp): Promise<ProbeResult> {
  const outcome = JSON.stringify({ tasks: run.tasks, output: run.output, error: String(run.error ?? '') });
  expect(run.error?.cause, outcome).toMatchObject({ name: 'ProbeFailed', message: step });
  expect(run.tasks.slice(-2)).toEqual(['CleanupAfterFailure', 'RecordFailed']);
  const result = await recorded();
  expect(result).toMatchObject({ passed: false, failingStep: step });
  const failed = result.steps?.find((s) => s.name === step);
  expect(failed).toMatchObject({ passed: false, error: expect.stringMatching(error) });
  expect(failed?.ms).toBeGreaterThanOrEqual(0);
  expect(result.steps?.at(-1)).toMatchObject({ name: 'Cleanup', passed: true });
  await expectAccountGone(result.probeAccountId);
  // Nothing secret or generated is recorded: no key, no prompt, no completion text.
  const text = JSON.stringify(result);
  for (const key of probeKeys) expect(text).not.toContain(key);
  expect(text).not.toMatch(/health check|Lorem|ipsum/i);
  const { status, body } = await health();
  expect(status).toBe(503);
  expect(body).toMatchObject({
    status: 'unhealthy',
    reason: `probe failed at ${step}`,
    probe: { passed: false, failingStep: step, ageSeconds: expect.any(Number) },
  });
  expect(probeSuccessMetrics()).toEqual([0]);
  return result;
}

describe('synthetic probe state machine (local execution of the synthesized definition)', () => {
  it('/health is 503 before any probe has run', async () => {
    expect(await health()).toMatchObject({ status: 503, body: { reason: 'no probe has run yet' } });
    expect((await admin(runtime, 'GET', '/admin/probe')).status).toBe(404);
  });

  it('a probe that has not run within 2 intervals makes /health 503 (stale)', async () => {
    const at = Date.now() - (2 * 360 + 1) * 60_000;
    const put = await admin(runtime, 'PUT', '/admin/probe', {
      passed: true,
      startedAt: new Date(at - 2_000).toISOString(),
      at: new Date(at).toISOString(),
      steps: [{ name: 'SignUp', passed: true, ms: 10 }],
    });
    expect(put).toMatchObject({ status: 200, json: { recorded: true } });
    const { status, body } = await health();
    expect(status).toBe(503);
    expect(body).toMatchObject({
      reason: 'last probe is stale',
      probe: { passed: true, maxAgeSeconds: 2 * 360 * 60 },
    });
    expect(Number((body.probe as { ageSeconds: number }).ageSeconds)).toBeGreaterThan(2 * 360 * 60);
  });

  it('all healthy: the probe passes, /health is 200 and no probe account remains', async () => {
    const run = await execute();
    expect(run.error).toBeUndefined();
    expect(run.tasks).toEqual(['SignUp', 'Complete', 'Messages', 'VerifyBilling', 'Cleanup', 'RecordPassed']);
    expect(run.output).toMatchObject({ passed: true });
    const result = await recorded();
    expect(result).toMatchObject({ passed: true });
    expect(result.failingStep).toBeUndefined();
    expect(result.steps?.map((s) => [s.name, s.passed])).toEqual([
      ['SignUp', true],
      ['Complete', true],
      ['Messages', true],
      ['VerifyBilling', true],
      ['Cleanup', true],
    ]);
    await expectAccountGone(result.probeAccountId);
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', probe: { passed: true, at: result.at } });
    expect(probeSuccessMetrics()).toEqual([1]);
    // The probe called the upstream as a client would: tier-1 plain and streamed, then every other tier
    // and tier-auto plain, each with a reasoning-safe cap, each on its tier's first model.
    const calls = demoUpstream(runtime).requests.filter((r) =>
      JSON.stringify(r.body.messages).includes('health check'),
    );
    const firstModel = (tier: TierId) => DEFAULT_CATALOG.tiers[tier].models[0]?.id;
    // Chat (max_completion_tokens), then Messages streamed (Anthropic's max_tokens).
    expect(calls.map((r) => [r.body.model, r.stream, 'max_tokens' in r.body])).toEqual([
      [firstModel('tier-1'), false, false],
      [firstModel('tier-1'), true, false],
      [firstModel('tier-2'), false, false],
      [firstModel('tier-3'), false, false],
      [firstModel('tier-4'), false, false],
      // tier-auto: the health check is an easy request, routed to tier-1.
      [firstModel('tier-1'), false, false],
      [firstModel('tier-1'), true, true],
    ]);
    for (const call of calls.slice(0, 6)) {
      expect(call.body.max_completion_tokens).toBeGreaterThanOrEqual(16);
      expect(call.body).not.toHaveProperty('max_tokens');
    }
    // The Messages completion (a Claude model name) went upstream as the same tier-1 model.
    expect(calls[6]?.body.max_tokens).toBeGreaterThanOrEqual(16);
  });

  it('auth broken (the key lookup finds nothing): fails at Complete, cleans up, /health 503', async () => {
    const db = createDocumentClient(runtime.dynamodbEndpoint);
    const run = await execute({
      // Right after SignUp the key item disappears, as if the key table were unreadable or hashed differently.
      SignUp: async (output) => {
        const key = (output as ProbeState).apiKey as string;
        await db.send(
          new DeleteCommand({ TableName: runtime.tables.ledger, Key: ledgerKeys.apiKey(hashApiKey(key)) }),
        );
      },
    });
    expect(run.tasks).toEqual(['SignUp', 'Complete', 'CleanupAfterFailure', 'RecordFailed']);
    await expectFailedAt(run, 'Complete', /HTTP 401 invalid_api_key/);
  });

  it('upstream broken (500 from every model): fails at Complete, cleans up, /health 503', async () => {
    demoUpstream(runtime).injectFault({ fault: { kind: 'status', status: 500 } });
    const run = await execute();
    await expectFailedAt(run, 'Complete', /HTTP 50\d/);
  });

  it('upstream secret corrupt (401 from the upstream): fails at Complete, cleans up, /health 503', async () => {
    demoUpstream(runtime).injectFault({ fault: { kind: 'status', status: 401 } });
    const run = await execute();
    const result = await expectFailedAt(run, 'Complete', /HTTP 5\d\d/);
    // The gateway's answer never told the client about the upstream's key.
    expect(JSON.stringify(result)).not.toMatch(/invalid_api_key/);
  });

  it('billing consumer not running: fails at VerifyBilling, cleans up, /health 503', async () => {
    runtime.bus.setTargetEnabled('billing', false);
    const run = await execute();
    expect(run.tasks).toEqual([
      'SignUp',
      'Complete',
      'Messages',
      'VerifyBilling',
      'CleanupAfterFailure',
      'RecordFailed',
    ]);
    await expectFailedAt(run, 'VerifyBilling', /billing did not settle within 3 s: 0 of 7 request-log items/);
  });

  it('one tier broken (every tier-3 model fails): fails at Complete naming the tier, cleans up, /health 503', async () => {
    for (const model of DEFAULT_CATALOG.tiers['tier-3'].models)
      demoUpstream(runtime).injectFault({ model: model.id, fault: { kind: 'status', status: 500 } });
    const run = await execute();
    expect(run.tasks).toEqual(['SignUp', 'Complete', 'CleanupAfterFailure', 'RecordFailed']);
    await expectFailedAt(run, 'Complete', /^tier-3 non-streaming completion: HTTP 502/);
  });

  it('Messages broken (the upstream fails every Messages request): fails at Messages, cleans up, /health 503', async () => {
    const run = await execute({
      // Chat completions passed; from here on the upstream answers 500.
      Complete: async () => demoUpstream(runtime).injectFault({ fault: { kind: 'status', status: 500 } }),
    });
    expect(run.tasks).toEqual(['SignUp', 'Complete', 'Messages', 'CleanupAfterFailure', 'RecordFailed']);
    const result = await expectFailedAt(run, 'Messages', /streamed message: HTTP 502 api_error/);
    expect(result.steps?.map((s) => [s.name, s.passed])).toEqual([
      ['SignUp', true],
      ['Complete', true],
      ['Messages', false],
      ['Cleanup', true],
    ]);
  });

  it('Messages billed on other counts than its stream reported: fails at VerifyBilling, cleans up', async () => {
    const run = await execute({
      // As if the gateway had told the client one more output token than it billed.
      Messages: async (output) => {
        const reported = (output as ProbeState).messages;
        if (reported) reported.outputTokens += 1;
      },
    });
    await expectFailedAt(
      run,
      'VerifyBilling',
      /Messages request was billed on \d+\/\d+ .* its client was told/,
    );
  });

  it('a step run again after a service error made requests of its own: they are billed, and the run still passes', async () => {
    const run = await execute({
      // As a Complete that Step Functions retried would leave: a charged request whose id no step kept.
      Complete: async (output) => {
        const res = await rawRequest(
          runtime,
          { model: 'tier-2', messages: [{ role: 'user', content: 'This is a health check, tried twice.' }] },
          { apiKey: String((output as ProbeState).apiKey) },
        );
        expect(res.status).toBe(200);
        await res.text();
      },
    });
    expect(run.output).toMatchObject({ passed: true });
  });

  it('Messages stream cut after its first content: fails at Messages (no message_stop), cleans up', async () => {
    const run = await execute({
      Complete: async () =>
        demoUpstream(runtime).injectFault({ fault: { kind: 'disconnect', afterChunks: 1 }, times: 1 }),
    });
    await expectFailedAt(run, 'Messages', /error event.*does not end with message_stop/);
  });

  it('recovers: once the outage is over the next run passes and /health is 200 again', async () => {
    const run = await execute();
    expect(run.output).toMatchObject({ passed: true });
    expect((await health()).status).toBe(200);
    expect(probeSuccessMetrics()).toEqual([1]);
  });

  it('keeps the newest result: an older one is not recorded over it', async () => {
    const newest = await recorded();
    const old = Date.parse(newest.at) - 60_000;
    const put = await admin(runtime, 'PUT', '/admin/probe', {
      passed: false,
      startedAt: new Date(old - 1_000).toISOString(),
      at: new Date(old).toISOString(),
      failingStep: 'Complete',
      steps: [{ name: 'Complete', passed: false, ms: 5, error: 'old' }],
    });
    expect(put).toMatchObject({ status: 200, json: { recorded: false } });
    expect((await recorded()).at).toBe(newest.at);
    expect((await health()).status).toBe(200);
  });

  it('refuses a malformed or inconsistent result with a 400 that names the field', async () => {
    const now = new Date().toISOString();
    const cases: Array<[unknown, string]> = [
      [
        { passed: true, startedAt: now, at: now, steps: [{ name: 'SignUp', passed: true, ms: 1 }], extra: 1 },
        'extra',
      ],
      [{ passed: true, startedAt: now, at: now, steps: [] }, 'steps'],
      [
        { passed: 'yes', startedAt: now, at: now, steps: [{ name: 'SignUp', passed: true, ms: 1 }] },
        'passed',
      ],
      [
        { passed: false, startedAt: now, at: now, steps: [{ name: 'SignUp', passed: false, ms: 1 }] },
        'failingStep',
      ],
      [
        {
          passed: true,
          startedAt: now,
          at: new Date(Date.now() + 3_600_000).toISOString(),
          steps: [{ name: 'SignUp', passed: true, ms: 1 }],
        },
        'at',
      ],
    ];
    for (const [body, param] of cases) {
      const { status, json } = await admin(runtime, 'PUT', '/admin/probe', body);
      expect(status, param).toBe(400);
      expect(json.error, param).toMatchObject({ code: 'invalid_request', param });
    }
  });
});
