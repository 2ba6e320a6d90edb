import {
  EventBridgeClient,
  InternalException,
  ListRulesCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { ABORT_MARGIN_MS } from '../../infra/constructs/chat-api.js';
import { eventBridgeClientFor, MAX_ENTRY_BYTES, type PutEventsEntry } from '../../local/put-events.js';
import {
  EventBridgeUsagePublisher,
  PUBLISH_TIMEOUT_MS,
  type PutEventsSender,
} from '../../shared/adapters/usage-publisher.js';
import type { RuleDefinition } from '../../shared/events/rules.js';
import { ESTIMATE_BUDGET_MS } from '../../shared/lifecycle/lifecycle.js';
import { entry, makeBus, recorder, STATUS_RULES, UUID, useLocalBuses } from '../support/local-event-bus.js';
import { usageRecord } from '../support/money-helpers.js';

/** The LocalEventBus interface: putEvents validation, construction, and the EventBridge client in front of it. */

useLocalBuses();

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

describe('EventBridgeUsagePublisher', () => {
  it('gives up on a PutEvents that does not answer in time, so the request can still write its outbox', async () => {
    let signal: AbortSignal | undefined;
    const hanging: PutEventsSender = {
      send: (_command, options) =>
        new Promise((_resolve, reject) => {
          signal = options?.abortSignal;
          signal?.addEventListener('abort', () => reject(signal?.reason));
        }),
    };
    const publisher = new EventBridgeUsagePublisher(hanging, 'bus', 20);
    await expect(publisher.publish(usageRecord())).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(signal?.aborted).toBe(true);
    // A request cut off at its deadline estimates its input, publishes, then writes its outbox, all
    // within the function's abort margin (a second is left for the outbox write).
    expect(ESTIMATE_BUDGET_MS + PUBLISH_TIMEOUT_MS + 1_000).toBeLessThanOrEqual(ABORT_MARGIN_MS);
  });
});
