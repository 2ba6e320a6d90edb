import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  arnOf,
  functions,
  names,
  ref,
  resources,
  stack,
  template,
  useSynthesizedStack,
} from './stack-support.js';
import {
  type AslState,
  logicalId,
  placeholderFunctionArn,
  roleGrants,
  type StateMachineDefinition,
  stateMachineDefinition,
  testStack,
} from './support.js';

/** Running the stack: the synthetic probe, the outputs, and configuration from context (alarms and dashboard: observability.test.ts). */

useSynthesizedStack();

describe('synthetic probe', () => {
  let definition: StateMachineDefinition;
  const probeArn = () => placeholderFunctionArn(logicalId(functions.probe.function));
  const tasks = () =>
    Object.entries(definition.States).filter(
      (entry): entry is [string, AslState] => entry[1].Type === 'Task',
    );
  /** Every state reachable from `start` through Next and Catch. */
  const reachable = (start: string): Set<string> => {
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length > 0) {
      const name = queue.shift() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      const state = definition.States[name];
      if (state?.Next) queue.push(state.Next);
      for (const catcher of state?.Catch ?? []) queue.push(catcher.Next);
    }
    return seen;
  };
  const stepOf = (state: AslState | undefined) => state?.Parameters?.step;

  beforeAll(() => {
    definition = stateMachineDefinition(template, logicalId(stack.probe.stateMachine));
  });

  it('runs SignUp, Complete, Messages, VerifyBilling, Cleanup and RecordPassed in order, one Lambda task each', () => {
    const order: string[] = [];
    for (let name: string | undefined = definition.StartAt; name; name = definition.States[name]?.Next) {
      if (definition.States[name]?.Type === 'Task') order.push(name);
    }
    expect(order).toEqual(['SignUp', 'Complete', 'Messages', 'VerifyBilling', 'Cleanup', 'RecordPassed']);
    expect(order.map((name) => stepOf(definition.States[name]))).toEqual([
      'signUp',
      'complete',
      'messages',
      'verifyBilling',
      'cleanup',
      'record',
    ]);
    for (const [, state] of tasks()) {
      expect(state.Resource).toBe(probeArn());
      expect(state.Parameters).toMatchObject({ 'state.$': '$' });
    }
    // Billing is given time in a Wait state (free) before VerifyBilling polls (Lambda time).
    expect(definition.States.Complete?.Next).toBe('Messages');
    expect(definition.States.Messages?.Next).toBe('WaitForBilling');
    expect(definition.States.WaitForBilling).toMatchObject({ Type: 'Wait', Next: 'VerifyBilling' });
  });

  it('gives every task bounded retries of Lambda service errors only, a timeout and a catch-all', () => {
    expect(tasks().length).toBeGreaterThanOrEqual(7);
    for (const [name, state] of tasks()) {
      expect(state.Retry, name).toHaveLength(1);
      const retry = state.Retry?.[0];
      expect(retry?.MaxAttempts, name).toBe(2);
      expect(
        retry?.ErrorEquals.every((error) => error.startsWith('Lambda.')),
        name,
      ).toBe(true);
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
      expect(
        state.Catch?.map((catcher) => catcher.ErrorEquals),
        name,
      ).toEqual([['States.ALL']]);
    }
  });

  it('cleans up on every failure path once an account may exist, then records the failure and fails', () => {
    for (const step of ['SignUp', 'Complete', 'Messages', 'VerifyBilling']) {
      const catcher = definition.States[step]?.Catch?.[0];
      expect(catcher?.ResultPath).toBe('$.error');
      const named = definition.States[catcher?.Next ?? ''];
      expect(named).toMatchObject({ Type: 'Pass', Result: step, ResultPath: '$.failedStep' });
      expect(named?.Next).toBe('CleanupAfterFailure');
    }
    expect(stepOf(definition.States.CleanupAfterFailure)).toBe('cleanup');
    // A failed cleanup is recorded too.
    expect(definition.States.CleanupAfterFailure?.Next).toBe('RecordFailed');
    expect(definition.States.CleanupAfterFailure?.Catch?.[0]).toMatchObject({
      Next: 'RecordFailed',
      ResultPath: '$.cleanupError',
    });
    expect(definition.States[definition.States.Cleanup?.Catch?.[0]?.Next ?? '']).toMatchObject({
      Result: 'Cleanup',
      Next: 'RecordFailed',
    });
    expect(stepOf(definition.States.RecordFailed)).toBe('record');
    expect(definition.States.ProbeFailed).toMatchObject({ Type: 'Fail', CausePath: '$.failingStep' });
    expect(definition.States.RecordFailed?.Next).toBe('ProbeFailed');
    // No path from a step's catch reaches the end without the cleanup task and a record task.
    for (const step of ['SignUp', 'Complete', 'VerifyBilling']) {
      const after = reachable(definition.States[step]?.Catch?.[0]?.Next ?? '');
      expect(after.has('CleanupAfterFailure')).toBe(true);
      expect(after.has('RecordPassed')).toBe(false);
    }
  });

  it('logs every event (without execution data, which holds the probe key) and is traced', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: arnOf(logicalId(stack.probe.logGroup)),
            },
          },
        ],
      },
    });
  });

  it('runs every probeIntervalMinutes on EventBridge Scheduler, starting the state machine and nothing else', () => {
    const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule')).find(
      (candidate) =>
        JSON.stringify(candidate.Properties.Target.Arn) ===
        JSON.stringify(ref(logicalId(stack.probe.stateMachine))),
    );
    expect(schedule?.Properties).toMatchObject({ ScheduleExpression: 'rate(6 hours)', State: 'ENABLED' });
    const roleId = schedule?.Properties.Target.RoleArn['Fn::GetAtt'][0] as string;
    names.set(logicalId(stack.probe.stateMachine), 'probeStateMachine');
    expect(roleGrants(template, roleId, names)).toEqual(['states:StartExecution on probeStateMachine']);
  });

  it('lets the state machine invoke the probe function only', () => {
    const roleArn = resources[logicalId(stack.probe.stateMachine)]?.Properties.RoleArn as
      | { 'Fn::GetAtt': string[] }
      | undefined;
    const roleId = roleArn?.['Fn::GetAtt'][0] ?? '';
    const lambdaGrants = roleGrants(template, roleId, names).filter((grant) => grant.startsWith('lambda:'));
    expect(lambdaGrants).toEqual([
      'lambda:InvokeFunction on probeFunction',
      'lambda:InvokeFunction on probeFunction:*',
    ]);
  });

  it('follows probeIntervalMinutes from context in the schedule and the missing-probe alarm', () => {
    const configured = testStack({ probeIntervalMinutes: 30 }).stack;
    const configuredTemplate = Template.fromStack(configured);
    configuredTemplate.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(30 minutes)',
    });
    configuredTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ProbeSuccess',
      Statistic: 'Maximum',
      Period: 1800,
    });
  });
});

describe('outputs', () => {
  it('exports the URLs, the admin function, the dashboard, the table names and the secret name', () => {
    template.hasOutput('ApiUrl', {
      Value: { 'Fn::GetAtt': [logicalId(stack.api.completionsUrl), 'FunctionUrl'] },
    });
    template.hasOutput('ConsoleUrl', {
      Value: {
        'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(stack.api.console.url), 'FunctionUrl'] }, 'console']],
      },
    });
    template.hasOutput('AdminUrl', {
      Value: { 'Fn::GetAtt': [logicalId(stack.api.adminUrl), 'FunctionUrl'] },
    });
    template.hasOutput('DashboardUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
    template.hasOutput('LedgerTableName', { Value: ref(logicalId(stack.tables.ledger.table)) });
    template.hasOutput('RequestLogTableName', { Value: ref(logicalId(stack.tables.requestLog.table)) });
    template.hasOutput('UpstreamSecretName', { Value: Match.anyValue() });
    // What the CLI user's IAM policy names (README, Deploy to AWS).
    template.hasOutput('AdminFunctionArn', { Value: arnOf(logicalId(stack.api.admin.function)) });
  });
});

describe('configuration from context', () => {
  it('flows into the functions, the schedule and log retention', () => {
    const configured = testStack({
      dailySpendCapUsd: '12.5',
      reconcileIntervalMinutes: 10,
      logRetentionDays: '90',
      upstreamBaseUrl: 'https://upstream.example.com/v1/',
    }).stack;
    const configuredTemplate = Template.fromStack(configured);
    const { Resources } = configuredTemplate.toJSON();
    expect(
      Resources[logicalId(configured.api.completions.function)].Properties.Environment.Variables,
    ).toMatchObject({
      UPSTREAM_BASE_URL: 'https://upstream.example.com/v1',
    });
    for (const fn of [configured.api.admin, configured.guardrail.function, configured.usage.reconciler]) {
      expect(Resources[logicalId(fn.function)].Properties.Environment.Variables).toMatchObject({
        DAILY_SPEND_CAP_USD: '12.5',
      });
    }
    configuredTemplate.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(10 minutes)',
    });
    configuredTemplate.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    // The guardrail's state is reported on every reconciler run: its alarm's period follows the schedule.
    configuredTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'GuardrailTripped',
      Period: 600,
    });
  });
});
