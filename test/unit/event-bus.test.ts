import {
  EventBridgeClient,
  InternalException,
  ListRulesCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BusEvent,
  type EventTarget,
  eventBridgeClientFor,
  LOCAL_ACCOUNT_ID,
  LocalEventBus,
  type LocalEventBusOptions,
  MAX_ENTRY_BYTES,
  type PutEventsEntry,
  type PutEventsSender,
} from '../../local/event-bus.js';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE } from '../../shared/domain/usage.js';
import { type RuleDefinition, USAGE_RULES } from '../../shared/events/rules.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Routes by detail.status: ok → billing, anything else → guardrail. */
const STATUS_RULES: RuleDefinition[] = [
  {
    id: 'OkOnly',
    description: 'successful requests',
    target: 'billing',
    pattern: { source: ['tiergate'], detail: { status: ['ok'] } },
  },
  {
    id: 'Failures',
    description: 'failed requests',
    target: 'guardrail',
    pattern: { source: ['tiergate'], detail: { status: [{ 'anything-but': 'ok' }] } },
  },
];

interface Recorder {
  calls: BusEvent[];
  target: EventTarget;
}

/** A target that records every invocation, then runs `behaviour` (which may throw) with the 1-based call number. */
function recorder(behaviour?: (event: BusEvent, call: number) => void | Promise<void>): Recorder {
  const calls: BusEvent[] = [];
  return {
    calls,
    target: async (event) => {
      calls.push(event);
      await behaviour?.(event, calls.length);
    },
  };
}

function entry(detail: unknown = { status: 'ok' }, overrides: Partial<PutEventsEntry> = {}): PutEventsEntry {
  return { Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify(detail), ...overrides };
}

const buses: LocalEventBus[] = [];

function makeBus(
  targets: ConstructorParameters<typeof LocalEventBus>[1],
  options: LocalEventBusOptions = { retryDelayMs: 0 },
  rules: readonly RuleDefinition[] = STATUS_RULES,
): LocalEventBus {
  const bus = new LocalEventBus(rules, targets, options);
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  // No test leaves retries running into the next one.
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

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

describe('LocalEventBus.putEvents validation', () => {
  const sourceAndType = Buffer.byteLength('tiergate') + Buffer.byteLength('usage.recorded');
  /** A JSON object string of exactly `bytes` bytes. */
  const detailOfSize = (bytes: number) => `{"p":"${'x'.repeat(bytes - 8)}"}`;

  const invalid: Array<[name: string, entry: PutEventsEntry, errorCode: string, message: RegExp]> = [
    ['missing Source', { DetailType: 'usage.recorded', Detail: '{}' }, 'InvalidArgument', /Source/],
    ['empty Source', entry({}, { Source: '' }), 'InvalidArgument', /Source/],
    ['missing DetailType', { Source: 'tiergate', Detail: '{}' }, 'InvalidArgument', /DetailType/],
    ['missing Detail', { Source: 'tiergate', DetailType: 'usage.recorded' }, 'InvalidArgument', /Detail/],
    ['Detail that is not JSON', entry({}, { Detail: '{"a":' }), 'MalformedDetail', /not valid JSON/],
    ['Detail that is a JSON array', entry({}, { Detail: '[1,2]' }), 'MalformedDetail', /JSON object/],
    ['Detail that is JSON null', entry({}, { Detail: 'null' }), 'MalformedDetail', /JSON object/],
    ['Detail that is a JSON string', entry({}, { Detail: '"text"' }), 'MalformedDetail', /JSON object/],
    ['an AWS source', entry({}, { Source: 'aws.ec2' }), 'NotAuthorizedForSourceException', /aws\.ec2/],
    ['an invalid Time', entry({}, { Time: new Date('not a date') }), 'InvalidArgument', /Time/],
    [
      'a non-string resource',
      entry({}, { Resources: [1 as unknown as string] }),
      'InvalidArgument',
      /Resources/,
    ],
    [
      'an entry over 256 KB',
      entry({}, { Detail: detailOfSize(MAX_ENTRY_BYTES - sourceAndType + 1) }),
      'InvalidArgument',
      /exceeds the 262144-byte limit/,
    ],
  ];

  it.each(invalid)(
    'reports %s and still accepts the valid entries',
    async (_name, bad, errorCode, message) => {
      const billing = recorder();
      const bus = makeBus({ billing: billing.target });

      const result = await bus.putEvents([entry({ status: 'ok', n: 1 }), bad, entry({ status: 'ok', n: 2 })]);
      await bus.drain();

      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries).toHaveLength(3);
      expect(result.Entries[0]?.EventId).toMatch(UUID);
      expect(result.Entries[1]).toEqual({
        ErrorCode: errorCode,
        ErrorMessage: expect.stringMatching(message),
      });
      expect(result.Entries[1]?.EventId).toBeUndefined();
      expect(result.Entries[2]?.EventId).toMatch(UUID);
      expect(billing.calls.map((e) => (e.detail as { n: number }).n).sort()).toEqual([1, 2]);
    },
  );

  it('accepts an entry of exactly 256 KB, counting Source, DetailType, Time and Resources', async () => {
    const bus = makeBus({});
    const fits = detailOfSize(MAX_ENTRY_BYTES - sourceAndType);
    const withExtras = detailOfSize(MAX_ENTRY_BYTES - sourceAndType - 14 - 3);

    const result = await bus.putEvents([
      entry({}, { Detail: fits }),
      entry({}, { Detail: withExtras, Time: new Date(), Resources: ['abc'] }),
      entry({}, { Detail: withExtras, Time: new Date(), Resources: ['abcd'] }),
    ]);

    expect(result.Entries.map((e) => e.ErrorCode)).toEqual([undefined, undefined, 'InvalidArgument']);
    expect(result.FailedEntryCount).toBe(1);
  });

  it('counts every invalid entry', async () => {
    const bus = makeBus({});
    const result = await bus.putEvents([entry({}, { Detail: 'x' }), entry({}, { Source: '' }), entry()]);
    expect(result.FailedEntryCount).toBe(2);
    expect(result.Entries.map((e) => e.ErrorCode)).toEqual(['MalformedDetail', 'InvalidArgument', undefined]);
  });

  it('accepts 10 entries but rejects a request of 11 or of none, delivering nothing', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    await expect(bus.putEvents(Array.from({ length: 11 }, () => entry()))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await expect(bus.putEvents([])).rejects.toMatchObject({ name: 'ValidationException' });
    await bus.drain();
    expect(billing.calls).toHaveLength(0);

    const result = await bus.putEvents(Array.from({ length: 10 }, () => entry()));
    await bus.drain();
    expect(result.FailedEntryCount).toBe(0);
    expect(billing.calls).toHaveLength(10);
    expect(new Set(result.Entries.map((e) => e.EventId)).size).toBe(10);
  });

  it('setFailPutEvents makes putEvents reject like a PutEvents outage until it is cleared', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });

    bus.setFailPutEvents(true);
    const failure = bus.putEvents([entry()]);
    await expect(failure).rejects.toBeInstanceOf(InternalException);
    await expect(failure).rejects.toMatchObject({ name: 'InternalException', $fault: 'server' });
    await bus.drain();
    expect(billing.calls).toHaveLength(0);

    bus.setFailPutEvents(false);
    await bus.putEvents([entry()]);
    await bus.drain();
    expect(billing.calls).toHaveLength(1);
  });

  it('close finishes the deliveries under way, then refuses new events', async () => {
    const billing = recorder((_event, call) => {
      if (call === 1) throw new Error('retry me');
    });
    const bus = makeBus({ billing: billing.target });

    await bus.putEvents([entry()]);
    await bus.close();

    expect(billing.calls).toHaveLength(2);
    expect(bus.delivered).toHaveLength(1);
    await expect(bus.putEvents([entry()])).rejects.toThrow(/closed/);
  });
});

describe('LocalEventBus construction', () => {
  it('refuses a rule with an invalid pattern, naming the rule', () => {
    const rules: RuleDefinition[] = [
      { id: 'Broken', description: 'x', target: 'billing', pattern: { source: 'tiergate' } },
    ];
    expect(() => makeBus({}, {}, rules)).toThrow(/Rule "Broken": Invalid event pattern at source/);
  });

  it('refuses duplicate rule ids', () => {
    const rule = STATUS_RULES[0];
    if (rule === undefined) throw new Error('fixture missing');
    expect(() => makeBus({}, {}, [rule, rule])).toThrow(/Duplicate rule id "OkOnly"/);
  });
});

describe('eventBridgeClientFor', () => {
  it('sends a PutEventsCommand to the local bus and returns the PutEvents result', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });
    const client = eventBridgeClientFor(bus);

    const output = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify({ status: 'ok' }) },
          { Source: 'tiergate', DetailType: 'usage.recorded', Detail: 'not json' },
        ],
      }),
    );
    await bus.drain();

    expect(output.FailedEntryCount).toBe(1);
    expect(output.Entries?.[0]?.EventId).toMatch(UUID);
    expect(output.Entries?.[1]?.ErrorCode).toBe('MalformedDetail');
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(billing.calls.map((e) => e.id)).toEqual([output.Entries?.[0]?.EventId]);
  });

  it('serves code written against the EventBridgeClient interface', async () => {
    const billing = recorder();
    const bus = makeBus({ billing: billing.target });
    // The same function runs against a real client in AWS; tsc checks a real client fits the same type.
    const publish = async (client: PutEventsSender, status: string) => {
      const out = await client.send(
        new PutEventsCommand({
          Entries: [{ Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify({ status }) }],
        }),
      );
      return out.FailedEntryCount;
    };
    const real: PutEventsSender = new EventBridgeClient({ region: 'us-east-1' });
    expect(typeof real.send).toBe('function');

    expect(await publish(eventBridgeClientFor(bus), 'ok')).toBe(0);
    await bus.drain();
    expect(billing.calls).toHaveLength(1);
  });

  it('propagates a PutEvents failure as a rejection', async () => {
    const bus = makeBus({});
    bus.setFailPutEvents(true);
    const client = eventBridgeClientFor(bus);

    await expect(
      client.send(new PutEventsCommand({ Entries: [{ Source: 'tiergate', DetailType: 'x', Detail: '{}' }] })),
    ).rejects.toBeInstanceOf(InternalException);
  });

  it('rejects commands other than PutEventsCommand', async () => {
    const client = eventBridgeClientFor(makeBus({}));
    await expect(client.send(new ListRulesCommand({}) as unknown as PutEventsCommand)).rejects.toThrow(
      /only supports PutEventsCommand/,
    );
  });

  it('rejects a PutEventsCommand with no entries, as EventBridge does', async () => {
    const client = eventBridgeClientFor(makeBus({}));
    await expect(client.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
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
