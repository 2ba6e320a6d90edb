import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { API_SURFACES } from '../../shared/domain/usage.js';
import { TIER_METRICS } from '../../shared/runtime/metric-names.js';
import {
  alarmsByName,
  arnOf,
  ref,
  resources,
  stack,
  template,
  topicRef,
  useSynthesizedStack,
} from './stack-support.js';
import { logicalId, testStack } from './support.js';
import { renderValue } from './template-metrics.js';

/** Alarms, their topic and the dashboard as synthesized. What they read is checked in metrics-contract.test.ts. */

useSynthesizedStack();

const cloudWatchOnBehalfOfOurAlarms = {
  StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
  ArnLike: { 'aws:SourceArn': Match.anyValue() },
};

describe('alarms', () => {
  it('alarms when a DLQ holds any message', () => {
    for (const [name, queue] of Object.entries(stack.usage.deadLetterQueues)) {
      expect(alarmsByName().get(`${name}DlqNotEmpty`)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it('alarms on the completions error rate from Lambda errors and from the gateway metric', () => {
    const functionRate = alarmsByName().get('CompletionsFunctionErrorRate');
    expect(JSON.stringify(functionRate)).toContain('"MetricName":"Errors","Namespace":"AWS/Lambda"');
    expect(JSON.stringify(functionRate)).toContain(
      JSON.stringify(ref(logicalId(stack.api.completions.function))),
    );
    const gatewayRate = JSON.stringify(alarmsByName().get('CompletionsErrorRate'));
    for (const tier of TIER_IDS) expect(gatewayRate).toContain(`{"Name":"tier","Value":"${tier}"}`);
    expect(gatewayRate).toContain('"MetricName":"Errors","Namespace":"Tiergate"');
    expect(gatewayRate).toContain('"MetricName":"Requests","Namespace":"Tiergate"');
  });

  it('alarms on the rate of 5xx responses, leaving out the guardrail refusals that have their own alarm', () => {
    const alarm = alarmsByName().get('ServerErrorRate') as { Metrics: Array<Record<string, unknown>> };
    expect(alarm).toMatchObject({
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
    });
    const byId = new Map(alarm.Metrics.map((query) => [query.Id, query]));
    expect(byId.get('expr_1')?.Expression).toBe(
      'IF(calls > 0, 100 * (FILL(all5xx, 0) - FILL(refused, 0)) / calls, 0)',
    );
    expect(byId.get('all5xx')?.MetricStat).toMatchObject({
      Metric: {
        Namespace: 'Tiergate',
        MetricName: 'ServerErrors',
        Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      },
      Stat: 'Sum',
    });
    expect(byId.get('refused')?.MetricStat).toMatchObject({
      Metric: {
        MetricName: 'ServerErrors',
        Dimensions: [
          { Name: 'code', Value: 'daily_spend_limit' },
          { Name: 'service', Value: 'tiergate' },
        ],
      },
    });
    expect(byId.get('calls')?.MetricStat).toMatchObject({
      Metric: { Namespace: 'AWS/Lambda', MetricName: 'Invocations' },
      Stat: 'Sum',
    });
  });

  it('alarms for as long as the guardrail is tripped, a late reconciler run keeping the state', () => {
    expect(alarmsByName().get('GuardrailTripped')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'GuardrailTripped',
      Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'ignore',
    });
  });

  it('alarms when the reconciler fails, as a whole or on single holds, on two runs in a row', () => {
    expect(alarmsByName().get('ReconcilerFailing')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      EvaluationPeriods: 2,
    });
    expect(alarmsByName().get('ReconcileHoldsFailing')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'ReconcileFailedHolds',
      Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'ignore',
    });
  });

  it('alarms when a probe run fails, and holds the alarm until one passes', () => {
    expect(alarmsByName().get('ProbeFailed')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'ProbeSuccess',
      Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'ignore',
    });
  });

  it('alarms when no probe passed within two intervals, missing data counting as breaching', () => {
    expect(alarmsByName().get('ProbeMissing')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'ProbeSuccess',
      Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      Statistic: 'Maximum',
      Period: 21600,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it("alarms at once when a probe run ends without recording (failed, timed out, aborted), from Step Functions' own metrics", () => {
    const alarm = alarmsByName().get('ProbeRunFailed') as { Metrics: Array<Record<string, unknown>> };
    expect(alarm).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef()],
    });
    const byId = new Map(alarm.Metrics.map((query) => [query.Id, query]));
    expect(byId.get('expr_1')?.Expression).toBe('FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)');
    const machine = JSON.stringify(ref(logicalId(stack.probe.stateMachine)));
    for (const [id, name] of [
      ['failed', 'ExecutionsFailed'],
      ['timedOut', 'ExecutionsTimedOut'],
      ['aborted', 'ExecutionsAborted'],
    ]) {
      const stat = byId.get(id)?.MetricStat as { Metric: { Namespace: string; MetricName: string } };
      expect(stat.Metric).toMatchObject({ Namespace: 'AWS/States', MetricName: name });
      expect(JSON.stringify(stat.Metric)).toContain(machine);
    }
  });

  it('alarms when late usage records a debt on an account', () => {
    expect(alarmsByName().get('DebtRecorded')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'DebtRecordedMicros',
      Dimensions: [{ Name: 'service', Value: 'tiergate' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [topicRef()],
    });
  });

  it('names every alarm <stack>-<id>, the names the README and the topic policy use', () => {
    expect([...alarmsByName().entries()].map(([id, alarm]) => [id, alarm.AlarmName])).toEqual(
      stack.observability.alarms.map((alarm) => [alarm.node.id, `Tiergate-${alarm.node.id}`]),
    );
  });

  it('sends every alarm, and its recovery, to the topic', () => {
    expect(stack.observability.alarms.length).toBe(12);
    template.resourceCountIs('AWS::CloudWatch::Alarm', stack.observability.alarms.length);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicRef()],
      OKActions: [topicRef()],
    });
  });
});

describe('alarm topic', () => {
  it('lets CloudWatch publish, for this account and its Tiergate-* alarms only, over TLS only', () => {
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.Topics).toEqual([topicRef()]);
    const statements = policies[0]?.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>;
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: topicRef(),
        Condition: expect.objectContaining({ StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } }),
      }),
    ]);
    const allow = statements[1] as { Condition: { ArnLike: { 'aws:SourceArn': never } } };
    const sourceArn = allow.Condition.ArnLike['aws:SourceArn'];
    expect(renderValue(sourceArn)).toBe('arn:<token>:cloudwatch:<token>:<token>:alarm:Tiergate-*');
  });

  it('encrypts the topic with a rotating key CloudWatch may use on behalf of the same alarms', () => {
    const keyId = logicalId(stack.observability.topic.masterKey as never);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(keyId) });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: cloudWatchOnBehalfOfOurAlarms,
          }),
        ]),
      },
    });
    const key = resources[keyId]?.Properties as { KeyPolicy: { Statement: Array<Record<string, unknown>> } };
    const forCloudWatch = key.KeyPolicy.Statement.filter((s) =>
      JSON.stringify(s.Principal).includes('cloudwatch'),
    );
    expect(forCloudWatch).toHaveLength(1);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes the alarm e-mail when one is configured, with the same policies', () => {
    const withEmail = Template.fromStack(testStack({ alarmEmail: 'ops@example.com' }).stack);
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    withEmail.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: cloudWatchOnBehalfOfOurAlarms,
          }),
        ]),
      },
    });
  });
});

describe('dashboard', () => {
  it('has every per-tier metric for every tier', () => {
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    for (const tier of TIER_IDS) expect(body).toContain(`\\"tier\\",\\"${tier}\\"`);
    for (const metric of Object.values(TIER_METRICS)) {
      expect(body).toContain(`\\"Tiergate\\",\\"${metric}\\"`);
    }
  });

  it('breaks requests, failures, tokens, charges and time to first token down by API surface', () => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];
    const body = JSON.parse(renderValue(dashboard?.Properties.DashboardBody)) as {
      widgets: Array<{
        type: string;
        properties: { title?: string; markdown?: string; metrics?: unknown[][] };
      }>;
    };
    const heading = body.widgets.findIndex((w) => w.properties.markdown?.includes('By API surface'));
    const firstTier = body.widgets.findIndex((w) => w.properties.markdown?.startsWith('## tier-1'));
    expect(heading).toBeGreaterThan(0);
    // The row sits above the tiers, right after its heading.
    const row = body.widgets.slice(heading + 1, firstTier);
    expect(row.map((w) => w.properties.title)).toEqual([
      'Requests by API surface',
      'Failed requests by API surface',
      'Tokens by API surface',
      'Charged (USD) and time to first token (ms, p99) by API surface',
    ]);
    const series = (title: string) =>
      (row.find((w) => w.properties.title === title)?.properties.metrics ?? []).map((m) => JSON.stringify(m));
    for (const surface of API_SURFACES) {
      const read = (name: string) => `"Tiergate","${name}","service","tiergate","surface","${surface}"`;
      expect(series('Requests by API surface').some((m) => m.includes(read('Requests')))).toBe(true);
      expect(series('Failed requests by API surface').some((m) => m.includes(read('Errors')))).toBe(true);
      const tokens = series('Tokens by API surface');
      expect(tokens.some((m) => m.includes(read('InputTokens')))).toBe(true);
      expect(tokens.some((m) => m.includes(read('OutputTokens')))).toBe(true);
      const cost = series('Charged (USD) and time to first token (ms, p99) by API surface');
      expect(cost.some((m) => m.includes(read('ChargeMicros')))).toBe(true);
      expect(cost.some((m) => m.includes(read('TtftMs')) && m.includes('"p99"'))).toBe(true);
    }
  });

  it('shows the 5xx rate, the error responses by code and the holds the reconciler failed on', () => {
    const body = renderValue(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody,
    );
    expect(body).toContain('IF(calls > 0, 100 * (FILL(all5xx, 0) - FILL(refused, 0)) / calls, 0)');
    for (const name of ['ServerErrors', 'ClientErrors']) {
      expect(body).toContain(`SEARCH('{Tiergate,code,service} MetricName=\\"${name}\\"', 'Sum', 300)`);
    }
    expect(body).toContain('["Tiergate","ReconcileFailedHolds","service","tiergate"');
  });
});
