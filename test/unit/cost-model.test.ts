import { describe, expect, it } from 'vitest';
import type { MeasuredOps } from '../../cost/measured-ops.js';
import {
  cpuStretch,
  DEFAULT_ASSUMPTIONS,
  estimate,
  memoryWithinBudget,
  type Prices,
} from '../../cost/model.js';
import { type FunctionSettings, runsPerMonth, type StackSettings } from '../../cost/stack.js';

/** Round prices, so every figure below can be worked out by hand. */
const prices: Prices = {
  lambda: { requestsPerMillion: 0.2, gbSecond: { arm64: 0.00001, x86_64: 0.00002 } },
  dynamodb: {
    writeRequestUnitsPerMillion: 1,
    readRequestUnitsPerMillion: 0.25,
    storageGbMonth: 0,
    pointInTimeRecoveryGbMonth: 0,
  },
  eventbridge: {
    customEventsPerMillion: 1,
    archiveProcessedGb: 0,
    archiveStoredGbMonth: 0,
    schedulerInvocationsPerMillion: 1,
  },
  stepFunctions: { standardTransitionsPerThousand: 0.025 },
  cloudwatch: {
    alarmMetricMonth: 0.1,
    dashboardMonth: 3,
    customMetricMonth: 0,
    logsIngestedGb: 0,
    logsStoredGbMonth: 0,
  },
  secretsManager: { secretMonth: 0.4 },
  kms: { keyMonth: 1 },
  xray: { tracesRecordedPerMillion: 0 },
  container: { fargateArm64VcpuHour: 0, fargateArm64GbHour: 0, albHour: 0, albLcuHour: 0 },
};

const fn = (name: string, memoryMb: number): FunctionSettings => ({
  id: `${name}Function0123ABCD`,
  name,
  memoryMb,
  arch: 'arm64',
  tracing: false,
  logRetentionDays: 30,
  environment: {},
});

const stack = (completionsMb: number): StackSettings => ({
  completions: fn('Completions', completionsMb),
  usageConsumers: [fn('Billing', 1769)],
  schedules: [
    {
      id: 'Reconcile',
      name: 'Reconcile',
      runsPerMonth: 1000,
      target: { kind: 'function', fn: fn('Reconciler', 1024) },
    },
  ],
  tables: [{ id: 'Ledger', onDemand: true, pointInTimeRecovery: false }],
  alarmMetrics: 10,
  dashboards: 1,
  secrets: 2,
  kmsKeys: 1,
  archives: [],
  requestLogRetentionDays: 90,
});

const ops: MeasuredOps = {
  source: 'test',
  measuredAt: '2026-01-01T00:00:00.000Z',
  machine: { cpuModel: null, cpus: 1, node: 'v20' },
  cpuScope: 'main-thread',
  completions: {
    dynamodbCallsPerRequest: 1,
    dynamodbReadUnitsPerRequest: 0,
    dynamodbWriteUnitsPerRequest: 6,
    cpuMsPerRequestBase: 0,
    cpuUsPerChunk: 0,
    heapKbPerStream: 20,
    eventsPerRequest: 1,
    putEventsCallsPerRequest: 1,
  },
  consumers: {
    dynamodbCallsPerRequest: 1,
    dynamodbReadUnitsPerRequest: 4,
    dynamodbWriteUnitsPerRequest: 10,
    invocationsPerRequest: 1,
    cpuMsPerInvocation: 4,
  },
};

/** 24,000 a day is 730,000 in AWS's 730-hour month. */
const traffic = { requestsPerDay: 24_000, avgSeconds: 10, streamShare: 1, tokensPerSecond: 50 };
const assumptions = { ...DEFAULT_ASSUMPTIONS, dynamodbRoundTripMs: 6, scheduledRunSeconds: 1 };

describe('cost model', () => {
  it('prices a fixed deployment and traffic to the cent', () => {
    const e = estimate(stack(1024), ops, prices, traffic, assumptions);
    expect(e.requestsPerMonth).toBeCloseTo(730_000, 6);
    const line = (item: string) => e.lines.find((l) => l.item.startsWith(item))?.usd;
    // 0.73 M requests × $0.2 + 730,000 × 10 s × 1 GB × $0.00001
    expect(line('completions')).toBeCloseTo(0.146 + 73, 6);
    // 0.73 M invocations × $0.2 + 730,000 × (4 ms CPU on a whole vCPU + one 6 ms round trip) × 1769/1024 GB × $0.00001
    expect(line('Billing')).toBeCloseTo(0.146 + 730_000 * 0.01 * (1769 / 1024) * 0.00001, 6);
    // 1,000 runs × ($0.2/M + 1 s × 1 GB × $0.00001), and the scheduler's $1/M
    expect(line('Reconciler')).toBeCloseTo(0.0002 + 0.01, 6);
    expect(line('scheduler')).toBeCloseTo(0.001, 6);
    expect(line('write request units')).toBeCloseTo(730_000 * 16 * 1e-6, 6);
    expect(line('read request units')).toBeCloseTo(730_000 * 4 * 0.25e-6, 6);
    expect(line('usage events')).toBeCloseTo(0.73, 6);
    // Those, plus 10 alarm metrics, a dashboard, two secrets and a key: $1 + $3 + $0.8 + $1
    expect(e.totalUsd).toBeCloseTo(73.146 + 0.27211 + 0.0102 + 0.001 + 11.68 + 0.73 + 0.73 + 5.8, 4);
    expect(e.totalUsd).toBeCloseTo(92.3693, 4);
  });

  it('stretches CPU below a whole vCPU and bills it at the function memory', () => {
    expect(cpuStretch(1769)).toBe(1);
    expect(cpuStretch(3538)).toBe(1);
    expect(cpuStretch(884.5)).toBe(2);
    const slow = { ...ops, completions: { ...ops.completions, cpuMsPerRequestBase: 100 } };
    const at = (mb: number) => estimate(stack(mb), slow, prices, traffic, assumptions).lines[0]?.usd ?? 0;
    // 730,000 × (10 s + 0.1 s × 1769/512) × 0.5 GB × $0.00001 + requests
    expect(at(512)).toBeCloseTo(0.146 + 730_000 * (10 + 0.1 * (1769 / 512)) * 0.5 * 0.00001, 6);
    expect(at(2048)).toBeCloseTo(0.146 + 730_000 * 10.1 * 2 * 0.00001, 6);
  });

  it('finds the least memory whose CPU stretch stays within a latency budget', () => {
    // 8 ms at 1,024 MB takes 13.82 ms; at 896 MB 15.79 ms (+1.97); at 832 MB 17.01 ms (+3.19)
    expect(memoryWithinBudget(8, 1024, 2)).toBe(896);
    expect(memoryWithinBudget(2, 1024, 2)).toBe(704);
    expect(memoryWithinBudget(40, 1024, 2)).toBe(1024);
    expect(memoryWithinBudget(1, 3008, 2)).toBe(640);
  });

  it('counts the runs a month of a rate schedule', () => {
    expect(runsPerMonth('rate(5 minutes)')).toBe(8760);
    expect(runsPerMonth('rate(6 hours)')).toBe(121.66666666666667);
    expect(runsPerMonth('rate(1 day)')).toBeCloseTo(30.4167, 4);
    expect(() => runsPerMonth('cron(0 12 * * ? *)')).toThrow(/only rate/);
  });
});
