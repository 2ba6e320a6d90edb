import { expect, it } from 'vitest';
import { matchesPattern } from '../../shared/events/pattern-matcher.js';
import type { EventPattern } from '../../shared/events/rules.js';

/** Shared by the pattern-matcher test files: events as EventBridge delivers them, and table-driven cases. */

export type Case = [name: string, pattern: EventPattern, event: unknown, expected: boolean];

/** An event as EventBridge delivers it, around the given detail. */
export function event(detail: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
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
export function onField(field: string, values: unknown[]): EventPattern {
  return { detail: { [field]: values } };
}

export function runCases(cases: Case[]): void {
  it.each(cases)('%s', (_name, pattern, input, expected) => {
    expect(matchesPattern(pattern, input)).toBe(expected);
  });
}
