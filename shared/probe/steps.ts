import * as z from 'zod/v4';
import { segment } from '../admin-client/client.js';
import { isTierId, TIER_IDS, type TierId } from '../domain/catalog.js';
import { usdToMicros } from '../domain/money.js';
import { AUTO_TIER } from '../routing/auto.js';
import {
  autoRouteProblems,
  checkCompletion,
  checkStream,
  PROBE_TIER,
  parseSse,
  requestIdOf,
} from './checks.js';
import type { ProbeEnv } from './env.js';
import { completeMessages } from './messages-step.js';
import { probeResult, saveProbeResult } from './outcome.js';
import type { ProbeResult } from './result.js';
import { type ProbeState, ProbeStepError } from './state.js';
import {
  type CallResult,
  callPublicApi,
  catalogLeakTerms,
  describeFailure,
  failedCall,
  gatewayHeaderProblems,
  need,
  noAnswer,
  PROBE_MAX_COMPLETION_TOKENS,
  PROBE_PROMPT,
  statusOf,
  type Timer,
  timer,
} from './step-kit.js';

export {
  asTaskFailure,
  failedStepResult,
  probeResult,
  saveProbeResult,
  taskErrorOf,
} from './outcome.js';
export {
  initialState,
  type ProbeAccount,
  type ProbeState,
  ProbeStepError,
  probeStateSchema,
  type TaskError,
} from './state.js';
export { PROBE_MAX_COMPLETION_TOKENS } from './step-kit.js';

/**
 * The probe's steps. Each takes the state the previous one returned and returns it extended, or throws a
 * ProbeStepError; the state machine (and `runProbe`, its local twin) threads the state from task to task.
 */

/** Credit of the throwaway account: covers the hold of each of its small requests (they run one at a time) at any sane price. */
export const PROBE_CREDIT_USD = 0.1;

const createdAccount = z.object({
  account: z.object({ id: z.string().min(1), balanceMicros: z.number() }),
  apiKey: z.object({ id: z.string(), key: z.string() }),
});
const createdKey = z.object({ id: z.string().min(1), key: z.string().min(1) });

/**
 * SignUp: through the admin API, a throwaway account with a small credit, then a key of its own. If anything
 * fails once the account exists, the account is deleted before the step fails, so no failure leaves one behind.
 */
export async function signUp(env: ProbeEnv, state: ProbeState): Promise<ProbeState> {
  const t = timer(env, 'SignUp');
  const creditMicros = usdToMicros(PROBE_CREDIT_USD) ?? 0;
  let accountId: string | undefined;
  try {
    const created = createdAccount.safeParse(
      await env.admin.send({
        method: 'POST',
        path: '/admin/accounts',
        body: { name: `tiergate-probe ${state.startedAt}`, creditUsd: PROBE_CREDIT_USD },
      }),
    );
    if (!created.success) throw t.fail('creating the account: the answer is not an account with a key');
    accountId = created.data.account.id;
    if (created.data.account.balanceMicros !== creditMicros) {
      throw t.fail(
        `the new account holds ${created.data.account.balanceMicros} micro-USD, not ${creditMicros}`,
      );
    }
    const key = createdKey.safeParse(
      await env.admin.send({
        method: 'POST',
        path: `/admin/accounts/${segment(accountId)}/keys`,
        body: { name: 'probe' },
      }),
    );
    if (!key.success) throw t.fail('creating the key: the answer is not a key');
    return {
      ...state,
      account: { id: accountId, keyId: key.data.id, creditMicros },
      apiKey: key.data.key,
      steps: [...state.steps, t.pass()],
    };
  } catch (err) {
    const failure = err instanceof ProbeStepError ? err : t.fail(`admin API: ${describeFailure(err)}`, err);
    if (accountId === undefined) throw failure;
    const undone = await deleteAccount(env, accountId).then(
      () => 'the account was deleted again',
      (deleteErr: unknown) => `deleting account ${accountId} failed too: ${describeFailure(deleteErr)}`,
    );
    throw t.fail(`${failure.message}; ${undone}`, err);
  }
}

async function deleteAccount(env: ProbeEnv, accountId: string): Promise<void> {
  try {
    await env.admin.send({ method: 'DELETE', path: `/admin/accounts/${segment(accountId)}` });
  } catch (err) {
    // Already gone (e.g. a retried cleanup): that is what we wanted.
    if (statusOf(err) !== 404) throw err;
  }
}

/** What Complete asks for: a tier, or tier-auto, which must say which tier served it and why. */
type ProbeModel = TierId | typeof AUTO_TIER;

/**
 * Complete: through the public Function URL, a tier-1 completion, plain and streamed, then a plain one on every
 * other tier, so a broken model on any tier fails the probe, and one on tier-auto, so a router that did not load
 * (every auto request then served by the default tier) fails it too. Each must conform to the OpenAI shapes, carry
 * usage, answer, name only its tier, and show no upstream model or provider anywhere.
 */
export async function complete(env: ProbeEnv, state: ProbeState): Promise<ProbeState> {
  const t = timer(env, 'Complete');
  const apiKey = need(state.apiKey, 'the probe key', 'Complete');
  const terms = await catalogLeakTerms(env, t);
  const calls: Array<{ model: ProbeModel; mode: 'non-streaming' | 'streaming' }> = [
    { model: PROBE_TIER, mode: 'non-streaming' },
    { model: PROBE_TIER, mode: 'streaming' },
    ...TIER_IDS.filter((tier) => tier !== PROBE_TIER).map((tier) => ({
      model: tier,
      mode: 'non-streaming' as const,
    })),
    { model: AUTO_TIER, mode: 'non-streaming' },
  ];
  const requestIds: string[] = [];
  for (const { model, mode } of calls) {
    const request = {
      model,
      messages: [{ role: 'user', content: PROBE_PROMPT }],
      max_completion_tokens: PROBE_MAX_COMPLETION_TOKENS,
    };
    const body =
      mode === 'streaming' ? { ...request, stream: true, stream_options: { include_usage: true } } : request;
    // The tier-1 calls keep their names; the others are named by their model.
    const label = model === PROBE_TIER ? mode : `${model} ${mode}`;
    let result: CallResult;
    try {
      result = await callPublicApi(env, '/v1/chat/completions', { authorization: `Bearer ${apiKey}` }, body);
    } catch (err) {
      throw t.fail(`${label} completion: no answer (${noAnswer(err)})`, err);
    }
    if (result.status !== 200) throw t.fail(`${label} completion: ${failedCall(result)}`);
    const problems: string[] = [];
    let tier: TierId;
    if (model === AUTO_TIER) {
      const served = result.headers.get('x-tier') ?? '';
      tier = isTierId(served) ? served : PROBE_TIER;
      if (!isTierId(served)) problems.push('header x-tier names no tier');
      problems.push(...autoRouteProblems(result.headers.get('x-tier-route')));
    } else {
      tier = model;
    }
    problems.push(...gatewayHeaderProblems(result, terms, tier));
    let responseId: unknown;
    if (mode === 'streaming') {
      if (!result.headers.get('content-type')?.includes('text/event-stream')) {
        problems.push('content-type is not text/event-stream');
      }
      problems.push(...checkStream(result.text, terms));
      const parsed = parseSse(result.text);
      responseId = typeof parsed === 'string' ? undefined : (parsed.chunks[0] as { id?: unknown } | null)?.id;
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(result.text);
      } catch {
        throw t.fail(`${label} completion: the body is not JSON`);
      }
      problems.push(...checkCompletion(parsed, terms, tier));
      responseId = (parsed as { id?: unknown } | null)?.id;
    }
    const requestId = result.headers.get('x-request-id') ?? '';
    if (requestIdOf(responseId) !== requestId) problems.push('the id does not carry the x-request-id');
    if (problems.length > 0) throw t.fail(`${label} completion: ${problems.join('; ')}`);
    requestIds.push(requestId);
  }
  return { ...state, requestIds, steps: [...state.steps, t.pass()] };
}

const requestLog = z.object({
  requests: z.array(
    z
      .object({
        requestId: z.string(),
        chargeMicros: z.number().int(),
        status: z.string(),
        surface: z.string().optional(),
        inputTokens: z.number().int().optional(),
        outputTokens: z.number().int().optional(),
      })
      .loose(),
  ),
});
const accountView = z.object({ balanceMicros: z.number().int(), heldMicros: z.number().int() });

/**
 * VerifyBilling: polls (bounded by `billingTimeoutMs`) until the request log holds an item for each of the
 * probe's requests and no hold is open, then checks that the wallet went down by exactly their charges, and
 * that the Messages request is logged as one and was billed on the usage its client was told.
 */
export async function verifyBilling(env: ProbeEnv, state: ProbeState): Promise<ProbeState> {
  const t = timer(env, 'VerifyBilling');
  const account = need(state.account, 'the probe account', 'VerifyBilling');
  const requestIds = need(state.requestIds, 'the request ids', 'VerifyBilling');
  const deadline = env.now() + env.billingTimeoutMs;
  let waitingFor = 'nothing yet';
  for (;;) {
    let accountLog: z.infer<typeof requestLog>['requests'];
    let logged: z.infer<typeof requestLog>['requests'];
    let wallet: z.infer<typeof accountView>;
    try {
      const log = requestLog.parse(
        await env.admin.send({
          method: 'GET',
          path: '/admin/requests',
          query: { accountId: account.id, limit: 100 },
        }),
      );
      accountLog = log.requests;
      logged = log.requests.filter((item) => requestIds.includes(item.requestId));
      wallet = accountView.parse(
        await env.admin.send({ method: 'GET', path: `/admin/accounts/${segment(account.id)}` }),
      );
    } catch (err) {
      throw t.fail(`admin API: ${describeFailure(err)}`, err);
    }
    if (logged.length === requestIds.length && wallet.heldMicros === 0) {
      const notOk = logged.filter((item) => item.status !== 'ok');
      if (notOk.length > 0) throw t.fail(`${notOk.length} request(s) were logged as ${notOk[0]?.status}`);
      // Every request of the throwaway account: a step that Step Functions ran again after a Lambda service
      // error may have made requests whose ids it lost, and their charges are as real as the others'.
      const charges = accountLog.reduce((sum, item) => sum + item.chargeMicros, 0);
      const decrease = account.creditMicros - wallet.balanceMicros;
      if (decrease !== charges) {
        throw t.fail(
          `the wallet went down by ${decrease} micro-USD but the account's requests were charged ${charges}`,
        );
      }
      if (state.messages) messagesBillingProblem(state.messages, logged, t);
      return { ...state, steps: [...state.steps, t.pass()] };
    }
    waitingFor =
      logged.length < requestIds.length
        ? `${logged.length} of ${requestIds.length} request-log items`
        : `${wallet.heldMicros} micro-USD still held`;
    if (env.now() + env.pollIntervalMs > deadline) break;
    await env.sleep(env.pollIntervalMs);
  }
  throw t.fail(`billing did not settle within ${Math.round(env.billingTimeoutMs / 1000)} s: ${waitingFor}`);
}

/** Throws when the Messages request's log item is not a Messages one, or bills other counts than it reported. */
function messagesBillingProblem(
  reported: NonNullable<ProbeState['messages']>,
  logged: z.infer<typeof requestLog>['requests'],
  t: Timer,
): void {
  const item = logged.find((i) => i.requestId === reported.requestId);
  if (item?.surface !== 'messages') throw t.fail('the Messages request is not logged as a Messages request');
  if (item.inputTokens !== reported.inputTokens || item.outputTokens !== reported.outputTokens) {
    throw t.fail(
      `the Messages request was billed on ${item.inputTokens}/${item.outputTokens} input/output tokens ` +
        `but its client was told ${reported.inputTokens}/${reported.outputTokens}`,
    );
  }
  if (item.chargeMicros <= 0) throw t.fail('the Messages request was charged nothing');
}

/** Cleanup: deletes the probe account, its keys and wallet, and checks it is gone. Runs on every path. */
export async function cleanup(env: ProbeEnv, state: ProbeState): Promise<ProbeState> {
  const t = timer(env, 'Cleanup');
  const { apiKey: _dropped, ...rest } = state;
  if (state.account) {
    try {
      await deleteAccount(env, state.account.id);
    } catch (err) {
      throw t.fail(`deleting account ${state.account.id}: ${describeFailure(err)}`, err);
    }
    const gone = await env.admin
      .send({ method: 'GET', path: `/admin/accounts/${segment(state.account.id)}` })
      .then(
        () => false,
        (err: unknown) => statusOf(err) === 404,
      );
    if (!gone) throw t.fail(`account ${state.account.id} still exists after its deletion`);
  }
  return { ...rest, steps: [...state.steps, t.pass()] };
}

/**
 * The run's result from the final state, saved; `recorded` is false when a run that finished later
 * was already stored (this one is then not what /health shows).
 */
export async function recordRun(
  env: ProbeEnv,
  state: ProbeState,
): Promise<{ result: ProbeResult; recorded: boolean }> {
  const result = probeResult(state, env.now());
  return { result, recorded: await saveProbeResult(env, result) };
}

/** Record: the run's result from the final state, saved. */
export async function record(env: ProbeEnv, state: ProbeState): Promise<ProbeResult> {
  return (await recordRun(env, state)).result;
}

/** The tasks of the state machine, by the `step` of their event. */
export const PROBE_TASKS = {
  signUp,
  complete,
  messages: completeMessages,
  verifyBilling,
  cleanup,
  record,
} as const;
export type ProbeTaskName = keyof typeof PROBE_TASKS;
