/**
 * The monthly AWS bill of a deployment: the stack's settings × the operations a request was
 * measured to cost × dated list prices. Pure arithmetic, so it is tested on fixed inputs.
 */
import type { MeasuredOps } from './measured-ops.js';
import { type FunctionSettings, HOURS_PER_MONTH, type StackSettings } from './stack.js';

export type Prices = {
  lambda: { requestsPerMillion: number; gbSecond: Record<FunctionSettings['arch'], number> };
  dynamodb: {
    writeRequestUnitsPerMillion: number;
    readRequestUnitsPerMillion: number;
    storageGbMonth: number;
    pointInTimeRecoveryGbMonth: number;
  };
  eventbridge: {
    customEventsPerMillion: number;
    archiveProcessedGb: number;
    archiveStoredGbMonth: number;
    schedulerInvocationsPerMillion: number;
  };
  stepFunctions: { standardTransitionsPerThousand: number };
  cloudwatch: {
    alarmMetricMonth: number;
    dashboardMonth: number;
    customMetricMonth: number;
    logsIngestedGb: number;
    logsStoredGbMonth: number;
  };
  secretsManager: { secretMonth: number };
  kms: { keyMonth: number };
  xray: { tracesRecordedPerMillion: number };
  container: {
    fargateArm64VcpuHour: number;
    fargateArm64GbHour: number;
    albHour: number;
    albLcuHour: number;
  };
};

export interface Traffic {
  requestsPerDay: number;
  /** Mean duration of a completions request, upstream generation included: Lambda bills all of it. */
  avgSeconds: number;
  /** Share of requests that stream. */
  streamShare: number;
  /** Upstream generation speed: one streamed chunk per token. */
  tokensPerSecond: number;
}

/** What the bench cannot measure locally; each is a flag of `npm run cost`. */
export interface Assumptions {
  /** One DynamoDB call inside the region, as the consumers wait for it. */
  dynamodbRoundTripMs: number;
  /** Billed time of one scheduled function run (reconciler, probe task). */
  scheduledRunSeconds: number;
  /** CloudWatch Logs written per request by every function (platform lines, EMF, app lines). */
  logBytesPerRequest: number;
  requestLogItemBytes: number;
  eventBytes: number;
  customMetrics: number;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = {
  dynamodbRoundTripMs: 6,
  scheduledRunSeconds: 1,
  logBytesPerRequest: 3_500,
  requestLogItemBytes: 1_200,
  eventBytes: 1_500,
  customMetrics: 40,
};

/** Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion to memory below that. */
export const LAMBDA_MB_PER_VCPU = 1769;
const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
const GB = 1024 ** 3;
/** X-Ray's default sampling: the first request each second, then 5% of the rest. */
const XRAY_RESERVOIR_PER_SECOND = 1;
const XRAY_FIXED_RATE = 0.05;

/** The completions memory the right-sizing compares against, and the added TTFT it may cost. */
export const BASELINE_MB = 1024;
export const TTFT_BUDGET_MS = 2;

/** How much longer CPU work takes at this memory than on a whole vCPU. */
export const cpuStretch = (memoryMb: number): number => Math.max(1, LAMBDA_MB_PER_VCPU / memoryMb);

/**
 * The least memory (a multiple of 64 MB) at which `cpuMs` of work on the way to the first token
 * takes at most `budgetMs` longer than at `baselineMb`: CPU time × (1,769 / memory) in Lambda.
 */
export function memoryWithinBudget(cpuMs: number, baselineMb: number, budgetMs: number): number {
  const atBaseline = cpuMs * cpuStretch(baselineMb);
  for (let mb = 128; mb < baselineMb; mb += 64) {
    if (cpuMs * cpuStretch(mb) - atBaseline <= budgetMs) return mb;
  }
  return baselineMb;
}

export interface Line {
  service:
    | 'Lambda'
    | 'DynamoDB'
    | 'EventBridge'
    | 'Step Functions'
    | 'CloudWatch'
    | 'Secrets Manager'
    | 'KMS'
    | 'X-Ray';
  item: string;
  usd: number;
}

export interface Estimate {
  requestsPerMonth: number;
  lines: Line[];
  totalUsd: number;
  /** Lambda's share: what a container deployment would replace. */
  lambdaUsd: number;
  /** The completions function's CPU per request at full speed (one vCPU), ms. */
  cpuMsPerRequest: number;
}

function lambdaUsd(fn: FunctionSettings, invocations: number, secondsEach: number, p: Prices): number {
  const gbSeconds = invocations * secondsEach * (fn.memoryMb / 1024);
  return (invocations / 1e6) * p.lambda.requestsPerMillion + gbSeconds * p.lambda.gbSecond[fn.arch];
}

function tracesRecorded(invocations: number): number {
  const reservoir = Math.min(invocations, XRAY_RESERVOIR_PER_SECOND * SECONDS_PER_MONTH);
  return reservoir + XRAY_FIXED_RATE * (invocations - reservoir);
}

export function estimate(
  stack: StackSettings,
  ops: MeasuredOps,
  p: Prices,
  t: Traffic,
  a: Assumptions = DEFAULT_ASSUMPTIONS,
): Estimate {
  const n = t.requestsPerDay * DAYS_PER_MONTH;
  const lines: Line[] = [];
  const add = (service: Line['service'], item: string, usd: number) => lines.push({ service, item, usd });
  const traced: Array<{ fn: FunctionSettings; invocations: number }> = [];
  const invoked = (fn: FunctionSettings, invocations: number) => traced.push({ fn, invocations });

  // The completions function is billed for the whole request; its own CPU runs at its memory's share of a vCPU.
  const c = stack.completions;
  const chunks = t.avgSeconds * t.tokensPerSecond * t.streamShare;
  const cpuMsPerRequest =
    ops.completions.cpuMsPerRequestBase + (chunks * ops.completions.cpuUsPerChunk) / 1000;
  const completionsSeconds = t.avgSeconds + (cpuMsPerRequest * cpuStretch(c.memoryMb)) / 1000;
  add(
    'Lambda',
    `completions (${c.memoryMb} MB ${c.arch}, ${completionsSeconds.toFixed(2)} s a request)`,
    lambdaUsd(c, n, completionsSeconds, p),
  );
  invoked(c, n);

  // Each usage event invokes every rule target once; they wait on DynamoDB more than they compute.
  const k = ops.consumers;
  const events = n * ops.completions.eventsPerRequest;
  const callsPerInvocation =
    k.invocationsPerRequest > 0 ? k.dynamodbCallsPerRequest / k.invocationsPerRequest : 0;
  for (const fn of stack.usageConsumers) {
    const seconds =
      (k.cpuMsPerInvocation * cpuStretch(fn.memoryMb) + callsPerInvocation * a.dynamodbRoundTripMs) / 1000;
    add(
      'Lambda',
      `${fn.name} (${fn.memoryMb} MB, ${(seconds * 1000).toFixed(0)} ms an event)`,
      lambdaUsd(fn, events, seconds, p),
    );
    invoked(fn, events);
  }

  for (const s of stack.schedules) {
    add(
      'EventBridge',
      `scheduler: ${s.name}`,
      (s.runsPerMonth / 1e6) * p.eventbridge.schedulerInvocationsPerMillion,
    );
    if (s.target.kind === 'function') {
      add(
        'Lambda',
        `${s.target.fn.name} (${s.runsPerMonth.toFixed(0)} runs)`,
        lambdaUsd(s.target.fn, s.runsPerMonth, a.scheduledRunSeconds, p),
      );
      invoked(s.target.fn, s.runsPerMonth);
      continue;
    }
    const { transitionsPerRun, tasks, standard } = s.target;
    if (standard) {
      const transitions = s.runsPerMonth * transitionsPerRun;
      add(
        'Step Functions',
        `${s.name}: ${transitionsPerRun} transitions a run`,
        (transitions / 1000) * p.stepFunctions.standardTransitionsPerThousand,
      );
    }
    for (const fn of new Set(tasks)) {
      const runs = s.runsPerMonth * tasks.filter((task) => task === fn).length;
      add(
        'Lambda',
        `${fn.name} (${runs.toFixed(0)} state machine tasks)`,
        lambdaUsd(fn, runs, a.scheduledRunSeconds, p),
      );
      invoked(fn, runs);
    }
  }

  const reads = n * (ops.completions.dynamodbReadUnitsPerRequest + k.dynamodbReadUnitsPerRequest);
  const writes = n * (ops.completions.dynamodbWriteUnitsPerRequest + k.dynamodbWriteUnitsPerRequest);
  if (stack.tables.every((table) => table.onDemand)) {
    add('DynamoDB', 'read request units', (reads / 1e6) * p.dynamodb.readRequestUnitsPerMillion);
    add('DynamoDB', 'write request units', (writes / 1e6) * p.dynamodb.writeRequestUnitsPerMillion);
  } else {
    throw new Error('a table has provisioned capacity: this model prices on-demand tables only');
  }
  // The request log holds one item a request for its retention (TTL); the ledger is small beside it.
  const retentionDays = stack.requestLogRetentionDays ?? 90;
  const storedGb = (n * (retentionDays / DAYS_PER_MONTH) * a.requestLogItemBytes) / GB;
  add('DynamoDB', `storage: request log, ${retentionDays} days`, storedGb * p.dynamodb.storageGbMonth);
  if (stack.tables.some((table) => table.pointInTimeRecovery)) {
    add('DynamoDB', 'point-in-time recovery', storedGb * p.dynamodb.pointInTimeRecoveryGbMonth);
  }

  add('EventBridge', 'usage events', (events / 1e6) * p.eventbridge.customEventsPerMillion);
  for (const archive of stack.archives) {
    const monthlyGb = (events * a.eventBytes) / GB;
    add(
      'EventBridge',
      `archive, ${archive.retentionDays} days`,
      monthlyGb * p.eventbridge.archiveProcessedGb +
        monthlyGb * (archive.retentionDays / DAYS_PER_MONTH) * p.eventbridge.archiveStoredGbMonth,
    );
  }

  const cw = p.cloudwatch;
  add('CloudWatch', `alarms (${stack.alarmMetrics} metrics)`, stack.alarmMetrics * cw.alarmMetricMonth);
  add('CloudWatch', `dashboards (${stack.dashboards})`, stack.dashboards * cw.dashboardMonth);
  add('CloudWatch', `custom metrics (${a.customMetrics})`, a.customMetrics * cw.customMetricMonth);
  const logGb = (n * a.logBytesPerRequest) / GB;
  const logDays = Math.max(0, ...[c, ...stack.usageConsumers].map((fn) => fn.logRetentionDays ?? 0));
  add('CloudWatch', 'logs ingested', logGb * cw.logsIngestedGb);
  add(
    'CloudWatch',
    `logs stored (${logDays} days)`,
    logGb * (logDays / DAYS_PER_MONTH) * cw.logsStoredGbMonth,
  );

  add('Secrets Manager', `secrets (${stack.secrets})`, stack.secrets * p.secretsManager.secretMonth);
  add('KMS', `keys (${stack.kmsKeys})`, stack.kmsKeys * p.kms.keyMonth);
  const traces = traced
    .filter((x) => x.fn.tracing)
    .reduce((sum, x) => sum + tracesRecorded(x.invocations), 0);
  add('X-Ray', 'traces recorded (default sampling)', (traces / 1e6) * p.xray.tracesRecordedPerMillion);

  const total = (ls: Line[]) => ls.reduce((sum, l) => sum + l.usd, 0);
  return {
    requestsPerMonth: n,
    lines,
    totalUsd: total(lines),
    lambdaUsd: total(lines.filter((l) => l.service === 'Lambda')),
    cpuMsPerRequest,
  };
}

export interface ContainerPlan {
  tasks: number;
  vcpuPerTask: number;
  gbPerTask: number;
  monthlyUsd: number;
}

/**
 * The smallest Fargate (arm64) deployment behind an ALB that serves `traffic` on the measured CPU
 * and heap, with at least two tasks, each at most half busy at three times the mean rate.
 */
export function containerPlan(ops: MeasuredOps, p: Prices, t: Traffic, est: Estimate): ContainerPlan {
  const vcpuPerTask = 1;
  const gbPerTask = 2;
  const perSecond = est.requestsPerMonth / SECONDS_PER_MONTH;
  const peakVcpu = 3 * perSecond * (est.cpuMsPerRequest / 1000);
  const peakStreamsGb = (3 * perSecond * t.avgSeconds * ops.completions.heapKbPerStream) / (1024 * 1024);
  const tasks = Math.max(
    2,
    Math.ceil(peakVcpu / (0.5 * vcpuPerTask)),
    Math.ceil(peakStreamsGb / (0.5 * gbPerTask)),
  );
  const c = p.container;
  const monthlyUsd =
    HOURS_PER_MONTH *
    (tasks * (vcpuPerTask * c.fargateArm64VcpuHour + gbPerTask * c.fargateArm64GbHour) +
      c.albHour +
      c.albLcuHour);
  return { tasks, vcpuPerTask, gbPerTask, monthlyUsd };
}

/**
 * Requests a day above which the container plan (replacing every function's compute; tables,
 * events and the rest unchanged) costs less than Lambda, at this traffic's shape.
 */
export function containerBreakEven(
  stack: StackSettings,
  ops: MeasuredOps,
  p: Prices,
  t: Traffic,
  a: Assumptions,
): number {
  const perRequest = (rpd: number) => estimate(stack, ops, p, { ...t, requestsPerDay: rpd }, a);
  // Lambda's cost is linear in traffic; the container's steps with its task count.
  let low = 1;
  let high = 1e9;
  const cheaper = (rpd: number) => {
    const est = perRequest(rpd);
    return containerPlan(ops, p, { ...t, requestsPerDay: rpd }, est).monthlyUsd < est.lambdaUsd;
  };
  if (!cheaper(high)) return Number.POSITIVE_INFINITY;
  while (high / low > 1.001) {
    const mid = Math.sqrt(low * high);
    if (cheaper(mid)) high = mid;
    else low = mid;
  }
  return high;
}
