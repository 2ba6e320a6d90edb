import { Aws, Duration, Fn, Stack, Validations } from 'aws-cdk-lib';
import type { CfnFunction, FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import {
  type Chain,
  DefinitionBody,
  Fail,
  type IChainable,
  JitterType,
  JsonPath,
  LogLevel,
  Pass,
  Result,
  StateMachine,
  StateMachineType,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { PROBE_ENV } from '../../shared/probe/env.js';
import type { ProbeStepName } from '../../shared/probe/result.js';
import type { ProbeTaskName } from '../../shared/probe/steps.js';
import type { TiergateConfig } from '../config.js';
import { GatewayFunction } from './gateway-function.js';
import { schedulerRole } from './scheduler-role.js';

/** Lambda's own transient failures: the only errors a probe task retries. A failed check is never retried. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];
export const PROBE_TASK_MAX_ATTEMPTS = 2;
/** Pause between the completions and VerifyBilling: settling takes seconds, and waiting in a Wait state costs nothing. */
export const BILLING_WAIT = Duration.seconds(5);
/** Two completions of up to a minute each, or a minute of billing polls, plus margin. */
export const PROBE_FUNCTION_TIMEOUT = Duration.minutes(3);
const TASK_TIMEOUT = Duration.minutes(4);
const EXECUTION_TIMEOUT = Duration.minutes(20);

export interface SyntheticProbeProps {
  readonly config: TiergateConfig;
  /** The public Function URL, called exactly as a client would (auth NONE: no permission needed). */
  readonly publicUrl: FunctionUrl;
  /** The admin Function URL (AWS_IAM): the probe function signs its calls with its execution role. */
  readonly adminUrl: FunctionUrl;
}

/**
 * The synthetic probe: a Step Functions state machine, one Lambda task per step, started by EventBridge
 * Scheduler every `probeIntervalMinutes`.
 *
 *   Begin → SignUp → Complete → Messages → WaitForBilling → VerifyBilling → Cleanup → RecordPassed
 *
 * Each task retries Lambda's transient errors (bounded) and catches everything else into `$.error`; a Pass state
 * names the failed step, CleanupAfterFailure deletes whatever account exists, RecordFailed records the failure
 * and the execution ends in the ProbeFailed Fail state. The function gets both URLs and may invoke the admin
 * URL, nothing else: no table access, every write goes through the admin API.
 */
export class SyntheticProbe extends Construct {
  readonly function: GatewayFunction;
  readonly stateMachine: StateMachine;
  readonly schedule: Schedule;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: SyntheticProbeProps) {
    super(scope, id);
    const { config } = props;

    this.function = new GatewayFunction(this, 'Probe', {
      entry: 'probe',
      description: 'Tiergate synthetic probe: the steps of the probe state machine',
      logRetention: config.logRetentionDays,
      timeout: PROBE_FUNCTION_TIMEOUT,
      memorySize: 256,
    })
      .bindFunctionUrl(props.publicUrl, PROBE_ENV.publicUrl)
      .bindFunctionUrl(props.adminUrl, PROBE_ENV.adminUrl);

    const task = (id: string, step: ProbeTaskName): LambdaInvoke => {
      const invoke = new LambdaInvoke(this, id, {
        lambdaFunction: this.function.function,
        // Resource is the function ARN itself, so a local executor can map each task to the handler.
        payloadResponseOnly: true,
        payload: TaskInput.fromObject({ step, state: JsonPath.entirePayload }),
        retryOnServiceExceptions: false,
        taskTimeout: Timeout.duration(TASK_TIMEOUT),
      });
      invoke.addRetry({
        errors: LAMBDA_SERVICE_ERRORS,
        maxAttempts: PROBE_TASK_MAX_ATTEMPTS,
        interval: Duration.seconds(2),
        backoffRate: 2,
        jitterStrategy: JitterType.FULL,
      });
      return invoke;
    };
    const caughtInto = '$.error';
    const failedAt = (step: ProbeStepName, next: IChainable): Chain =>
      new Pass(this, `${step}Failed`, { result: Result.fromString(step), resultPath: '$.failedStep' }).next(
        next,
      );

    const notRecorded = new Fail(this, 'ResultNotRecorded', {
      error: 'ProbeResultNotRecorded',
      cause:
        'Recording the probe result failed: /health will turn stale and the ProbeMissing alarm will fire.',
    });
    const probeFailed = new Fail(this, 'ProbeFailed', {
      error: 'ProbeFailed',
      // The recorded result's failing step, e.g. "Complete".
      causePath: '$.failingStep',
    });

    const recordFailed = task('RecordFailed', 'record');
    recordFailed.addCatch(notRecorded, { resultPath: caughtInto });
    const recordFailure = recordFailed.next(probeFailed);

    const cleanupAfterFailure = task('CleanupAfterFailure', 'cleanup');
    cleanupAfterFailure.addCatch(recordFailure, { resultPath: '$.cleanupError' });
    const cleanUpThenRecord = cleanupAfterFailure.next(recordFailure);

    // The state every task and every Catch works on, whatever input the execution was started with.
    const begin = new Pass(this, 'Begin', {
      parameters: { startedAt: JsonPath.stringAt('$$.Execution.StartTime'), steps: [] },
    });
    const signUp = task('SignUp', 'signUp');
    const complete = task('Complete', 'complete');
    const messages = task('Messages', 'messages');
    const verifyBilling = task('VerifyBilling', 'verifyBilling');
    const cleanup = task('Cleanup', 'cleanup');
    const recordPassed = task('RecordPassed', 'record');
    signUp.addCatch(failedAt('SignUp', cleanUpThenRecord), { resultPath: caughtInto });
    complete.addCatch(failedAt('Complete', cleanUpThenRecord), { resultPath: caughtInto });
    messages.addCatch(failedAt('Messages', cleanUpThenRecord), { resultPath: caughtInto });
    verifyBilling.addCatch(failedAt('VerifyBilling', cleanUpThenRecord), { resultPath: caughtInto });
    // Cleanup failed itself: record that, there is nothing left to clean up with.
    cleanup.addCatch(failedAt('Cleanup', recordFailure), { resultPath: caughtInto });
    recordPassed.addCatch(notRecorded, { resultPath: caughtInto });

    const definition = begin
      .next(signUp)
      .next(complete)
      .next(messages)
      .next(new Wait(this, 'WaitForBilling', { time: WaitTime.duration(BILLING_WAIT) }))
      .next(verifyBilling)
      .next(cleanup)
      .next(recordPassed);

    // Under /aws/vendedlogs/: Step Functions then needs no per-log-group resource policy for delivery. The
    // name ends with a piece of the stack id, which is new for every stack created: the group is retained
    // by `cdk destroy`, and a fixed name would make the next deploy of the same stack fail on it.
    const stackIdSuffix = Fn.select(4, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    this.logGroup = new LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${Aws.STACK_NAME}-synthetic-probe-${stackIdSuffix}`,
      retention: config.logRetentionDays,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      comment:
        'Tiergate synthetic probe: sign up, complete (chat, then Messages), verify billing, clean up, record',
      definitionBody: DefinitionBody.fromChainable(definition),
      stateMachineType: StateMachineType.STANDARD,
      timeout: EXECUTION_TIMEOUT,
      tracingEnabled: true,
      // Execution data stays out of the logs: the state carries the throwaway key between SignUp and Cleanup.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });

    const interval = Duration.minutes(config.probeIntervalMinutes);
    const scheduleRole = schedulerRole(
      this,
      'ScheduleRole',
      'Lets EventBridge Scheduler start the Tiergate synthetic probe',
    );
    this.schedule = new Schedule(this, 'Schedule', {
      description: 'Runs the Tiergate synthetic probe',
      schedule: ScheduleExpression.rate(interval),
      target: new StepFunctionsStartExecution(this.stateMachine, {
        role: scheduleRole,
        input: ScheduleTargetInput.fromObject({ trigger: 'schedule' }),
        // A run that could not start is covered by the next one.
        retryAttempts: 2,
        maxEventAge: interval,
      }),
    });

    const functionLogicalId = Stack.of(this).getLogicalId(
      this.function.function.node.defaultChild as CfnFunction,
    );
    Validations.of(this.stateMachine).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Step Functions log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, ' +
          'DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, ' +
          'DescribeLogGroups) and X-Ray tracing support no resource-level permissions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${functionLogicalId}.Arn>:*]`,
        reason:
          'lambda:InvokeFunction as LambdaInvoke grants it: the probe function and its own qualified ARNs ' +
          '(versions and aliases, the ":*"). No other function is reachable.',
      },
    );
  }
}
