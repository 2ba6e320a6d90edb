import { describe, expect, it } from 'vitest';
import { probeCli } from '../../local/probe.js';
import {
  autoRouteProblems,
  bodyLeaks,
  catalogModelIds,
  checkCompletion,
  checkStream,
  headerLeaks,
  leakTerms,
} from '../../shared/probe/checks.js';
import type { ProbeAdmin, ProbeEnv } from '../../shared/probe/env.js';
import { probeResultBody, redactSecrets } from '../../shared/probe/result.js';
import {
  asTaskFailure,
  complete,
  failedStepResult,
  type ProbeState,
  ProbeStepError,
  probeResult,
  signUp,
  taskErrorOf,
} from '../../shared/probe/steps.js';
import { createProbeTask } from '../../shared/probe/task.js';

const TERMS = leakTerms(['openai/gpt-4o-mini', 'google/gemini-2.0-flash-001']);
const KEY = `tg-${'a'.repeat(43)}`;

function completion(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'chatcmpl-0123abcd',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'tier-1',
    choices: [{ index: 0, message: { role: 'assistant', content: 'OK' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
    ...overrides,
  };
}

function chunk(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'chatcmpl-0123abcd',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'tier-1',
    choices: [{ index: 0, delta: { content: 'OK' }, finish_reason: null }],
    ...overrides,
  };
}

const sse = (...frames: unknown[]): string =>
  frames.map((frame) => `data: ${typeof frame === 'string' ? frame : JSON.stringify(frame)}\n\n`).join('');

const goodStream = () =>
  sse(
    chunk(),
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
    chunk({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 } }),
    '[DONE]',
  );

describe('probe checks: OpenAI shapes and leaks', () => {
  it('derives leak terms from catalog model ids and the provider list, skipping terms too short to be safe', () => {
    expect(TERMS).toEqual(
      expect.arrayContaining(['openai/gpt-4o-mini', 'gpt-4o-mini', 'google', 'anthropic']),
    );
    expect(leakTerms(['openai/o1'])).not.toContain('o1');
    expect(
      catalogModelIds({ catalog: { tiers: { 'tier-1': { models: [{ id: 'a/b' }, { id: 'c/d' }] } } } }),
    ).toEqual(['a/b', 'c/d']);
    expect(catalogModelIds({ nonsense: true })).toEqual([]);
  });

  it('accepts a conforming completion, even when its generated text names a provider', () => {
    expect(checkCompletion(completion(), TERMS)).toEqual([]);
    const mentions = completion({
      choices: [
        { index: 0, message: { role: 'assistant', content: 'OpenAI and Google' }, finish_reason: 'stop' },
      ],
    });
    expect(checkCompletion(mentions, TERMS)).toEqual([]);
  });

  it('flags a wrong model, an upstream id, missing or inconsistent usage, and upstream fields', () => {
    expect(checkCompletion(completion({ model: 'openai/gpt-4o-mini' }), TERMS).join()).toMatch(
      /field model .*names an upstream model/,
    );
    expect(checkCompletion(completion({ id: 'gen-123' }), TERMS).join()).toMatch(/field id/);
    expect(checkCompletion(completion({ usage: undefined }), TERMS).join()).toMatch(/field usage/);
    expect(
      checkCompletion(
        completion({ usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 5 } }),
        TERMS,
      ),
    ).toHaveLength(1);
    expect(checkCompletion(completion({ provider: 'DemoProvider' }), TERMS)).toEqual([
      'carries the upstream field "provider"',
    ]);
    expect(bodyLeaks({ system_fingerprint: 'fp_x' }, TERMS)).toEqual([
      'carries the upstream field "system_fingerprint"',
    ]);
  });

  it('never quotes a response value in a problem', () => {
    const problems = checkCompletion(
      completion({ model: 'openai/gpt-4o-mini', created: 'secret-ish' }),
      TERMS,
    );
    expect(problems.join()).not.toMatch(/gpt-4o-mini|secret-ish/);
  });

  it('flags headers that name an upstream', () => {
    expect(headerLeaks(new Headers({ 'x-request-id': 'abc', 'x-tier': 'tier-1' }), TERMS)).toEqual([]);
    expect(headerLeaks(new Headers({ 'x-openrouter-id': '1', via: 'gpt-4o-mini' }), TERMS)).toEqual([
      'header via, x-openrouter-id names an upstream model or provider',
    ]);
  });

  it('accepts a conforming stream and flags each way a stream can be wrong', () => {
    expect(checkStream(goodStream(), TERMS)).toEqual([]);
    const withoutDone = goodStream().replace('data: [DONE]\n\n', '');
    expect(checkStream(withoutDone, TERMS)).toContain('the stream did not end with [DONE]');
    const errored = sse(chunk(), { error: { message: 'x', type: 'server_error', code: 'upstream_error' } });
    expect(checkStream(errored, TERMS)).toEqual(
      expect.arrayContaining(['the stream ended with an error frame', 'the stream did not end with [DONE]']),
    );
    const noUsage = sse(
      chunk({ choices: [{ index: 0, delta: { content: 'OK' }, finish_reason: 'stop' }] }),
      '[DONE]',
    );
    expect(checkStream(noUsage, TERMS)).toEqual([
      'no usage chunk although stream_options.include_usage was set',
    ]);
    expect(checkStream(sse(chunk(), 'not json'), TERMS)).toEqual(['a frame is not JSON']);
    const leaking = goodStream().replace('"model":"tier-1"', '"model":"google/gemini-2.0-flash-001"');
    expect(checkStream(leaking, TERMS).join()).toMatch(/names an upstream/);
    const twoIds = sse(
      chunk(),
      chunk({ id: 'chatcmpl-other', choices: [], usage: completion().usage }),
      '[DONE]',
    );
    expect(checkStream(twoIds, TERMS)).toContain('the chunks do not share one id');
  });

  it('fails an answer without text, or one that did not finish as an answer, however well-formed', () => {
    const reply = (content: string | null, finish: string) =>
      completion({ choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish }] });
    // A reasoning model that spent the cap thinking, a filter that blanked the reply.
    expect(checkCompletion(reply(null, 'length'), TERMS)).toEqual(['the answer has no text']);
    expect(checkCompletion(reply('  ', 'stop'), TERMS)).toEqual(['the answer has no text']);
    expect(checkCompletion(reply('OK', 'content_filter'), TERMS)).toEqual([
      'the answer did not finish with stop or length',
    ]);
    expect(checkCompletion(reply('OK', 'length'), TERMS)).toEqual([]);
    const usageChunk = chunk({ choices: [], usage: completion().usage });
    const blank = sse(
      chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'content_filter' }] }),
      usageChunk,
      '[DONE]',
    );
    expect(checkStream(blank, TERMS)).toEqual([
      'the answer has no text',
      'the answer did not finish with stop or length',
    ]);
  });
});

describe('probe results', () => {
  const started = Date.parse('2026-01-01T00:00:00.000Z');
  const passedSteps = [
    { name: 'SignUp', passed: true, ms: 10 },
    { name: 'Complete', passed: true, ms: 20 },
    { name: 'Messages', passed: true, ms: 25 },
    { name: 'VerifyBilling', passed: true, ms: 30 },
  ];

  it('redacts keys, admin tokens, upstream keys and bearer headers, and bounds the length', () => {
    const text = redactSecrets(
      `key ${KEY} token tga-${'b'.repeat(32)} up sk-or-${'c'.repeat(30)} Bearer xyz`,
    );
    expect(text).toBe('key [redacted] token [redacted] up [redacted] [redacted]');
    expect(redactSecrets('x'.repeat(2_000))).toHaveLength(500);
  });

  it('reads a failed step back from a local Catch and from an AWS one (Lambda error envelope)', () => {
    const local = taskErrorOf(new ProbeStepError('Complete', 42, `HTTP 502 upstream_error for ${KEY}`));
    expect(local.Error).toBe('ProbeStepFailed');
    expect(failedStepResult('Complete', local, 0)).toEqual({
      name: 'Complete',
      passed: false,
      ms: 42,
      error: 'HTTP 502 upstream_error for [redacted]',
    });
    const failure = asTaskFailure(new ProbeStepError('VerifyBilling', 7, 'billing did not settle'));
    const aws = {
      Error: failure.name,
      Cause: JSON.stringify({ errorType: failure.name, errorMessage: failure.message, trace: ['at x'] }),
    };
    expect(failedStepResult('VerifyBilling', aws, 0)).toMatchObject({
      ms: 7,
      error: 'billing did not settle',
    });
  });

  it('names a failure without a step error by its type, timed by what is left of the run', () => {
    const timeout = { Error: 'States.Timeout', Cause: 'Task timed out after 240.00 seconds' };
    expect(failedStepResult('Complete', timeout, 123)).toEqual({
      name: 'Complete',
      passed: false,
      ms: 123,
      error: 'States.Timeout: Task timed out after 240.00 seconds',
    });
    expect(failedStepResult('Complete', { Error: 'Lambda.Unknown' }, 1).error).toBe('Lambda.Unknown');
  });

  it('builds a passed result only when every step passed, and validates as a PUT body', () => {
    const state: ProbeState = {
      startedAt: new Date(started).toISOString(),
      steps: [...passedSteps, { name: 'Cleanup', passed: true, ms: 5 }],
      account: { id: 'acct_1', keyId: 'key_1', creditMicros: 100_000 },
    };
    const result = probeResult(state, started + 100);
    expect(result).toEqual({
      passed: true,
      startedAt: '2026-01-01T00:00:00.000Z',
      at: '2026-01-01T00:00:00.100Z',
      steps: state.steps,
      probeAccountId: 'acct_1',
    });
    expect(probeResultBody.safeParse(result).success).toBe(true);
    // A state that skipped a step cannot pass.
    expect(probeResult({ ...state, steps: state.steps.slice(1) }, started + 100)).toMatchObject({
      passed: false,
      failingStep: 'SignUp',
    });
    // So does one without its Messages completion.
    const withoutMessages = state.steps.filter((step) => step.name !== 'Messages');
    expect(probeResult({ ...state, steps: withoutMessages }, started + 100)).toMatchObject({
      passed: false,
      failingStep: 'Messages',
    });
  });

  it('orders a failure before the cleanup that followed it, and records a failed cleanup too', () => {
    const state: ProbeState = {
      startedAt: new Date(started).toISOString(),
      steps: [passedSteps[0] as (typeof passedSteps)[number]],
      failedStep: 'Complete',
      error: taskErrorOf(new ProbeStepError('Complete', 20, 'HTTP 401 invalid_api_key')),
      cleanupError: taskErrorOf(new ProbeStepError('Cleanup', 3, 'deleting account acct_1: HTTP 500')),
    };
    const result = probeResult(state, started + 100);
    expect(result.failingStep).toBe('Complete');
    expect(result.steps?.map((step) => [step.name, step.passed])).toEqual([
      ['SignUp', true],
      ['Complete', false],
      ['Cleanup', false],
    ]);
    expect(probeResultBody.safeParse(result).success).toBe(true);
  });
});

/** An admin API that answers from a script; records every call. */
function fakeEnv(answer: (method: string, path: string) => unknown): { env: ProbeEnv; calls: string[] } {
  const calls: string[] = [];
  const admin: ProbeAdmin = {
    send: async ({ method, path }) => {
      calls.push(`${method} ${path}`);
      const out = answer(method, path);
      if (out instanceof Error) throw out;
      return out;
    },
  };
  const env: ProbeEnv = {
    publicUrl: 'http://gateway.test',
    admin,
    fetch: async () => {
      throw new Error('no network in unit tests');
    },
    now: Date.now,
    sleep: async () => {},
    requestTimeoutMs: 1_000,
    billingTimeoutMs: 1_000,
    pollIntervalMs: 10,
  };
  return { env, calls };
}

describe('SignUp', () => {
  it('deletes the account it created when creating the key fails, so no failure leaves an account', async () => {
    const { env, calls } = fakeEnv((method, path) => {
      if (path === '/admin/accounts') {
        return { account: { id: 'acct_1', balanceMicros: 100_000 }, apiKey: { id: 'key_0', key: KEY } };
      }
      if (path.endsWith('/keys')) return Object.assign(new Error('Internal error.'), { status: 500 });
      if (method === 'DELETE') return { deleted: true };
      return undefined;
    });
    const error = await signUp(env, { startedAt: new Date().toISOString(), steps: [] }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProbeStepError);
    expect((error as ProbeStepError).message).toBe(
      'admin API: Internal error.; the account was deleted again',
    );
    expect(calls).toEqual([
      'POST /admin/accounts',
      'POST /admin/accounts/acct_1/keys',
      'DELETE /admin/accounts/acct_1',
    ]);
  });
});

describe('Complete', () => {
  const catalog = { catalog: { tiers: { 'tier-1': { models: [{ id: 'openai/gpt-4o-mini' }] } } } };
  /** A gateway that answers every tier, and tier-auto on `autoTier` with `route` as its x-tier-route. */
  const gateway =
    (autoTier: string, route: string | undefined): typeof fetch =>
    async (_url, init) => {
      const request = JSON.parse(String(init?.body)) as { model: string; stream?: boolean };
      const tier = request.model === 'tier-auto' ? autoTier : request.model;
      const requestId = `req${Math.random().toString(36).slice(2, 10)}`;
      const id = `chatcmpl-${requestId}`;
      const headers: Record<string, string> = { 'x-tier': tier, 'x-request-id': requestId };
      if (request.model === 'tier-auto' && route !== undefined) headers['x-tier-route'] = route;
      if (request.stream) {
        headers['content-type'] = 'text/event-stream';
        const stream = sse(
          chunk({ id, model: tier }),
          chunk({ id, model: tier, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
          chunk({
            id,
            model: tier,
            choices: [],
            usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
          }),
          '[DONE]',
        );
        return new Response(stream, { status: 200, headers });
      }
      return Response.json(completion({ id, model: tier }), { status: 200, headers });
    };
  const run = (answer: typeof fetch) => {
    const { env } = fakeEnv(() => catalog);
    env.fetch = answer;
    return complete(env, { startedAt: '2026-01-01T00:00:00.000Z', steps: [], apiKey: KEY });
  };

  it("asks every tier and tier-auto, and takes the tier tier-auto names as the answer's tier", async () => {
    const state = await run(gateway('tier-3', 'auto; model:0.82'));
    expect(state.requestIds).toHaveLength(6);
    expect(state.steps.at(-1)).toMatchObject({ name: 'Complete', passed: true });
  });

  it('fails when tier-auto was served without its router, or says nothing of its route or tier', async () => {
    await expect(run(gateway('tier-2', 'auto; fallback'))).rejects.toThrow(
      'tier-auto non-streaming completion: tier-auto served by its fallback tier (the router did not load)',
    );
    await expect(run(gateway('tier-2', undefined))).rejects.toThrow(
      'tier-auto non-streaming completion: header x-tier-route is not an auto route',
    );
    await expect(run(gateway('tier-auto', 'auto; rule:tools'))).rejects.toThrow(
      /^tier-auto non-streaming completion: header x-tier names no tier/,
    );
  });

  it('reads an auto route by its form', () => {
    expect(autoRouteProblems('auto; rule:tools')).toEqual([]);
    expect(autoRouteProblems('auto; llm:tier-3')).toEqual([]);
    expect(autoRouteProblems('auto;')).toEqual(['header x-tier-route is not an auto route']);
    expect(autoRouteProblems('shadow; model:0.5')).toEqual(['header x-tier-route is not an auto route']);
  });
});

describe('probe task (the Lambda handler logic)', () => {
  const state = { startedAt: '2026-01-01T00:00:00.000Z', steps: [] };

  it('refuses an event that is not a probe task', async () => {
    const task = createProbeTask({
      env: () => fakeEnv(() => undefined).env,
      log: { info() {}, warn() {}, error() {} },
      probeSucceeded: () => {},
    });
    await expect(task({ step: 'deploy', state })).rejects.toMatchObject({ name: 'InvalidProbeTask' });
    await expect(task({ step: 'signUp' })).rejects.toMatchObject({ name: 'InvalidProbeTask' });
  });

  it('throws a failed step as ProbeStepFailed with its timing, for the Catch', async () => {
    const task = createProbeTask({
      env: () =>
        fakeEnv(() => Object.assign(new Error('Missing or wrong admin token.'), { status: 401 })).env,
      log: { info() {}, warn() {}, error() {} },
      probeSucceeded: () => {},
    });
    const error = (await task({ step: 'signUp', state }).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('ProbeStepFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      step: 'SignUp',
      ms: expect.any(Number),
      error: 'admin API: Missing or wrong admin token.',
    });
  });

  it('publishes ProbeSuccess 1 for a recorded pass, 0 for a failure, when recording fails or stores nothing', async () => {
    const published: boolean[] = [];
    const make = (recordAnswer: unknown) =>
      createProbeTask({
        env: () => fakeEnv(() => recordAnswer).env,
        log: { info() {}, warn() {}, error() {} },
        probeSucceeded: (passed) => published.push(passed),
      });
    const passedState = {
      startedAt: new Date(Date.now() - 1_000).toISOString(),
      steps: ['SignUp', 'Complete', 'Messages', 'VerifyBilling', 'Cleanup'].map((name) => ({
        name,
        passed: true,
        ms: 1,
      })),
    };
    await expect(make({ recorded: true })({ step: 'record', state: passedState })).resolves.toMatchObject({
      passed: true,
    });
    await expect(
      make({ recorded: true })({ step: 'record', state: { ...passedState, failedStep: 'Complete' } }),
    ).resolves.toMatchObject({ passed: false, failingStep: 'Complete' });
    await expect(
      make(Object.assign(new Error('unavailable'), { status: 503 }))({ step: 'record', state: passedState }),
    ).rejects.toThrow('unavailable');
    // A pass not stored (a run that finished later was) is not what /health shows: as the local runner counts it.
    await expect(make({ recorded: false })({ step: 'record', state: passedState })).resolves.toMatchObject({
      passed: true,
    });
    expect(published).toEqual([true, false, false, false]);
  });
});

describe('npm run probe (argument handling)', () => {
  it('refuses unknown flags and a deployed URL without its admin URL, with usage errors (exit 2)', async () => {
    expect(await probeCli(['--bogus'], {})).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Usage/),
    });
    expect(await probeCli(['--url', 'https://abc123.lambda-url.eu-west-1.on.aws/'], {})).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--admin-url is required/),
    });
  });

  it('needs an admin token for a local admin API', async () => {
    expect(await probeCli(['--url', 'http://127.0.0.1:1'], {})).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/admin token is needed.*TIERGATE_ADMIN_TOKEN/),
    });
  });

  it('targets the local runtime that TIERGATE_ADMIN_URL or PORT names, not 8787', async () => {
    expect(await probeCli([], { PORT: '4321' })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('admin API at http://127.0.0.1:4321/admin '),
    });
    expect(
      await probeCli([], { PORT: '4321', TIERGATE_ADMIN_URL: 'http://127.0.0.1:5555/admin/' }),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('admin API at http://127.0.0.1:5555/admin '),
    });
    expect(
      await probeCli([], { TIERGATE_ADMIN_URL: 'https://abc123.lambda-url.eu-west-1.on.aws/' }),
    ).toMatchObject({ code: 2, stderr: expect.stringMatching(/--url is required for a deployed stack/) });
  });

  it('prints the usage for --help', async () => {
    expect(await probeCli(['--help'], {})).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/--admin-url/),
    });
  });
});
