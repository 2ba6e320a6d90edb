// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { describe, expect, it } from 'vitest';
import { estimateOutputTokens } from '../../shared/lifecycle/estimate.js';
import {
  demoUpstream,
  jsonFrames,
  marker,
  readSse,
  upstreamRequestsWith,
  waitFor,
} from '../support/e2e-helpers.js';
import {
  attemptsUpstream,
  books,
  CREDIT,
  contentOf,
  expectCompleteStream,
  expectErrorResponse,
  expectFallback,
  expectTruncatedStream,
  inject,
  post,
  primaryOf,
  requestIdOf,
  runtime,
  say,
  secondaryOf,
  TTFT_MS,
  useFaultRuntime,
} from '../support/fault-runtime.js';
import { createAccount } from '../support/money-helpers.js';
import { assertValid, validateCompletion } from '../support/openai-schema.js';

/**
 * Every fault the demo upstream can inject, end to end: the request is served by a fallback model,
 * or it fails with the right code; either way the books balance afterwards. Each test uses a fresh
 * account, so its wallet decrease must equal the sum of its request-log charges exactly.
 *
 * The circuit breaker is per process and opens a model at half failures over five samples, so the
 * faults are spread over the four tiers and every primary is warmed with successes first.
 */

useFaultRuntime();

describe('a 500 on the first model', () => {
  const tier = 'tier-2';

  it('is served by the fallback, streaming or not, and billed once at the tier price', async () => {
    const account = await createAccount(runtime, 'status-500', CREDIT);
    inject({ kind: 'status', status: 500 }, { model: primaryOf(tier) });

    const tag = marker();
    const res = await post(account, { model: tier, messages: say(`${tag} tokens:5`) });
    expect(res.status).toBe(200);
    const completion = assertValid(validateCompletion, (await res.json()) as { model: string });
    expect(completion.model).toBe(tier);
    expect(attemptsUpstream(tag)).toEqual([
      { model: primaryOf(tier), fault: 'status' },
      { model: secondaryOf(tier), fault: undefined },
    ]);

    const streamTag = marker();
    const streamRes = await post(account, {
      model: tier,
      stream: true,
      messages: say(`${streamTag} tokens:5`),
    });
    const sse = await readSse(streamRes);
    expectCompleteStream(sse, tier);
    expect(contentOf(sse)).toHaveLength(5);
    expect(attemptsUpstream(streamTag).map((a) => a.model)).toEqual([primaryOf(tier), secondaryOf(tier)]);

    const log = await books(account, [requestIdOf(res), requestIdOf(streamRes)]);
    for (const item of log.values()) {
      expectFallback(item, tier, 'status_500');
      expect(item.usageSource).toBe('upstream');
      expect(item.chargeMicros).toBeGreaterThan(0);
    }
  });
});

describe('a 429 with retry-after from the upstream', () => {
  const tier = 'tier-3';

  it('is served by the fallback, and the upstream retry-after is not forwarded', async () => {
    const account = await createAccount(runtime, 'status-429', CREDIT);
    inject({ kind: 'status', status: 429, retryAfterSeconds: 30 }, { model: primaryOf(tier) });

    const res = await post(account, { model: tier, messages: say(`${marker()} tokens:4`) });
    expect(res.status).toBe(200);
    expect((assertValid(validateCompletion, await res.json()) as { model: string }).model).toBe(tier);
    const streamRes = await post(account, {
      model: tier,
      stream: true,
      messages: say(`${marker()} tokens:4`),
    });
    expectCompleteStream(await readSse(streamRes), tier);
    for (const r of [res, streamRes]) {
      expect(r.headers.get('retry-after')).toBeNull();
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBeNull();
    }

    const log = await books(account, [requestIdOf(res), requestIdOf(streamRes)]);
    for (const item of log.values()) expectFallback(item, tier, 'status_429');
  });

  it('is a 502 upstream_error, not a 429, when every model is rate limited; nothing is charged', async () => {
    const account = await createAccount(runtime, 'status-429-all', CREDIT);
    inject({ kind: 'status', status: 429, retryAfterSeconds: 30 });
    const tag = marker();
    const res = await post(account, { model: tier, messages: say(tag) });
    expect(res.headers.get('retry-after')).toBeNull();
    await expectErrorResponse(res, 502, 'upstream_error');
    expect(attemptsUpstream(tag).map((a) => a.model)).toEqual([primaryOf(tier), secondaryOf(tier)]);

    const item = (await books(account, [requestIdOf(res)])).get(requestIdOf(res));
    expect(item).toMatchObject({ status: 'upstream_error', errorCode: 'upstream_error', chargeMicros: 0 });
    expect(item?.attempts?.map((a) => a.outcome)).toEqual(['status_429', 'status_429']);
  });
});

describe('a hang before the first token', () => {
  const tier = 'tier-1';

  it('times out within the tier TTFT and is served by the fallback; the hung attempt is abandoned', async () => {
    const account = await createAccount(runtime, 'hang', CREDIT);
    inject({ kind: 'hang' }, { model: primaryOf(tier) });

    const tag = marker();
    const started = performance.now();
    const res = await post(account, { model: tier, messages: say(`${tag} tokens:3`) });
    expect(res.status).toBe(200);
    await res.json();
    expect(performance.now() - started).toBeGreaterThanOrEqual(TTFT_MS * 0.9);
    const streamTag = marker();
    const streamRes = await post(account, {
      model: tier,
      stream: true,
      messages: say(`${streamTag} tokens:3`),
    });
    expectCompleteStream(await readSse(streamRes), tier);

    for (const t of [tag, streamTag]) {
      const [hung, served] = upstreamRequestsWith(runtime, t);
      expect([hung?.model, hung?.fault, served?.model]).toEqual([primaryOf(tier), 'hang', secondaryOf(tier)]);
      // The gateway closed the hung connection instead of leaving it open.
      await waitFor(() => hung?.aborted === true, { what: 'the hung upstream request to be aborted' });
    }
    const log = await books(account, [requestIdOf(res), requestIdOf(streamRes)]);
    for (const item of log.values()) expectFallback(item, tier, 'timeout');
  });

  it('is a 504 upstream_timeout before the first byte when every model hangs; nothing is charged', async () => {
    const account = await createAccount(runtime, 'hang-all', CREDIT);
    inject({ kind: 'hang' });
    const res = await post(account, { model: tier, messages: say(marker()) });
    await expectErrorResponse(res, 504, 'upstream_timeout');
    // A stream that never started can still get a real status code.
    const streamRes = await post(account, { model: tier, stream: true, messages: say(marker()) });
    await expectErrorResponse(streamRes, 504, 'upstream_timeout');

    const log = await books(account, [requestIdOf(res), requestIdOf(streamRes)]);
    for (const item of log.values()) {
      expect(item).toMatchObject({ status: 'timeout', errorCode: 'upstream_timeout', chargeMicros: 0 });
      expect(item.attempts?.map((a) => [a.model, a.outcome])).toEqual([
        [primaryOf(tier), 'timeout'],
        [secondaryOf(tier), 'timeout'],
      ]);
    }
  });
});

describe('a disconnect', () => {
  const tier = 'tier-4';

  it('mid-stream ends the stream with an error frame and no [DONE], and bills the forwarded part', async () => {
    const account = await createAccount(runtime, 'disconnect-stream', CREDIT);
    // Paced, so the cut comes after the gateway has committed to the first model and begun forwarding.
    demoUpstream(runtime).setPacing({ tokensPerSecond: 20 });
    inject({ kind: 'disconnect', afterChunks: 3 }, { model: primaryOf(tier), times: 1 });
    const tag = marker();
    const res = await post(account, { model: tier, stream: true, messages: say(`${tag} tokens:20`) });
    const sse = await readSse(res);
    expectTruncatedStream(sse, tier, 'upstream_error');
    const content = contentOf(sse);
    expect(content).toHaveLength(3);
    expect(attemptsUpstream(tag)).toEqual([{ model: primaryOf(tier), fault: 'disconnect' }]);

    const item = (await books(account, [requestIdOf(res)])).get(requestIdOf(res));
    expect(item).toMatchObject({
      status: 'upstream_error',
      errorCode: 'upstream_error',
      model: primaryOf(tier),
      usageSource: 'estimated',
      // The estimate of exactly what the client received.
      outputTokens: await estimateOutputTokens(content.join('')),
    });
    expect(item?.chargeMicros).toBeGreaterThan(0);
  });

  it('before a non-streaming body arrives is served by the fallback', async () => {
    const account = await createAccount(runtime, 'disconnect-body', CREDIT);
    inject({ kind: 'disconnect', afterChunks: 0 }, { model: primaryOf(tier), times: 1 });
    const tag = marker();
    const res = await post(account, { model: tier, messages: say(`${tag} tokens:4`) });
    expect(res.status).toBe(200);
    expect((assertValid(validateCompletion, await res.json()) as { model: string }).model).toBe(tier);
    expect(attemptsUpstream(tag).map((a) => a.model)).toEqual([primaryOf(tier), secondaryOf(tier)]);
    expectFallback(
      (await books(account, [requestIdOf(res)])).get(requestIdOf(res)),
      tier,
      'connection_error',
    );
  });
});

describe('malformed SSE', () => {
  const tier = 'tier-4';

  it('after the first token ends the stream with an error frame and no [DONE], billing what was forwarded', async () => {
    const account = await createAccount(runtime, 'malformed-stream', CREDIT);
    inject({ kind: 'malformed-sse' }, { model: primaryOf(tier), times: 1 });
    const tag = marker();
    const res = await post(account, { model: tier, stream: true, messages: say(`${tag} tokens:10`) });
    const sse = await readSse(res);
    expectTruncatedStream(sse, tier, 'upstream_error');
    // The unparseable frame itself never reaches the client.
    expect(sse.text).not.toContain('not json');
    const content = contentOf(sse);
    expect(content).toHaveLength(1);

    const item = (await books(account, [requestIdOf(res)])).get(requestIdOf(res));
    expect(item).toMatchObject({
      status: 'upstream_error',
      model: primaryOf(tier),
      usageSource: 'estimated',
      outputTokens: await estimateOutputTokens(content.join('')),
    });
    expect(item?.chargeMicros).toBeGreaterThan(0);
  });

  it('as an unparseable non-streaming body is served by the fallback', async () => {
    const account = await createAccount(runtime, 'malformed-body', CREDIT);
    inject({ kind: 'malformed-sse' }, { model: primaryOf(tier), times: 1 });
    const res = await post(account, { model: tier, messages: say(`${marker()} tokens:4`) });
    expect(res.status).toBe(200);
    expect((assertValid(validateCompletion, await res.json()) as { model: string }).model).toBe(tier);
    expectFallback(
      (await books(account, [requestIdOf(res)])).get(requestIdOf(res)),
      tier,
      'malformed_response',
    );
  });
});

describe('a missing usage block', () => {
  const tier = 'tier-2';

  it('is served, with usage estimated for the client and the bill alike', async () => {
    const account = await createAccount(runtime, 'no-usage', CREDIT);
    inject({ kind: 'no-usage' }, { model: primaryOf(tier), times: 3 });

    const res = await post(account, { model: tier, messages: say(`${marker()} tokens:6`) });
    expect(res.status).toBe(200);
    const completion = assertValid(validateCompletion, await res.json()) as {
      usage: { prompt_tokens: number; completion_tokens: number };
    };

    const withUsage = await post(account, {
      model: tier,
      stream: true,
      stream_options: { include_usage: true },
      messages: say(`${marker()} tokens:6`),
    });
    const sseWithUsage = await readSse(withUsage);
    expectCompleteStream(sseWithUsage, tier);
    const usageChunk = jsonFrames(sseWithUsage).find((f) => f.usage) as
      | { usage: { prompt_tokens: number; completion_tokens: number } }
      | undefined;
    expect(usageChunk).toBeDefined();

    const without = await post(account, { model: tier, stream: true, messages: say(`${marker()} tokens:6`) });
    const sseWithout = await readSse(without);
    expectCompleteStream(sseWithout, tier);
    expect(jsonFrames(sseWithout).some((f) => f.usage)).toBe(false);

    const log = await books(account, [requestIdOf(res), requestIdOf(withUsage), requestIdOf(without)]);
    for (const item of log.values()) {
      expect(item).toMatchObject({ status: 'ok', model: primaryOf(tier), usageSource: 'estimated' });
      expect(item.outputTokens).toBeGreaterThan(0);
      expect(item.chargeMicros).toBeGreaterThan(0);
    }
    // What the client was told is what it was billed for.
    for (const [r, usage] of [
      [res, completion.usage],
      [withUsage, usageChunk?.usage],
    ] as const) {
      const item = log.get(requestIdOf(r));
      expect([usage?.prompt_tokens, usage?.completion_tokens]).toEqual([
        item?.inputTokens,
        item?.outputTokens,
      ]);
    }
  });
});

describe('a slow trickle', () => {
  const tier = 'tier-3';

  it('is still served completely, the stream chunk by chunk as the tokens arrive', async () => {
    const account = await createAccount(runtime, 'slow', CREDIT);
    inject({ kind: 'slow', tokensPerSecond: 20 }, { model: primaryOf(tier), times: 2 });

    const res = await post(account, { model: tier, stream: true, messages: say(`${marker()} tokens:6`) });
    const sse = await readSse(res);
    expectCompleteStream(sse, tier);
    const contentFrames = sse.frames.filter((f) => /"content":"[^"]/.test(f.data));
    expect(contentFrames).toHaveLength(6);
    // Six tokens at 20/s span 250 ms upstream; forwarded as they came, not buffered to the end.
    const first = contentFrames[0]?.at ?? 0;
    const last = contentFrames.at(-1)?.at ?? 0;
    expect(last - first).toBeGreaterThanOrEqual(0.6 * 250);

    const body = await post(account, { model: tier, messages: say(`${marker()} tokens:6`) });
    expect(body.status).toBe(200);
    const completion = assertValid(validateCompletion, await body.json()) as {
      choices: Array<{ message: { content: string }; finish_reason: string }>;
    };
    expect(completion.choices[0]?.message.content.trim().split(/\s+/)).toHaveLength(6);
    expect(completion.choices[0]?.finish_reason).toBe('stop');

    const log = await books(account, [requestIdOf(res), requestIdOf(body)]);
    for (const item of log.values()) {
      expect(item).toMatchObject({
        status: 'ok',
        model: primaryOf(tier),
        usageSource: 'upstream',
        outputTokens: 6,
      });
      expect(item.attempts).toBeUndefined();
    }
  });
});
