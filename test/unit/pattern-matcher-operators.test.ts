import { describe } from 'vitest';
import type { EventPattern } from '../../shared/events/rules.js';
import { event, onField, runCases } from '../support/pattern-cases.js';

/** Event pattern operators: anything-but, numeric, exists, wildcard and $or. */

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
