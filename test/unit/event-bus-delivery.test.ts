import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../local/event-bus.js';
import { LOCAL_ACCOUNT_ID, type PutEventsEntry } from '../../local/put-events.js';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE } from '../../shared/domain/usage.js';
import { type RuleDefinition, USAGE_RULES } from '../../shared/events/rules.js';
import { entry, makeBus, recorder, UUID, useLocalBuses } from '../support/local-event-bus.js';

/** LocalEventBus delivery: routing, retries, dead letters, faults, redrive, target switches and concurrency. */

useLocalBuses();

describe('LocalEventBus routing and delivery', () => {
  it('routes each event to the targets whose rule pattern matches', async () => {
    const billing = recorder();
    const guardrail = recorder();
    const bus = makeBus({ billing: billing.target, guardrail: guardrail.target });

    const result = await bus.putEvents([
      entry({ status: 'ok', n: 1 }),
      entry({ status: 'timeout', n: 2 }),
      entry({ status: 'ok', n: 3 }, { Source: 'somebody.else' }),
    ]);
    await bus.drain();

    expect(result.FailedEntryCount).toBe(0);
    expect(billing.calls.map((e) => e.detail)).toEqual([{ status: 'ok', n: 1 }]);
    expect(guardrail.calls.map((e) => e.detail)).toEqual([{ status: 'timeout', n: 2 }]);
    const [first, second] = result.Entries;
    expect(bus.delivered).toEqual(
      expect.arrayContaining([
        { rule: 'OkOnly', eventId: first?.EventId },
        { rule: 'Failures', eventId: second?.EventId },
      ]),
    );
    expect(bus.delivered).toHaveLength(2);
    expect(bus.deadLetters).toEqual([]);
  });

  it('delivers a usage.recorded event to both the billing and the guardrail rule of USAGE_RULES', async () => {
    const billing = recorder();
    const guardrail = recorder();
    const bus = makeBus({ billing: billing.target, guardrail: guardrail.target }, {}, USAGE_RULES);

    const result = await bus.putEvents([
      { Source: USAGE_SOURCE, DetailType: USAGE_DETAIL_TYPE, Detail: JSON.stringify({ requestId: 'r1' }) },
      { Source: USAGE_SOURCE, DetailType: 'something.else', Detail: '{}' },
    ]);
    await bus.drain();

    const eventId = result.Entries[0]?.EventId;
    expect(billing.calls.map((e) => e.id)).toEqual([eventId]);
    expect(guardrail.calls.map((e) => e.id)).toEqual([eventId]);
    expect(bus.delivered.map((d) => d.rule).sort()).toEqual(['BillingUsage', 'GuardrailUsage']);
  });

  it('returns from putEvents before any target runs, and drain waits for the deliveries', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    const result = await bus.putEvents([entry()]);
    expect(result.Entries[0]?.EventId).toMatch(UUID);
    expect(billing.calls).toHaveLength(0);
    expect(bus.delivered).toHaveLength(0);

    await bus.drain();
    expect(billing.calls).toHaveLength(1);
    expect(bus.delivered).toHaveLength(1);
  });

  it('hands targets the event EventBridge would build from the entry', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    const result = await bus.putEvents([
      entry(
        { status: 'ok', nested: { a: [1, 2] } },
        { Time: new Date('2025-03-04T05:06:07.890Z'), Resources: ['arn:aws:x:1'] },
      ),
    ]);
    await bus.drain();

    expect(billing.calls).toEqual([
      {
        version: '0',
        id: result.Entries[0]?.EventId,
        'detail-type': 'usage.recorded',
        source: 'tiergate',
        account: LOCAL_ACCOUNT_ID,
        time: '2025-03-04T05:06:07Z',
        region: process.env.AWS_REGION,
        resources: ['arn:aws:x:1'],
        detail: { status: 'ok', nested: { a: [1, 2] } },
      },
    ]);
  });

  it('stamps the PutEvents time, to the second, when the entry has none', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });
    const before = Math.floor(Date.now() / 1000) * 1000;

    await bus.putEvents([entry()]);
    await bus.drain();
    const after = Date.now();

    const time = billing.calls[0]?.time ?? '';
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(time)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(time)).toBeLessThanOrEqual(after);
    expect(billing.calls[0]?.resources).toEqual([]);
  });

  it('gives every target invocation its own copy of the event', async () => {
    const both: RuleDefinition[] = [
      { id: 'A', description: 'a', target: 'billing', pattern: { source: ['tiergate'] } },
      { id: 'B', description: 'b', target: 'guardrail', pattern: { source: ['tiergate'] } },
    ];
    const billing = recorder((event) => {
      (event.detail as { status: string }).status = 'mutated by billing';
    });
    const guardrail = recorder();
    const bus = makeBus({ billing: billing.target, guardrail: guardrail.target }, { retryDelayMs: 0 }, both);

    await bus.putEvents([entry({ status: 'ok' })]);
    await bus.drain();

    expect(billing.calls).toHaveLength(1);
    expect(guardrail.calls.map((e) => e.detail)).toEqual([{ status: 'ok' }]);
  });

  it('does not deliver to a rule that has no target, and does not dead-letter it either', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    await bus.putEvents([entry({ status: 'ok' }), entry({ status: 'timeout' })]);
    await bus.drain();

    expect(billing.calls).toHaveLength(1);
    expect(bus.delivered.map((d) => d.rule)).toEqual(['OkOnly']);
    expect(bus.deadLetters).toEqual([]);
  });

  it('drain also waits for events that targets publish while it waits', async () => {
    const guardrail = recorder();
    let bus: LocalEventBus | undefined;
    const billing = recorder(async () => {
      await bus?.putEvents([entry({ status: 'follow-up' })]);
    });
    bus = makeBus({ billing: billing.target, guardrail: guardrail.target });

    await bus.putEvents([entry({ status: 'ok' })]);
    await bus.drain();

    expect(billing.calls).toHaveLength(1);
    expect(guardrail.calls.map((e) => e.detail)).toEqual([{ status: 'follow-up' }]);
  });
});

describe('LocalEventBus retries and dead letters', () => {
  it('retries a throwing target until it succeeds', async () => {
    const billing = recorder((_event, call) => {
      if (call < 3) throw new Error(`transient failure ${call}`);
    });
    const bus = makeBus({ billing: billing.target }, { maxAttempts: 4, retryDelayMs: 0 });

    const result = await bus.putEvents([entry()]);
    await bus.drain();

    const eventId = result.Entries[0]?.EventId;
    expect(billing.calls.map((e) => e.id)).toEqual([eventId, eventId, eventId]);
    expect(bus.delivered).toEqual([{ rule: 'OkOnly', eventId }]);
    expect(bus.deadLetters).toEqual([]);
  });

  it('dead-letters a delivery that fails maxAttempts times, with the last error', async () => {
    const billing = recorder((_event, call) => {
      throw new Error(`failure ${call}`);
    });
    const guardrail = recorder();
    const bus = makeBus(
      { billing: billing.target, guardrail: guardrail.target },
      { maxAttempts: 3, retryDelayMs: 0 },
    );

    const result = await bus.putEvents([entry({ status: 'ok' }), entry({ status: 'timeout' })]);
    await bus.drain();

    const [okId, timeoutId] = result.Entries.map((e) => e.EventId);
    expect(billing.calls).toHaveLength(3);
    expect(bus.deadLetters).toHaveLength(1);
    expect(bus.deadLetters[0]).toMatchObject({
      rule: 'OkOnly',
      error: 'failure 3',
      event: { id: okId, source: 'tiergate', detail: { status: 'ok' } },
    });
    // The other rule's target is unaffected by the failing one.
    expect(bus.delivered).toEqual([{ rule: 'Failures', eventId: timeoutId }]);
    expect(guardrail.calls).toHaveLength(1);
  });

  it('makes 4 attempts by default', async () => {
    const billing = recorder(() => {
      throw new Error('always');
    });
    const bus = makeBus({ billing: billing.target }, {});

    await bus.putEvents([entry()]);
    await bus.drain();

    expect(billing.calls).toHaveLength(4);
    expect(bus.deadLetters.map((d) => d.error)).toEqual(['always']);
  });

  it('records a thrown non-Error value as text', async () => {
    const billing = recorder(() => {
      throw 'plain string failure';
    });
    const bus = makeBus({ billing: billing.target }, { maxAttempts: 1, retryDelayMs: 0 });

    await bus.putEvents([entry()]);
    await bus.drain();

    expect(bus.deadLetters.map((d) => d.error)).toEqual(['plain string failure']);
  });

  it.each([0, 1.5, Number.NaN])('refuses maxAttempts %s', (maxAttempts) => {
    expect(() => makeBus({}, { maxAttempts })).toThrow(/maxAttempts/);
  });

  it.each([-1, Number.POSITIVE_INFINITY])('refuses retryDelayMs %s', (retryDelayMs) => {
    expect(() => makeBus({}, { retryDelayMs })).toThrow(/retryDelayMs/);
  });
});

describe('LocalEventBus delivery faults', () => {
  it('duplicate delivers every event twice', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target }, { retryDelayMs: 0, faults: { duplicate: true } });

    const result = await bus.putEvents([entry()]);
    await bus.drain();

    const eventId = result.Entries[0]?.EventId;
    expect(billing.calls.map((e) => e.id)).toEqual([eventId, eventId]);
    expect(bus.delivered).toEqual([
      { rule: 'OkOnly', eventId },
      { rule: 'OkOnly', eventId },
    ]);
  });

  it('dropFirstAttempt fails the first attempt without invoking the target, and the retry delivers', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target }, { retryDelayMs: 0, faults: { dropFirstAttempt: true } });

    const result = await bus.putEvents([entry()]);
    await bus.drain();

    expect(billing.calls).toHaveLength(1);
    expect(bus.delivered).toEqual([{ rule: 'OkOnly', eventId: result.Entries[0]?.EventId }]);
    expect(bus.deadLetters).toEqual([]);
  });

  it('dropFirstAttempt with a single attempt dead-letters the event', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target }, { maxAttempts: 1, retryDelayMs: 0 });
    bus.setFaults({ dropFirstAttempt: true });

    await bus.putEvents([entry()]);
    await bus.drain();

    expect(billing.calls).toHaveLength(0);
    expect(bus.deadLetters.map((d) => d.error)).toEqual([
      expect.stringMatching(/first delivery attempt dropped/),
    ]);
  });

  it('faults apply to events accepted while they are set', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    bus.setFaults({ duplicate: true });
    await bus.putEvents([entry({ status: 'ok', n: 1 })]);
    bus.setFaults({});
    await bus.putEvents([entry({ status: 'ok', n: 2 })]);
    await bus.drain();

    expect(billing.calls.map((e) => (e.detail as { n: number }).n).sort()).toEqual([1, 1, 2]);
  });
});

describe('LocalEventBus failing targets and redrive', () => {
  it('failTargets dead-letters every event of those targets, and redrive delivers them again once', async () => {
    const billing = recorder();
    const guardrail = recorder();
    const bus = makeBus(
      { billing: billing.target, guardrail: guardrail.target },
      { maxAttempts: 2, retryDelayMs: 0, faults: { failTargets: ['billing'] } },
      USAGE_RULES,
    );
    const usage: PutEventsEntry = {
      Source: USAGE_SOURCE,
      DetailType: USAGE_DETAIL_TYPE,
      Detail: JSON.stringify({ requestId: 'r1' }),
    };
    const result = await bus.putEvents([usage]);
    await bus.drain();
    const eventId = result.Entries[0]?.EventId;
    expect(billing.calls).toEqual([]);
    expect(guardrail.calls).toHaveLength(1);
    expect(bus.deadLetters).toEqual([
      expect.objectContaining({ rule: 'BillingUsage', error: expect.stringMatching(/injected/) }),
    ]);

    bus.setFaults({});
    expect(bus.redrive('BillingUsage')).toBe(1);
    await bus.drain();
    expect(billing.calls.map((e) => e.id)).toEqual([eventId]);
    expect(guardrail.calls).toHaveLength(1); // only the redriven rule's target
    expect(bus.deadLetters).toEqual([]);
    expect(bus.redrive('BillingUsage')).toBe(0);
    expect(() => bus.redrive('NoSuchRule')).toThrow(/NoSuchRule/);
  });
});

describe('LocalEventBus target switch', () => {
  it('drops events for a disabled target, keeps delivering to the others, and resumes once re-enabled', async () => {
    const billing = recorder();
    const guardrail = recorder();
    const bus = makeBus({ billing: billing.target, guardrail: guardrail.target }, {}, USAGE_RULES);
    const usage = (requestId: string): PutEventsEntry => ({
      Source: USAGE_SOURCE,
      DetailType: USAGE_DETAIL_TYPE,
      Detail: JSON.stringify({ requestId }),
    });

    bus.setTargetEnabled('billing', false);
    await bus.putEvents([usage('while-off')]);
    await bus.drain();
    expect(billing.calls).toEqual([]);
    expect(guardrail.calls.map((e) => e.detail)).toEqual([{ requestId: 'while-off' }]);
    // Dropped, as by a disabled rule: not retried, not dead-lettered, not delivered later.
    expect(bus.deadLetters).toEqual([]);

    bus.setTargetEnabled('billing', true);
    await bus.putEvents([usage('after')]);
    await bus.drain();
    expect(billing.calls.map((e) => e.detail)).toEqual([{ requestId: 'after' }]);
    expect(guardrail.calls).toHaveLength(2);
  });

  it('does not affect an event accepted before the target was disabled', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    await bus.putEvents([entry()]);
    bus.setTargetEnabled('billing', false);
    await bus.drain();
    expect(billing.calls).toHaveLength(1);
  });
});

describe('LocalEventBus concurrency', () => {
  it('runs at most maxConcurrentInvocations targets at once and still delivers every event', async () => {
    let running = 0;
    let peak = 0;
    const bus = new LocalEventBus(
      USAGE_RULES,
      {
        billing: async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        },
      },
      { maxConcurrentInvocations: 3 },
    );
    for (let i = 0; i < 4; i++) {
      await bus.putEvents(
        Array.from({ length: 5 }, () => ({
          Source: USAGE_SOURCE,
          DetailType: USAGE_DETAIL_TYPE,
          Detail: '{"a":1}',
        })),
      );
    }
    await bus.drain();
    expect(peak).toBe(3);
    expect(bus.delivered).toHaveLength(20);
  });
});
