/**
 * The settings of the synthesized stack that decide its bill, read from its CloudFormation
 * template: every function's memory, architecture, tracing and log retention; which functions the
 * usage rules invoke and the schedules run; the tables' billing mode and backups; the state
 * machine's path; alarms, dashboards, secrets, keys and the event archive.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { PROJECT_ROOT } from '../infra/bundling.js';
import { defineTiergateApp } from '../infra/tiergate-app.js';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties?: Json;
}
export interface Template {
  Resources: Record<string, Resource>;
}

export interface FunctionSettings {
  id: string;
  /** The logical id without its hash and 'Function': UsageBilling, SpendGuardrail, … */
  name: string;
  memoryMb: number;
  arch: 'arm64' | 'x86_64';
  tracing: boolean;
  logRetentionDays: number | undefined;
  environment: Record<string, unknown>;
}

export interface ScheduleSettings {
  id: string;
  name: string;
  runsPerMonth: number;
  /** A function run directly, or the functions of a state machine's tasks. */
  target:
    | { kind: 'function'; fn: FunctionSettings }
    | { kind: 'stateMachine'; standard: boolean; transitionsPerRun: number; tasks: FunctionSettings[] };
}

export interface StackSettings {
  /** The function behind the streaming Function URL. */
  completions: FunctionSettings;
  /** One entry per rule target on the usage bus: each usage event invokes each of them once. */
  usageConsumers: FunctionSettings[];
  schedules: ScheduleSettings[];
  tables: Array<{ id: string; onDemand: boolean; pointInTimeRecovery: boolean; ttlAttribute?: string }>;
  /** Metrics the alarms read: CloudWatch bills an alarm per metric it evaluates. */
  alarmMetrics: number;
  dashboards: number;
  secrets: number;
  kmsKeys: number;
  /** Retention of event archives on the usage bus, in days. */
  archives: Array<{ retentionDays: number }>;
  /** Days the billing function keeps request-log items (its environment), when set. */
  requestLogRetentionDays: number | undefined;
}

/** 730 hours: the month AWS prices by. */
export const HOURS_PER_MONTH = 730;

/** A logical id without its hash and a trailing 'Function': UsageBilling, SpendGuardrail, … */
const shortName = (id: string): string => id.replace(/[0-9A-F]{8}$/, '').replace(/Function$/, '');

const refOf = (value: unknown): string | undefined => {
  const v = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown[] } | undefined;
  if (typeof v?.Ref === 'string') return v.Ref;
  const att = v?.['Fn::GetAtt'];
  return Array.isArray(att) && typeof att[0] === 'string' ? att[0] : undefined;
};

/** Runs a month of `rate(N unit)`; other expressions are not priced (the stack uses rates). */
export function runsPerMonth(expression: string): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m)
    throw new Error(`cannot price the schedule expression ${JSON.stringify(expression)}: only rate(...)`);
  const minutes = Number(m[1]) * (m[2]?.startsWith('minute') ? 1 : m[2]?.startsWith('hour') ? 60 : 1440);
  return (HOURS_PER_MONTH * 60) / minutes;
}

/** The state machine's definition with every token (an ARN) replaced by its logical id. */
function definitionOf(definition: unknown): Json {
  if (typeof definition === 'string') return JSON.parse(definition) as Json;
  const join = (definition as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error('unreadable state machine definition');
  return JSON.parse(
    join[1].map((part) => (typeof part === 'string' ? part : (refOf(part) ?? ''))).join(''),
  ) as Json;
}

export function readStack(template: Template): StackSettings {
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const props = (r: Resource): Json => r.Properties ?? {};
  const retention = (logGroupId: string | undefined): number | undefined => {
    const group = logGroupId ? template.Resources[logGroupId] : undefined;
    return group ? (props(group).RetentionInDays as number | undefined) : undefined;
  };
  const functions = new Map<string, FunctionSettings>();
  for (const [id, r] of ofType('AWS::Lambda::Function')) {
    const p = props(r);
    functions.set(id, {
      id,
      name: shortName(id),
      memoryMb: (p.MemorySize as number | undefined) ?? 128,
      arch: (p.Architectures as string[] | undefined)?.[0] === 'arm64' ? 'arm64' : 'x86_64',
      tracing: (p.TracingConfig as Json | undefined)?.Mode === 'Active',
      logRetentionDays: retention(refOf((p.LoggingConfig as Json | undefined)?.LogGroup)),
      environment: ((p.Environment as Json | undefined)?.Variables as Record<string, unknown>) ?? {},
    });
  }
  const fn = (ref: unknown): FunctionSettings | undefined => functions.get(refOf(ref) ?? '');

  const streamingUrl = ofType('AWS::Lambda::Url').find(([, r]) => props(r).InvokeMode === 'RESPONSE_STREAM');
  const completions = streamingUrl && fn(props(streamingUrl[1]).TargetFunctionArn);
  if (!completions) throw new Error('no function behind a streaming Function URL in the template');

  const usageConsumers = ofType('AWS::Events::Rule')
    .filter(([, r]) => props(r).EventPattern !== undefined)
    .flatMap(([, r]) => ((props(r).Targets as Json[] | undefined) ?? []).map((t) => fn(t.Arn)))
    .filter((f): f is FunctionSettings => f !== undefined);

  const stateMachine = (id: string): ScheduleSettings['target'] => {
    const r = template.Resources[id] as Resource;
    const definition = definitionOf(props(r).DefinitionString);
    const states = definition.States as Record<string, Json>;
    // The passing run's path: from StartAt along Next to the end (Wait and Pass states count too).
    const tasks: FunctionSettings[] = [];
    let transitions = 0;
    for (let name = definition.StartAt as string | undefined; name; ) {
      const state = states[name];
      if (!state || transitions > Object.keys(states).length) break;
      transitions++;
      const task = state.Type === 'Task' ? functions.get(String(state.Resource)) : undefined;
      if (task) tasks.push(task);
      name = state.End === true ? undefined : (state.Next as string | undefined);
    }
    return {
      kind: 'stateMachine',
      standard: props(r).StateMachineType !== 'EXPRESS',
      transitionsPerRun: transitions,
      tasks,
    };
  };
  const schedules: ScheduleSettings[] = ofType('AWS::Scheduler::Schedule').map(([id, r]) => {
    const p = props(r);
    const targetId = refOf((p.Target as Json).Arn) ?? '';
    const direct = functions.get(targetId);
    return {
      id,
      name: shortName(id),
      runsPerMonth: runsPerMonth(String(p.ScheduleExpression)),
      target: direct ? { kind: 'function', fn: direct } : stateMachine(targetId),
    };
  });

  const billing = usageConsumers.find((f) => f.environment.REQUEST_LOG_TABLE_NAME !== undefined);
  const logDays = billing?.environment.REQUEST_LOG_RETENTION_DAYS;
  return {
    completions,
    usageConsumers,
    schedules,
    tables: ofType('AWS::DynamoDB::Table').map(([id, r]) => {
      const p = props(r);
      const ttl = p.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
      return {
        id,
        onDemand: p.BillingMode === 'PAY_PER_REQUEST',
        pointInTimeRecovery:
          (p.PointInTimeRecoverySpecification as Json | undefined)?.PointInTimeRecoveryEnabled === true,
        ...(ttl?.Enabled && ttl.AttributeName ? { ttlAttribute: ttl.AttributeName } : {}),
      };
    }),
    alarmMetrics: ofType('AWS::CloudWatch::Alarm').reduce((n, [, r]) => {
      const metrics = props(r).Metrics as Json[] | undefined;
      return n + (metrics ? metrics.filter((m) => m.MetricStat !== undefined).length : 1);
    }, 0),
    dashboards: ofType('AWS::CloudWatch::Dashboard').length,
    secrets: ofType('AWS::SecretsManager::Secret').length,
    kmsKeys: ofType('AWS::KMS::Key').length,
    archives: ofType('AWS::Events::Archive').map(([, r]) => ({
      retentionDays: Number(props(r).RetentionDays ?? 0),
    })),
    requestLogRetentionDays: logDays === undefined ? undefined : Number(logDays),
  };
}

/** The deploying app's template (cdk.json's feature flags, no asset bundling), synthesized in process. */
export function synthesizeTemplate(configure: (app: App) => void = defineTiergateApp): Template {
  const context = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Json })
    .context;
  const app = new App({
    outdir: join(tmpdir(), `tiergate-cost-${process.pid}`),
    context: { ...context, [BUNDLING_STACKS]: [] },
  });
  try {
    configure(app);
    const [stack] = app.synth().stacks;
    if (!stack) throw new Error('the app defines no stack');
    return stack.template as Template;
  } finally {
    rmSync(app.outdir, { recursive: true, force: true });
  }
}
