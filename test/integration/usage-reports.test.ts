import { randomBytes } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { RequestLogReports } from '../../shared/admin/reports.js';
import { requestLogKeys } from '../../shared/tables.js';

/** The operator's usage and request reports over the request log's by-day index and account partitions. */

const day = '2031-05-10';
const startedAt = ['01:00', '05:00', '09:00', '13:00'].map((t) => `${day}T${t}:00.000Z`);
const accountId = 'acct-reports';

let db: DynamoDBDocumentClient;
let requestLog: string;

const logItem = (started: string) => {
  const requestId = `req-${randomBytes(6).toString('hex')}`;
  return {
    ...requestLogKeys.item(accountId, started, requestId),
    day: started.slice(0, 10),
    requestId,
    accountId,
    keyId: 'key-reports',
    tier: 'tier-1',
    startedAt: started,
    status: 'succeeded',
    inputTokens: 10,
    outputTokens: 5,
    chargeMicros: 100,
    upstreamCostMicros: 60,
  };
};

async function putLog(times: string[]): Promise<void> {
  await db.send(
    new BatchWriteCommand({
      RequestItems: { [requestLog]: times.map((t) => ({ PutRequest: { Item: logItem(t) } })) },
    }),
  );
}

const reports = (maxUsageItems: number, now = Date.parse(`${day}T23:00:00.000Z`)) =>
  new RequestLogReports(db, requestLog, () => now, maxUsageItems);

beforeAll(async () => {
  const endpoint = inject('dynamodbEndpoint');
  db = createDocumentClient(endpoint);
  ({ requestLog } = await createTables(endpoint, `r${randomBytes(6).toString('hex')}`));
  await putLog(startedAt);
});

describe('usage reports over the by-day index', () => {
  it('counts the requests of a range within a day, not the rest of the day, against the item bound', async () => {
    const until = new Date(Date.parse(startedAt[0] ?? '') + 1).toISOString();
    const report = await reports(2).usageRows({ by: 'day', since: `${day}T00:00:00.000Z`, until });
    expect(report).toMatchObject({
      rows: [{ group: day, requests: 1, chargeMicros: 100 }],
      truncated: false,
    });
    expect(report).not.toHaveProperty('maxRequests');
    // Two of the four in range, at a bound of 2: all of them, not truncated.
    expect(
      await reports(2).usageRows({ by: 'day', since: `${day}T04:00:00Z`, until: `${day}T10:00:00Z` }),
    ).toMatchObject({ rows: [{ group: day, requests: 2 }], truncated: false });
  });

  it('lists the requests of the last 31 days only, not the rest of the oldest day', async () => {
    const now = Date.parse('2031-07-20T12:00:00.000Z');
    // Since is 30 days before now: 2031-06-20T12:00Z. One request that morning, one an hour ago.
    await putLog(['2031-06-20T06:00:00.000Z', '2031-07-20T11:00:00.000Z']);
    const listing = await reports(50, now).requests({ limit: '1' });
    expect(listing.requests.map((r) => r.startedAt)).toEqual(['2031-07-20T11:00:00.000Z']);
    expect(listing.truncated).toBe(false);
  });
});

describe('report dates', () => {
  it('reads a plain-date until as the whole of that UTC day', async () => {
    for (const account of [{}, { accountId }]) {
      const report = await reports(50).usageRows({ by: 'day', since: day, until: day, ...account });
      expect(report).toMatchObject({
        since: `${day}T00:00:00.000Z`,
        until: `${day}T23:59:59.999Z`,
        rows: [{ group: day, requests: 4 }],
        truncated: false,
      });
    }
  });

  it('defaults since to seven whole days ending with a plain-date until', async () => {
    const report = await reports(50).usageRows({ by: 'day', until: '2026-03-10' });
    expect(report).toMatchObject({ since: '2026-03-04T00:00:00.000Z', until: '2026-03-10T23:59:59.999Z' });
  });

  it('reads a date-time without an offset as UTC, whatever the server time zone', async () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati';
    try {
      const report = await reports(50).usageRows({ by: 'day', since: `${day}T05:00`, until: `${day}T09:00` });
      expect(report).toMatchObject({
        since: `${day}T05:00:00.000Z`,
        until: `${day}T09:00:00.000Z`,
        rows: [{ group: day, requests: 2 }],
      });
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it.each([
    ['since', '2031-02-30'],
    ['until', '2031-13-01'],
    ['until', '2031-02-29'],
    ['until', `${day}T24:00`],
    ['since', '2031-04-31'],
    ['until', `${day}T12:60`],
  ])('refuses a %s that does not exist (%s) with a 400 naming it', async (param, value) => {
    await expect(reports(50).usage({ accountId, [param]: value })).rejects.toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      param,
    });
  });
});
