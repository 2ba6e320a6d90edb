import { describe, expect, it } from 'vitest';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../../shared/domain/usage.js';
import { usageRecordSchema } from '../../shared/domain/usage-schema.js';
import { compilePattern, matchesPattern, validatePattern } from '../../shared/events/pattern-matcher.js';
import { type EventPattern, USAGE_RULES } from '../../shared/events/rules.js';
import { event } from '../support/pattern-cases.js';

/** Pattern validation, and the usage rules the gateway publishes. */

describe('validatePattern', () => {
  const invalid: Array<[name: string, pattern: unknown, message: RegExp]> = [
    ['pattern is not an object', ['tiergate'], /must be a JSON object/],
    ['pattern is null', null, /must be a JSON object/],
    ['empty pattern', {}, /empty objects are not allowed/],
    ['empty nested object', { detail: {} }, /at detail: empty objects/],
    ['string leaf', { source: 'tiergate' }, /at source: .*array of match values.*got string/],
    ['number leaf', { detail: { n: 5 } }, /at detail\.n: .*got number/],
    ['null leaf', { detail: { n: null } }, /at detail\.n: .*got null/],
    ['boolean leaf', { detail: { n: true } }, /got boolean/],
    ['empty array', { source: [] }, /empty arrays are not allowed/],
    ['nested array value', { source: [['a']] }, /at source\[0\]: .*got array/],
    ['non-finite number', { detail: { n: [Number.NaN] } }, /finite/],
    ['unknown operator', { source: [{ contains: 'x' }] }, /unknown operator "contains"/],
    [
      'unsupported cidr operator',
      { ip: [{ cidr: '10.0.0.0/24' }] },
      /"cidr" is valid in EventBridge but not supported/,
    ],
    ['two operators in one object', { source: [{ prefix: 'a', suffix: 'b' }] }, /exactly one key, got 2/],
    ['operator object with no key', { source: [{}] }, /exactly one key, got 0/],
    ['prefix not a string', { source: [{ prefix: 5 }] }, /"prefix" takes a string/],
    [
      'prefix with an unsupported modifier',
      { source: [{ prefix: { wildcard: 'a*' } }] },
      /does not support "wildcard"/,
    ],
    ['suffix not a string', { source: [{ suffix: ['a'] }] }, /"suffix" takes a string/],
    ['equals-ignore-case not a string', { source: [{ 'equals-ignore-case': 1 }] }, /takes a string/],
    ['exists not a boolean', { source: [{ exists: 'true' }] }, /"exists" takes true or false/],
    ['wildcard not a string', { source: [{ wildcard: 1 }] }, /"wildcard" takes a string/],
    ['wildcard with consecutive stars', { source: [{ wildcard: 'a**b' }] }, /consecutive wildcard/],
    ['wildcard with a bad escape', { source: [{ wildcard: 'a\\b' }] }, /backslash may only escape/],
    ['wildcard ending in a backslash', { source: [{ wildcard: 'a\\' }] }, /backslash may only escape/],
    ['numeric not an array', { n: [{ numeric: 5 }] }, /"numeric" takes/],
    ['numeric with three elements', { n: [{ numeric: ['>', 0, '<'] }] }, /"numeric" takes/],
    ['numeric with an unknown operator', { n: [{ numeric: ['!=', 0] }] }, /unknown numeric operator "!="/],
    ['numeric with a string bound', { n: [{ numeric: ['>', '0'] }] }, /needs a finite number/],
    [
      'numeric with an infinite bound',
      { n: [{ numeric: ['<', Number.POSITIVE_INFINITY] }] },
      /finite number/,
    ],
    [
      'numeric range with two lower bounds',
      { n: [{ numeric: ['>', 0, '>=', 5] }] },
      /lower bound .* followed by/,
    ],
    [
      'numeric range written upper first',
      { n: [{ numeric: ['<', 5, '>', 0] }] },
      /lower bound .* followed by/,
    ],
    ['numeric range with "="', { n: [{ numeric: ['=', 1, '<', 5] }] }, /lower bound .* followed by/],
    ['numeric range that is empty', { n: [{ numeric: ['>', 5, '<', 5] }] }, /must be below the upper bound/],
    ['anything-but boolean', { s: [{ 'anything-but': true }] }, /"anything-but" takes/],
    ['anything-but null', { s: [{ 'anything-but': null }] }, /"anything-but" takes/],
    [
      'anything-but empty list',
      { s: [{ 'anything-but': [] }] },
      /non-empty array of only strings or only numbers/,
    ],
    ['anything-but mixed list', { s: [{ 'anything-but': ['a', 1] }] }, /only strings or only numbers/],
    [
      'anything-but unknown modifier',
      { s: [{ 'anything-but': { numeric: ['>', 1] } }] },
      /does not support "numeric"/,
    ],
    [
      'anything-but object with two keys',
      { s: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] },
      /exactly one key/,
    ],
    ['anything-but empty prefix', { s: [{ 'anything-but': { prefix: '' } }] }, /must not be empty/],
    ['anything-but bad wildcard', { s: [{ 'anything-but': { wildcard: '**' } }] }, /consecutive wildcard/],
    ['$or not an array', { $or: { a: ['1'] } }, /"\$or" must be an array of at least two/],
    ['$or with one alternative', { $or: [{ a: ['1'] }] }, /at least two/],
    [
      '$or with a non-object',
      { $or: [{ a: ['1'] }, ['b']] },
      /\$or\[1\]: a "\$or" element must be an object/,
    ],
    ['$or with an empty alternative', { $or: [{ a: ['1'] }, {}] }, /empty objects are not allowed/],
    ['error deep inside $or', { detail: { $or: [{ a: ['1'] }, { b: 'x' }] } }, /at detail\.\$or\[1\]\.b:/],
  ];
  it.each(invalid)('rejects %s', (_name, pattern, message) => {
    expect(() => validatePattern(pattern as EventPattern)).toThrow(message);
  });

  it.each(invalid)('matchesPattern also refuses %s', (_name, pattern, message) => {
    expect(() => matchesPattern(pattern as EventPattern, event({}))).toThrow(message);
  });

  const valid: Array<[name: string, pattern: EventPattern]> = [
    ['exact values of every JSON type', { detail: { a: ['x', 1, true, false, null, ''] } }],
    [
      'every supported operator',
      {
        detail: {
          a: [{ prefix: 'x' }, { suffix: 'y' }, { 'equals-ignore-case': 'z' }, { wildcard: 'a*b\\*c\\\\' }],
          b: [{ numeric: ['>=', 0, '<', 1] }, { numeric: ['=', 2] }, { exists: false }],
          c: [
            { 'anything-but': ['a', 'b'] },
            { 'anything-but': [1, 2] },
            { 'anything-but': { suffix: '.x' } },
          ],
          d: [{ prefix: { 'equals-ignore-case': 'A' } }, { 'anything-but': { 'equals-ignore-case': ['a'] } }],
        },
      },
    ],
    ['$or at several levels', { $or: [{ a: ['1'] }, { b: { $or: [{ c: ['2'] }, { d: ['3'] }] } }] }],
    ['a field literally named like an operator', { detail: { prefix: ['x'], numeric: [1] } }],
  ];
  it.each(valid)('accepts %s', (_name, pattern) => {
    expect(() => validatePattern(pattern)).not.toThrow();
  });

  it('compilePattern gives a reusable matcher equivalent to matchesPattern', () => {
    const pattern: EventPattern = { detail: { state: [{ prefix: 'run' }] } };
    const matcher = compilePattern(pattern);
    for (const state of ['running', 'stopped', 'run', 'Run']) {
      expect(matcher(event({ state }))).toBe(matchesPattern(pattern, event({ state })));
    }
    expect(matcher(event({ state: 'running' }))).toBe(true);
    expect(matcher(event({ state: 'stopped' }))).toBe(false);
  });
});

describe('USAGE_RULES', () => {
  const record: UsageRecord = usageRecordSchema.parse({
    requestId: 'req-1',
    accountId: 'acct-1',
    keyId: 'key-1',
    tier: 'tier-2',
    catalogVersion: 1,
    model: 'upstream-model',
    status: 'ok',
    inputTokens: 10,
    outputTokens: 20,
    usageSource: 'upstream',
    upstreamCostMicros: 120,
    chargeMicros: 300,
    holdMicros: 1000,
    ttftMs: 150,
    latencyMs: 900,
    startedAt: '2025-01-01T00:00:00.000Z',
    endedAt: '2025-01-01T00:00:01.000Z',
    stream: true,
  });
  const ruleById = (id: string) => {
    const rule = USAGE_RULES.find((r) => r.id === id);
    if (rule === undefined) throw new Error(`no rule ${id}`);
    return rule;
  };
  const usageEvent = (overrides: Record<string, unknown> = {}) =>
    event(JSON.parse(JSON.stringify(record)), {
      source: USAGE_SOURCE,
      'detail-type': USAGE_DETAIL_TYPE,
      resources: [],
      ...overrides,
    });

  it('has one billing and one guardrail rule with unique ids', () => {
    expect(USAGE_RULES.map((r) => [r.id, r.target])).toEqual([
      ['BillingUsage', 'billing'],
      ['GuardrailUsage', 'guardrail'],
    ]);
    for (const rule of USAGE_RULES) expect(rule.description.length).toBeGreaterThan(0);
  });

  it('are written as real EventBridge JSON on the usage source and detail-type', () => {
    for (const rule of USAGE_RULES) {
      expect(() => validatePattern(rule.pattern)).not.toThrow();
      expect(JSON.parse(JSON.stringify(rule.pattern))).toEqual({
        source: ['tiergate'],
        'detail-type': ['usage.recorded'],
      });
    }
  });

  it('cannot be changed at runtime by a consumer', () => {
    const rule = ruleById('BillingUsage');
    expect(Object.isFrozen(USAGE_RULES)).toBe(true);
    expect(Object.isFrozen(rule.pattern)).toBe(true);
    expect(() => (rule.pattern.source as string[]).push('other')).toThrow(TypeError);
    expect(rule.pattern.source).toEqual(['tiergate']);
  });

  const cases: Array<[name: string, overrides: Record<string, unknown>, expected: boolean]> = [
    ['a real usage.recorded event', {}, true],
    [
      'a failed request',
      { detail: { ...record, status: 'upstream_error', errorCode: 'upstream_error' } },
      true,
    ],
    ['another source', { source: 'tiergate.admin' }, false],
    ['a source that differs only in case', { source: 'Tiergate' }, false],
    ['another detail-type', { 'detail-type': 'usage.corrected' }, false],
    ['no detail-type', { 'detail-type': undefined }, false],
  ];
  it.each(
    USAGE_RULES.flatMap((rule) =>
      cases.map(([name, overrides, expected]) => [rule.id, name, overrides, expected] as const),
    ),
  )('%s: %s', (id, _name, overrides, expected) => {
    expect(matchesPattern(ruleById(id).pattern, usageEvent(overrides))).toBe(expected);
  });
});
