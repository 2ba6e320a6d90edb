import { describe } from 'vitest';
import { event, onField, runCases } from '../support/pattern-cases.js';

/** Event patterns on values: exact, nested, arrays, prefix, suffix and equals-ignore-case. */

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
