import { describe, expect, it } from 'vitest';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../../shared/domain/usage.js';
import { usageRecordSchema } from '../../shared/domain/usage-schema.js';
import { compilePattern, matchesPattern, validatePattern } from '../../shared/events/pattern-matcher.js';
import { type EventPattern, USAGE_RULES } from '../../shared/events/rules.js';

type Case = [name: string, pattern: EventPattern, event: unknown, expected: boolean];

/** An event as EventBridge delivers it, around the given detail. */
function event(detail: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '123456789012',
    time: '2015-11-11T21:29:54Z',
    region: 'us-east-1',
    resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
    detail,
    ...overrides,
  };
}

/** A pattern on one detail field. */
function onField(field: string, values: unknown[]): EventPattern {
  return { detail: { [field]: values } };
}

function runCases(cases: Case[]): void {
  it.each(cases)('%s', (_name, pattern, input, expected) => {
    expect(matchesPattern(pattern, input)).toBe(expected);
  });
}

describe('exact values', () => {
  runCases([
    ['string equal', onField('state', ['running']), event({ state: 'running' }), true],
    ['string differs', onField('state', ['running']), event({ state: 'stopped' }), false],
    ['strings are case-sensitive', onField('state', ['running']), event({ state: 'Running' }), false],
    ['any of several values', onField('state', ['pending', 'running']), event({ state: 'running' }), true],
    ['none of several values', onField('state', ['pending', 'running']), event({ state: 'stopped' }), false],
    ['number equal', onField('n', [5]), event({ n: 5 }), true],
    ['number equal across notations', onField('n', [301.8]), JSON.parse('{"detail":{"n":3.018e2}}'), true],
    ['number differs', onField('n', [5]), event({ n: 6 }), false],
    ['number pattern does not match a numeric string', onField('n', [5]), event({ n: '5' }), false],
    ['string pattern does not match a number', onField('n', ['5']), event({ n: 5 }), false],
    ['boolean true', onField('stream', [true]), event({ stream: true }), true],
    ['boolean false', onField('stream', [false]), event({ stream: false }), true],
    ['boolean differs', onField('stream', [true]), event({ stream: false }), false],
    ['string "true" is not boolean true', onField('stream', ['true']), event({ stream: true }), false],
    ['0 is not false', onField('stream', [0]), event({ stream: false }), false],
    ['null matches null', onField('ttftMs', [null]), event({ ttftMs: null }), true],
    ['null does not match a missing field', onField('ttftMs', [null]), event({}), false],
    ['null does not match an empty string', onField('ttftMs', [null]), event({ ttftMs: '' }), false],
    ['empty string matches empty string', onField('v', ['']), event({ v: '' }), true],
    ['empty string does not match null', onField('v', ['']), event({ v: null }), false],
    ['missing field never matches', onField('state', ['running']), event({ other: 'running' }), false],
    [
      'a leaf never matches an object value',
      onField('state', ['running']),
      event({ state: { a: 1 } }),
      false,
    ],
    ['all top-level fields must match', { source: ['aws.ec2'], 'detail-type': ['x'] }, event({}), false],
    [
      'all top-level fields match',
      { source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'] },
      event({}),
      true,
    ],
    [
      'a field named like an Object method is not read from the prototype',
      { toString: [{ exists: true }] },
      {},
      false,
    ],
    ['a non-object event has no fields', { source: ['aws.ec2'] }, 'aws.ec2', false],
    ['an undefined event has no fields', { source: [{ exists: false }] }, undefined, true],
  ]);
});

describe('nested objects', () => {
  runCases([
    ['nested field matches', { detail: { a: { b: ['x'] } } }, event({ a: { b: 'x' } }), true],
    ['nested field differs', { detail: { a: { b: ['x'] } } }, event({ a: { b: 'y' } }), false],
    ['nested pattern against a primitive', { detail: { a: { b: ['x'] } } }, event({ a: 'x' }), false],
    ['nested pattern against a missing object', { detail: { a: { b: ['x'] } } }, event({}), false],
    ['every nested field must match', { detail: { a: ['1'], b: ['2'] } }, event({ a: '1', b: '3' }), false],
    [
      'every nested field matches',
      { detail: { a: ['1'], b: ['2'] } },
      event({ a: '1', b: '2', c: '3' }),
      true,
    ],
    ['field names with dots are literal keys', { detail: { 'a.b': ['x'] } }, event({ 'a.b': 'x' }), true],
  ]);
});

describe('array values in the event', () => {
  const employees = {
    employees: [
      { firstName: 'John', lastName: 'Doe' },
      { firstName: 'Anna', lastName: 'Smith' },
      { firstName: 'Peter', lastName: 'Jones' },
    ],
  };
  runCases([
    ['any element matches', onField('tags', ['b']), event({ tags: ['a', 'b'] }), true],
    ['no element matches', onField('tags', ['c']), event({ tags: ['a', 'b'] }), false],
    ['empty array has no values', onField('tags', ['a']), event({ tags: [] }), false],
    [
      'nested arrays are flattened',
      onField('tags', ['d']),
      event({
        tags: [
          ['a', 'b'],
          ['c', ['d']],
        ],
      }),
      true,
    ],
    [
      'top-level resources array',
      { resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'] },
      event({}),
      true,
    ],
    ['resources array without the value', { resources: ['arn:other'] }, event({}), false],
    [
      'objects inside an array are crushed into the parent',
      { employees: { firstName: ['Anna'] } },
      employees,
      true,
    ],
    ['no object in the array matches', { employees: { firstName: ['Zoe'] } }, employees, false],
    [
      'fields must come from the same array element',
      { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
      employees,
      false,
    ],
    [
      'fields from the same array element',
      { employees: { firstName: ['Anna'], lastName: ['Smith'] } },
      employees,
      true,
    ],
    [
      'multi-level arrays of objects',
      { employees: { firstName: ['Peter'] } },
      { employees: [[{ firstName: 'John' }], [{ firstName: 'Peter' }]] },
      true,
    ],
    ['objects in an array are not leaf values', onField('tags', ['a']), event({ tags: [{ a: 'a' }] }), false],
  ]);
});

describe('prefix', () => {
  runCases([
    ['matches a prefix', onField('region', [{ prefix: 'us-' }]), event({ region: 'us-east-1' }), true],
    [
      'whole string is its own prefix',
      onField('region', [{ prefix: 'us-east-1' }]),
      event({ region: 'us-east-1' }),
      true,
    ],
    [
      'does not match another prefix',
      onField('region', [{ prefix: 'us-' }]),
      event({ region: 'eu-west-1' }),
      false,
    ],
    [
      'prefix in the middle does not count',
      onField('region', [{ prefix: 'east' }]),
      event({ region: 'us-east-1' }),
      false,
    ],
    ['is case-sensitive', onField('region', [{ prefix: 'US-' }]), event({ region: 'us-east-1' }), false],
    [
      'longer than the value',
      onField('region', [{ prefix: 'us-east-1a' }]),
      event({ region: 'us-east-1' }),
      false,
    ],
    ['only matches strings', onField('n', [{ prefix: '12' }]), event({ n: 123 }), false],
    ['does not match a missing field', onField('region', [{ prefix: '' }]), event({}), false],
    ['empty prefix matches any string', onField('region', [{ prefix: '' }]), event({ region: 'x' }), true],
    [
      'any array element',
      onField('regions', [{ prefix: 'eu-' }]),
      event({ regions: ['us-east-1', 'eu-west-1'] }),
      true,
    ],
    [
      'equals-ignore-case prefix',
      onField('region', [{ prefix: { 'equals-ignore-case': 'US-' } }]),
      event({ region: 'us-east-1' }),
      true,
    ],
    [
      'equals-ignore-case prefix differs',
      onField('region', [{ prefix: { 'equals-ignore-case': 'EU-' } }]),
      event({ region: 'us-east-1' }),
      false,
    ],
    ['works on top-level fields', { time: [{ prefix: '2015-11-11' }] }, event({}), true],
  ]);
});

describe('suffix', () => {
  runCases([
    ['matches a suffix', onField('file', [{ suffix: '.png' }]), event({ file: 'cat.png' }), true],
    [
      'does not match another suffix',
      onField('file', [{ suffix: '.png' }]),
      event({ file: 'cat.jpg' }),
      false,
    ],
    ['is case-sensitive', onField('file', [{ suffix: '.PNG' }]), event({ file: 'cat.png' }), false],
    [
      'suffix at the start does not count',
      onField('file', [{ suffix: 'cat' }]),
      event({ file: 'cat.png' }),
      false,
    ],
    ['only matches strings', onField('n', [{ suffix: '3' }]), event({ n: 123 }), false],
    ['does not match a missing field', onField('file', [{ suffix: '.png' }]), event({}), false],
    ['any array element', onField('files', [{ suffix: '.png' }]), event({ files: ['a.jpg', 'b.png'] }), true],
    [
      'equals-ignore-case suffix',
      onField('file', [{ suffix: { 'equals-ignore-case': '.PNG' } }]),
      event({ file: 'cat.png' }),
      true,
    ],
    [
      'equals-ignore-case suffix differs',
      onField('file', [{ suffix: { 'equals-ignore-case': '.GIF' } }]),
      event({ file: 'cat.png' }),
      false,
    ],
  ]);
});

describe('equals-ignore-case', () => {
  runCases([
    [
      'same letters, other case',
      onField('src', [{ 'equals-ignore-case': 'EC2' }]),
      event({ src: 'ec2' }),
      true,
    ],
    ['mixed case', onField('src', [{ 'equals-ignore-case': 'TierGate' }]), event({ src: 'TIERGATE' }), true],
    ['non-ASCII letters', onField('src', [{ 'equals-ignore-case': 'ÄRGER' }]), event({ src: 'ärger' }), true],
    ['different letters', onField('src', [{ 'equals-ignore-case': 'EC2' }]), event({ src: 'ec3' }), false],
    [
      'not a substring match',
      onField('src', [{ 'equals-ignore-case': 'EC2' }]),
      event({ src: 'aws.ec2' }),
      false,
    ],
    ['only matches strings', onField('n', [{ 'equals-ignore-case': '5' }]), event({ n: 5 }), false],
    ['does not match a missing field', onField('src', [{ 'equals-ignore-case': 'x' }]), event({}), false],
  ]);
});

describe('anything-but', () => {
  runCases([
    [
      'single string: another value',
      onField('state', [{ 'anything-but': 'init' }]),
      event({ state: 'run' }),
      true,
    ],
    [
      'single string: the excluded value',
      onField('state', [{ 'anything-but': 'init' }]),
      event({ state: 'init' }),
      false,
    ],
    ['single string: missing field', onField('state', [{ 'anything-but': 'init' }]), event({}), false],
    [
      'single string: a number is not that string',
      onField('state', [{ 'anything-but': '5' }]),
      event({ state: 5 }),
      true,
    ],
    ['single number: another number', onField('n', [{ 'anything-but': 5 }]), event({ n: 6 }), true],
    ['single number: the excluded number', onField('n', [{ 'anything-but': 5 }]), event({ n: 5 }), false],
    [
      'string list: not in the list',
      onField('state', [{ 'anything-but': ['stopped', 'overloaded'] }]),
      event({ state: 'running' }),
      true,
    ],
    [
      'string list: in the list',
      onField('state', [{ 'anything-but': ['stopped', 'overloaded'] }]),
      event({ state: 'overloaded' }),
      false,
    ],
    [
      'number list: not in the list',
      onField('n', [{ 'anything-but': [100, 200, 300] }]),
      event({ n: 201 }),
      true,
    ],
    [
      'number list: in the list',
      onField('n', [{ 'anything-but': [100, 200, 300] }]),
      event({ n: 200 }),
      false,
    ],
    [
      'event array: one element outside the exclusion is enough',
      onField('tags', [{ 'anything-but': 'a' }]),
      event({ tags: ['a', 'b'] }),
      true,
    ],
    [
      'event array: every element excluded',
      onField('tags', [{ 'anything-but': ['a', 'b'] }]),
      event({ tags: ['a', 'b'] }),
      false,
    ],
    [
      'prefix: other prefix',
      onField('state', [{ 'anything-but': { prefix: 'init' } }]),
      event({ state: 'running' }),
      true,
    ],
    [
      'prefix: excluded prefix',
      onField('state', [{ 'anything-but': { prefix: 'init' } }]),
      event({ state: 'initializing' }),
      false,
    ],
    ['prefix: missing field', onField('state', [{ 'anything-but': { prefix: 'init' } }]), event({}), false],
    [
      'prefix: a number is never excluded',
      onField('n', [{ 'anything-but': { prefix: '1' } }]),
      event({ n: 12 }),
      true,
    ],
    [
      'suffix: other suffix',
      onField('file', [{ 'anything-but': { suffix: '.png' } }]),
      event({ file: 'a.jpg' }),
      true,
    ],
    [
      'suffix: excluded suffix',
      onField('file', [{ 'anything-but': { suffix: '.png' } }]),
      event({ file: 'a.png' }),
      false,
    ],
    [
      'equals-ignore-case: excluded in another case',
      onField('state', [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }]),
      event({ state: 'INITIALIZING' }),
      false,
    ],
    [
      'equals-ignore-case: another value',
      onField('state', [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }]),
      event({ state: 'running' }),
      true,
    ],
    [
      'equals-ignore-case list: excluded',
      onField('state', [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'Overloaded'] } }]),
      event({ state: 'overloaded' }),
      false,
    ],
    [
      'wildcard: excluded path',
      onField('path', [{ 'anything-but': { wildcard: '*/lib/*' } }]),
      event({ path: '/usr/lib/x.so' }),
      false,
    ],
    [
      'wildcard: other path',
      onField('path', [{ 'anything-but': { wildcard: '*/lib/*' } }]),
      event({ path: '/usr/bin/x' }),
      true,
    ],
  ]);
});

describe('numeric', () => {
  const range = onField('n', [{ numeric: ['>', 0, '<=', 5] }]);
  runCases([
    ['range: lower bound is open', range, event({ n: 0 }), false],
    ['range: just above the lower bound', range, event({ n: 0.5 }), true],
    ['range: upper bound is closed', range, event({ n: 5 }), true],
    ['range: above the upper bound', range, event({ n: 5.01 }), false],
    ['range: negative', range, event({ n: -1 }), false],
    ['range: numeric string does not count', range, event({ n: '3' }), false],
    ['range: missing field', range, event({}), false],
    ['range: boolean does not count', range, event({ n: true }), false],
    ['range: any array element', range, event({ n: [10, 3] }), true],
    ['range: no array element', range, event({ n: [10, -3] }), false],
    [
      'closed lower and open upper: lower edge',
      onField('n', [{ numeric: ['>=', 1, '<', 2] }]),
      event({ n: 1 }),
      true,
    ],
    [
      'closed lower and open upper: upper edge',
      onField('n', [{ numeric: ['>=', 1, '<', 2] }]),
      event({ n: 2 }),
      false,
    ],
    ['= equal', onField('n', [{ numeric: ['=', 3.018e2] }]), event({ n: 301.8 }), true],
    ['= not equal', onField('n', [{ numeric: ['=', 3.018e2] }]), event({ n: 301.81 }), false],
    ['< below', onField('n', [{ numeric: ['<', 10] }]), event({ n: 9.99 }), true],
    ['< at the bound', onField('n', [{ numeric: ['<', 10] }]), event({ n: 10 }), false],
    ['<= at the bound', onField('n', [{ numeric: ['<=', 10] }]), event({ n: 10 }), true],
    ['<= above', onField('n', [{ numeric: ['<=', 10] }]), event({ n: 11 }), false],
    ['> at the bound', onField('n', [{ numeric: ['>', 10] }]), event({ n: 10 }), false],
    ['> above', onField('n', [{ numeric: ['>', 10] }]), event({ n: 10.5 }), true],
    ['>= at the bound', onField('n', [{ numeric: ['>=', 10] }]), event({ n: 10 }), true],
    ['>= below', onField('n', [{ numeric: ['>=', 10] }]), event({ n: 9 }), false],
    ['negative bounds', onField('n', [{ numeric: ['>', -5, '<', -1] }]), event({ n: -3 }), true],
  ]);
});

describe('exists', () => {
  runCases([
    ['true: present', onField('state', [{ exists: true }]), event({ state: 'x' }), true],
    ['true: present but null', onField('state', [{ exists: true }]), event({ state: null }), true],
    ['true: present but empty string', onField('state', [{ exists: true }]), event({ state: '' }), true],
    ['true: missing', onField('state', [{ exists: true }]), event({ other: 'x' }), false],
    [
      'true: intermediate node is not a leaf',
      onField('state', [{ exists: true }]),
      event({ state: { a: 1 } }),
      false,
    ],
    ['true: non-empty array', onField('state', [{ exists: true }]), event({ state: ['a'] }), true],
    ['true: empty array has no value', onField('state', [{ exists: true }]), event({ state: [] }), false],
    ['false: missing', onField('state', [{ exists: false }]), event({ other: 'x' }), true],
    ['false: present', onField('state', [{ exists: false }]), event({ state: 'x' }), false],
    ['false: present but null', onField('state', [{ exists: false }]), event({ state: null }), false],
    [
      'false: intermediate node counts as absent',
      onField('state', [{ exists: false }]),
      event({ state: { a: 1 } }),
      true,
    ],
    ['false: whole parent missing', { detail: { a: { b: [{ exists: false }] } } }, event({}), true],
    ['false: parent is a primitive', { detail: { a: { b: [{ exists: false }] } } }, event({ a: 'x' }), true],
    [
      'false: parent is an array without objects',
      { detail: { a: { b: [{ exists: false }] } } },
      event({ a: [] }),
      true,
    ],
    [
      'false: parent array has no object with the field',
      { detail: { a: { b: [{ exists: false }] } } },
      event({ a: ['x', { c: 1 }] }),
      true,
    ],
    [
      'true: only objects in the array',
      onField('state', [{ exists: true }]),
      event({ state: [{ a: 1 }] }),
      false,
    ],
    [
      'false: nested field present',
      { detail: { a: { b: [{ exists: false }] } } },
      event({ a: { b: 1 } }),
      false,
    ],
    ['combined with an exact value: value', onField('s', ['x', { exists: false }]), event({ s: 'x' }), true],
    ['combined with an exact value: missing', onField('s', ['x', { exists: false }]), event({}), true],
    ['combined with an exact value: other', onField('s', ['x', { exists: false }]), event({ s: 'y' }), false],
  ]);
});

describe('wildcard', () => {
  runCases([
    [
      'star in the middle',
      onField('s', [{ wildcard: 'Simple*Service' }]),
      event({ s: 'SimpleQueueService' }),
      true,
    ],
    [
      'star matches nothing',
      onField('s', [{ wildcard: 'Simple*Service' }]),
      event({ s: 'SimpleService' }),
      true,
    ],
    [
      'wrong ending',
      onField('s', [{ wildcard: 'Simple*Service' }]),
      event({ s: 'SimpleQueueServer' }),
      false,
    ],
    ['wrong start', onField('s', [{ wildcard: 'Simple*Service' }]), event({ s: 'ASimpleService' }), false],
    ['leading star', onField('s', [{ wildcard: '*.png' }]), event({ s: 'dir/cat.png' }), true],
    ['trailing star', onField('s', [{ wildcard: 'dir/*' }]), event({ s: 'dir/cat.png' }), true],
    ['lone star matches any string', onField('s', [{ wildcard: '*' }]), event({ s: '' }), true],
    ['several stars in order', onField('s', [{ wildcard: 'a*b*c' }]), event({ s: 'a-x-b-y-c' }), true],
    ['several stars out of order', onField('s', [{ wildcard: 'a*b*c' }]), event({ s: 'a-c-b' }), false],
    ['segments may not overlap', onField('s', [{ wildcard: 'ab*ba' }]), event({ s: 'aba' }), false],
    [
      'middle segment may not run into the tail',
      onField('s', [{ wildcard: 'a*b*bc' }]),
      event({ s: 'abc' }),
      false,
    ],
    ['middle segment before the tail', onField('s', [{ wildcard: 'a*b*bc' }]), event({ s: 'abbc' }), true],
    ['repeated segment found later', onField('s', [{ wildcard: '*ab*ab' }]), event({ s: 'xabyab' }), true],
    ['no star is an exact match', onField('s', [{ wildcard: 'abc' }]), event({ s: 'abc' }), true],
    ['no star and a longer value', onField('s', [{ wildcard: 'abc' }]), event({ s: 'abcd' }), false],
    ['escaped star is literal', onField('s', [{ wildcard: 'a\\*b' }]), event({ s: 'a*b' }), true],
    ['escaped star is not a wildcard', onField('s', [{ wildcard: 'a\\*b' }]), event({ s: 'axb' }), false],
    ['escaped backslash', onField('s', [{ wildcard: 'a\\\\*' }]), event({ s: 'a\\bc' }), true],
    ['regex characters are literal', onField('s', [{ wildcard: 'a.c*' }]), event({ s: 'abc' }), false],
    ['is case-sensitive', onField('s', [{ wildcard: 'a*' }]), event({ s: 'ABC' }), false],
    ['only matches strings', onField('s', [{ wildcard: '1*' }]), event({ s: 12 }), false],
    ['does not match a missing field', onField('s', [{ wildcard: '*' }]), event({}), false],
  ]);
});

describe('$or', () => {
  const either: EventPattern = {
    source: ['aws.cloudwatch'],
    $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
  };
  const nested: EventPattern = {
    detail: {
      $or: [{ status: ['ok'] }, { upstreamCostMicros: [{ numeric: ['>', 0] }] }],
    },
  };
  runCases([
    ['first alternative', either, { source: 'aws.cloudwatch', metricName: 'ReadLatency' }, true],
    ['second alternative', either, { source: 'aws.cloudwatch', namespace: 'AWS/ES' }, true],
    ['no alternative', either, { source: 'aws.cloudwatch', metricName: 'Other', namespace: 'Other' }, false],
    [
      'alternatives do not replace the other fields',
      either,
      { source: 'aws.ec2', namespace: 'AWS/ES' },
      false,
    ],
    ['nested: first alternative', nested, event({ status: 'ok', upstreamCostMicros: 0 }), true],
    ['nested: second alternative', nested, event({ status: 'timeout', upstreamCostMicros: 12 }), true],
    ['nested: neither', nested, event({ status: 'timeout', upstreamCostMicros: 0 }), false],
    [
      'an alternative with several fields needs all of them',
      { $or: [{ a: ['1'], b: ['2'] }, { c: ['3'] }] },
      { a: '1', b: '9' },
      false,
    ],
    [
      'an alternative with several fields',
      { $or: [{ a: ['1'], b: ['2'] }, { c: ['3'] }] },
      { a: '1', b: '2' },
      true,
    ],
    [
      'nested $or',
      { $or: [{ a: ['1'] }, { b: ['2'], $or: [{ c: ['3'] }, { d: ['4'] }] }] },
      { b: '2', d: '4' },
      true,
    ],
    [
      'nested $or: inner alternatives fail',
      { $or: [{ a: ['1'] }, { b: ['2'], $or: [{ c: ['3'] }, { d: ['4'] }] }] },
      { b: '2', d: '5' },
      false,
    ],
  ]);
});

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
