import { describe, expect, it } from 'vitest';
import { parseReportTime } from '../../shared/domain/report-time.js';

describe('parseReportTime', () => {
  it.each([
    ['2026-12-03', '2026-12-03T00:00:00.000Z'],
    ['2026-12-03T13:00', '2026-12-03T13:00:00.000Z'],
    ['2026-12-03T13:05:09', '2026-12-03T13:05:09.000Z'],
    ['2026-12-03T13:05:09.5', '2026-12-03T13:05:09.500Z'],
    ['2026-12-03T13:05:09.123456', '2026-12-03T13:05:09.123Z'],
    ['2026-12-03 13:00', '2026-12-03T13:00:00.000Z'],
    ['2026-12-03T13:00Z', '2026-12-03T13:00:00.000Z'],
    ['2026-12-03T13:00+02:00', '2026-12-03T11:00:00.000Z'],
    ['2026-12-03T01:30-05:30', '2026-12-03T07:00:00.000Z'],
    ['2026-12-03T00:00+0100', '2026-12-02T23:00:00.000Z'],
    ['2026-12-31T23:59:59.999Z', '2026-12-31T23:59:59.999Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2000-02-29', '2000-02-29T00:00:00.000Z'],
    ['0050-06-01', '0050-06-01T00:00:00.000Z'],
  ])('reads %s as %s (no offset is UTC)', (text, iso) => {
    expect(new Date(parseReportTime(text) ?? Number.NaN).toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-30',
    '2027-02-29',
    '1900-02-29',
    '2026-04-31',
    '2026-13-01',
    '2026-00-10',
    '2026-01-00',
    '2026-12-03T24:00',
    '2026-12-03T25:00',
    '2026-12-03T12:60',
    '2026-12-03T12:00:60',
    '2026-12-03T12:00+24:00',
    '2026-12-03T12:00+01:60',
    '2026-12-03T12',
    '2026-12-03T',
    '2026-12-3',
    '26-12-03',
    '+002026-12-03',
    'yesterday',
    '1733230800000',
    '',
  ])('refuses %s', (text) => {
    expect(parseReportTime(text)).toBeUndefined();
    expect(parseReportTime(text, { endOfDay: true })).toBeUndefined();
  });

  it('gives the end of the UTC day for a plain date when asked, and leaves a time as it is', () => {
    expect(new Date(parseReportTime('2026-12-03', { endOfDay: true }) ?? 0).toISOString()).toBe(
      '2026-12-03T23:59:59.999Z',
    );
    expect(new Date(parseReportTime('2028-02-29', { endOfDay: true }) ?? 0).toISOString()).toBe(
      '2028-02-29T23:59:59.999Z',
    );
    expect(parseReportTime('2026-12-03T13:00', { endOfDay: true })).toBe(Date.UTC(2026, 11, 3, 13));
    expect(parseReportTime('2026-12-03T00:00Z', { endOfDay: true })).toBe(Date.UTC(2026, 11, 3));
  });
});
