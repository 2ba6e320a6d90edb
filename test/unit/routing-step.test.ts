import { describe, expect, it, vi } from 'vitest';
import { compileCatalog } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceTokens } from '../../shared/domain/money.js';
import { silentLog } from '../../shared/http.js';
import type { ParsedRequest } from '../../shared/lifecycle/dialect.js';
import { Routing } from '../../shared/lifecycle/routing.js';
import type { Upstream, UpstreamRequest } from '../../shared/ports.js';
import { excerptOf, settle } from '../../shared/routing/escalation.js';
import { type RouteDecision, Router } from '../../shared/routing/router.js';
import { fixedModel, input } from '../support/routing-helpers.js';

/** The routing step: tier-auto, shadow mode and the optional tier-1 escalation, with a fake upstream. */

const catalogWith = (auto: Record<string, unknown> | undefined) =>
  compileCatalog(
    { ...structuredClone(DEFAULT_CATALOG), ...(auto ? { auto } : {}) },
    1,
    '2026-01-01T00:00:00Z',
  );

const request = (over: Partial<ParsedRequest> = {}): ParsedRequest => ({
  tier: 'tier-2',
  auto: true,
  routeInput: () => input({ prompt: 'what now' }),
  stream: false,
  choices: 1,
  requestedMaxTokens: undefined,
  mediaParts: 0,
  inlineMediaBytes: 0,
  mediaTokenBound: 0,
  toolPromptTokens: 0,
  ...over,
});

/** An upstream that answers every call with `content` after `delayMs`, recording the calls. */
function llm(content: string, delayMs = 0) {
  const calls: UpstreamRequest[] = [];
  const upstream: Upstream = {
    send: (req, signal) =>
      new Promise((resolve, reject) => {
        calls.push(req);
        const timer = setTimeout(
          () =>
            resolve({
              ok: true,
              text: async () =>
                JSON.stringify({
                  choices: [{ message: { content } }],
                  usage: { prompt_tokens: 300, completion_tokens: 1 },
                }),
              events: async function* () {},
            }),
          delayMs,
        );
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('aborted'));
        });
      }),
  };
  return { upstream, calls };
}

// Most likely tier-1 but with too much mass above it: the classifier goes up to tier-2, ambiguous.
const ambiguous = new Router(fixedModel([1, 0.5, 0.2, 0], { maxDownRisk: 0.35 }));

describe('the routing step', () => {
  it('leaves explicit tiers alone when shadow mode is off', async () => {
    const { upstream } = llm('1');
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    expect(
      await routing.route(request({ auto: false, tier: 'tier-3' }), catalogWith(undefined), 'r', true),
    ).toEqual({
      tier: 'tier-3',
    });
  });

  it('records the decision without changing the tier in shadow mode', async () => {
    const { upstream, calls } = llm('1');
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    const routed = await routing.route(
      request({ auto: false, tier: 'tier-3' }),
      catalogWith({ shadow: true, escalation: { timeoutMs: 500 } }),
      'r',
      true,
    );
    expect(routed).toMatchObject({
      tier: 'tier-3',
      route: { requested: 'tier-3', chosen: 'tier-2', mode: 'shadow' },
    });
    expect(routed.header).toBeUndefined();
    expect(calls).toHaveLength(0); // shadow mode never spends on escalation
  });

  it('serves tier-auto at the default tier while the router cannot be loaded, and loads it again next time', async () => {
    const { upstream } = llm('1');
    let loads = 0;
    const routing = new Routing({
      upstream,
      loadRouter: async () => {
        loads++;
        if (loads === 1) throw new Error('chunk not found');
        return ambiguous;
      },
      log: silentLog,
      now: Date.now,
    });
    const first = await routing.route(request(), catalogWith(undefined), 'r', true);
    expect(first).toMatchObject({ tier: 'tier-2', header: 'auto; fallback', route: { reason: 'fallback' } });
    const second = await routing.route(request(), catalogWith(undefined), 'r', true);
    expect(second.header).toMatch(/^auto; model:/);
    expect(loads).toBe(2);
  });

  it('does not escalate unless the catalog turns it on', async () => {
    const { upstream, calls } = llm('1');
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    const routed = await routing.route(request(), catalogWith(undefined), 'r', true);
    expect(routed).toMatchObject({ tier: 'tier-2', header: expect.stringMatching(/^auto; model:/) });
    expect(calls).toHaveLength(0);
  });

  it('lets a tier-1 model settle an ambiguous case, and records its time and cost', async () => {
    const { upstream, calls } = llm('1');
    const catalog = catalogWith({ escalation: { timeoutMs: 1_000 } });
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    const routed = await routing.route(request(), catalog, 'r', true);
    expect(routed).toMatchObject({ tier: 'tier-1', header: 'auto; llm:tier-1' });
    const model = catalog.tiers['tier-1'].models[0];
    expect(calls[0]?.body.model).toBe(model?.id);
    expect(routed.route?.escalation).toMatchObject({
      outcome: 'ok',
      upstreamCostMicros: model ? priceTokens(model.cost, 300, 1) : -1,
    });
  });

  it('keeps the classifier upward answer when the escalation times out, and never escalates past a tripped guardrail', async () => {
    const { upstream } = llm('1', 5_000);
    const catalog = catalogWith({ escalation: { timeoutMs: 50 } });
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    const routed = await routing.route(request(), catalog, 'r', true);
    expect(routed.tier).toBe('tier-2');
    // A call given up may still be billed for its prompt: the spend recorded is its upper bound.
    expect(routed.route?.escalation).toMatchObject({ outcome: 'timeout' });
    expect(routed.route?.escalation?.upstreamCostMicros).toBeGreaterThan(0);
    const { upstream: unused, calls } = llm('1');
    const tripped = await new Routing({
      router: ambiguous,
      upstream: unused,
      log: silentLog,
      now: Date.now,
    }).route(request(), catalog, 'r', false);
    expect(tripped.tier).toBe('tier-2');
    expect(calls).toHaveLength(0);
  });

  it('does not escalate to a model whose circuit is open, nor past the request deadline', async () => {
    const catalog = catalogWith({ escalation: { timeoutMs: 1_000 } });
    const { upstream, calls } = llm('1');
    const open = new Routing({
      router: ambiguous,
      upstream,
      breaker: { allows: () => false },
      log: silentLog,
      now: Date.now,
    });
    expect((await open.route(request(), catalog, 'r', true)).tier).toBe('tier-2');
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    expect((await routing.route(request(), catalog, 'r', true, Date.now() - 1)).tier).toBe('tier-2');
    expect(calls).toHaveLength(0);
    // With 30 ms left of the request, the call gives up then, not at the catalog's 1 s. The
    // clock is a fake one, so this reads when the call was abandoned, not how fast a machine is.
    vi.useFakeTimers();
    try {
      const { upstream: slow } = llm('1', 5_000);
      const late = new Routing({ router: ambiguous, upstream: slow, log: silentLog, now: () => Date.now() });
      const pending = late.route(request(), catalog, 'r', true, Date.now() + 30);
      let settled = false;
      void pending.then(() => {
        settled = true;
      });
      await vi.advanceTimersByTimeAsync(29);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      const routed = await pending;
      expect(routed.tier).toBe('tier-2');
      expect(routed.route?.escalation?.outcome).toBe('timeout');
      expect(routed.route?.escalation?.ms).toBe(30);
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts the prompt of an escalation whose answer could not be read, and nothing for a refused call', async () => {
    const catalog = catalogWith({ escalation: { timeoutMs: 1_000 } });
    const replying = (reply: Awaited<ReturnType<Upstream['send']>>): Upstream => ({
      send: async () => reply,
    });
    const garbled = new Routing({
      router: ambiguous,
      upstream: replying({ ok: true, text: async () => 'not json', events: async function* () {} }),
      log: silentLog,
      now: Date.now,
    });
    const unread = await garbled.route(request(), catalog, 'r', true);
    expect(unread.tier).toBe('tier-2');
    expect(unread.route?.escalation?.outcome).toBe('unparsed');
    expect(unread.route?.escalation?.upstreamCostMicros).toBeGreaterThan(0);
    const refusing = new Routing({
      router: ambiguous,
      upstream: replying({ ok: false, failure: { kind: 'unavailable', outcome: 'status_503' } }),
      log: silentLog,
      now: Date.now,
    });
    const refused = await refusing.route(request(), catalog, 'r', true);
    expect(refused.route?.escalation).toMatchObject({ outcome: 'failed', upstreamCostMicros: 0 });
  });

  it('shows the escalation model the request itself, however long the system prompt', () => {
    const excerpt = excerptOf({ system: 's'.repeat(10_000), prompt: 'Prove Fermat for n = 3.' });
    expect(excerpt.length).toBeLessThanOrEqual(2_000);
    expect(excerpt.endsWith('Prove Fermat for n = 3.')).toBe(true);
    expect(excerptOf({ system: '', prompt: 'p'.repeat(5_000) })).toBe('p'.repeat(2_000));
  });

  it('keeps an escalation answer within the rules floor', async () => {
    const { upstream } = llm('1');
    const routing = new Routing({ router: ambiguous, upstream, log: silentLog, now: Date.now });
    const routed = await routing.route(
      request({ routeInput: () => input({ tools: true }) }),
      catalogWith({ escalation: { timeoutMs: 1_000 } }),
      'r',
      true,
    );
    expect(routed).toMatchObject({ tier: 'tier-2', header: 'auto; rule:tools' });
  });

  it('lets an escalation settle between the most likely tier and the upward one, never below either', () => {
    const decision: RouteDecision = {
      tier: 'tier-3',
      reason: 'model:0.40',
      confidence: 0.4,
      ambiguous: true,
      likely: 'tier-2',
    };
    expect(settle(decision, 'tier-2')).toEqual({ tier: 'tier-2', reason: 'llm:tier-2' });
    expect(settle(decision, 'tier-4')).toEqual({ tier: 'tier-4', reason: 'llm:tier-4' });
    // Below the classifier's most likely tier: that tier, and the classifier's reason.
    expect(settle(decision, 'tier-1')).toEqual({ tier: 'tier-2', reason: 'model:0.40' });
    // A rule's floor above both: the floor, named.
    const floored = { ...decision, likely: 'tier-1', floor: 'tier-2', floorRule: 'media' } as const;
    expect(settle(floored, 'tier-1')).toEqual({ tier: 'tier-2', reason: 'rule:media' });
  });
});
