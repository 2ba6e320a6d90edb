import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENTRIES, type LambdaEntry } from '../../infra/bundling.js';
import type { GatewayFunction } from '../../infra/constructs/gateway-function.js';
import type { TiergateStack } from '../../infra/tiergate-stack.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { USAGE_RULES } from '../../shared/events/rules.js';
import { LEDGER_TABLE, REQUEST_LOG_TABLE } from '../../shared/tables.js';
import { logicalId, removeTestOutput, roleGrants, testStack } from './support.js';

let stack: TiergateStack;
let template: Template;
let resources: Record<
  string,
  { Type: string; Properties: Record<string, unknown> } & Record<string, unknown>
>;
let names: Map<string, string>;
let functions: Record<LambdaEntry, GatewayFunction>;

beforeAll(() => {
  stack = testStack().stack;
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
  functions = {
    completions: stack.api.completions,
    admin: stack.api.admin,
    billing: stack.usage.billing,
    guardrail: stack.guardrail.function,
    reconciler: stack.usage.reconciler,
  };
  names = new Map([
    [logicalId(stack.tables.ledger.table), 'ledger'],
    [logicalId(stack.tables.requestLog.table), 'requestLog'],
    [logicalId(stack.usage.bus), 'bus'],
    [logicalId(stack.api.upstreamKeySecret), 'secret'],
    [logicalId(stack.usage.deadLetterQueues.billing), 'billingDlq'],
    [logicalId(stack.usage.deadLetterQueues.guardrail), 'guardrailDlq'],
  ]);
  for (const [entry, fn] of Object.entries(functions)) {
    names.set(logicalId(fn.logGroup), `${entry}Logs`);
    names.set(logicalId(fn.function), `${entry}Function`);
  }
});

afterAll(removeTestOutput);

const grantsOf = (entry: LambdaEntry) => roleGrants(template, logicalId(functions[entry].role), names);
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const environmentOf = (fn: GatewayFunction): Record<string, unknown> => {
  const environment = resources[logicalId(fn.function)]?.Properties.Environment as
    | { Variables: Record<string, unknown> }
    | undefined;
  if (environment === undefined) throw new Error(`${fn.node.path} has no environment`);
  return environment.Variables;
};
/** Every function may write its own logs and traces; nothing else is common to all of them. */
const baseline = (entry: LambdaEntry) => [
  `logs:CreateLogStream on ${entry}Logs`,
  `logs:PutLogEvents on ${entry}Logs`,
  'xray:PutTelemetryRecords on *',
  'xray:PutTraceSegments on *',
];

describe('IAM: least privilege per function', () => {
  it('completions: reads and holds on the ledger, publishes to the bus, reads the key: nothing more', () => {
    expect(grantsOf('completions')).toEqual(
      [
        ...baseline('completions'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:Query on ledger',
        'dynamodb:UpdateItem on ledger',
        'events:PutEvents on bus',
        'secretsmanager:DescribeSecret on secret',
        'secretsmanager:GetSecretValue on secret',
      ].sort(),
    );
  });

  it('completions can neither delete, scan, nor touch the request log, and reads no secret but its own', () => {
    const grants = grantsOf('completions');
    for (const forbidden of ['dynamodb:DeleteItem', 'dynamodb:DeleteTable', 'dynamodb:Scan', 'dynamodb:*']) {
      expect(grants.filter((grant) => grant.startsWith(`${forbidden} `))).toEqual([]);
    }
    expect(grants.filter((grant) => grant.includes('requestLog'))).toEqual([]);
    expect(grants.filter((grant) => grant.startsWith('secretsmanager:GetSecretValue '))).toEqual([
      'secretsmanager:GetSecretValue on secret',
    ]);
  });

  it('admin: ledger read/write, request log read-only', () => {
    expect(grantsOf('admin')).toEqual(
      [
        ...baseline('admin'),
        'dynamodb:BatchWriteItem on ledger',
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:DeleteItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:UpdateItem on ledger',
        'dynamodb:Query on ledger',
        'dynamodb:Query on ledger/index/holds-by-age',
        'dynamodb:GetItem on requestLog',
        'dynamodb:Query on requestLog',
        'dynamodb:Query on requestLog/index/by-day',
      ].sort(),
    );
  });

  it('billing: settles holds and writes the request log', () => {
    expect(grantsOf('billing')).toEqual(
      [
        ...baseline('billing'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:DeleteItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:UpdateItem on ledger',
        'dynamodb:PutItem on requestLog',
        'dynamodb:UpdateItem on requestLog',
        'sqs:SendMessage on billingDlq',
      ].sort(),
    );
  });

  it('guardrail: aggregates on the ledger without deletes', () => {
    expect(grantsOf('guardrail')).toEqual(
      [
        ...baseline('guardrail'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:UpdateItem on ledger',
        'sqs:SendMessage on guardrailDlq',
      ].sort(),
    );
  });

  it('reconciler: queries old holds by index only, settles them, logs abandoned requests', () => {
    expect(grantsOf('reconciler')).toEqual(
      [
        ...baseline('reconciler'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:DeleteItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:UpdateItem on ledger',
        'dynamodb:Query on ledger/index/holds-by-age',
        'dynamodb:PutItem on requestLog',
      ].sort(),
    );
  });

  it('only billing and the reconciler (and the SigV4 admin API) can delete ledger items, i.e. settle holds', () => {
    // Admin also deletes (accounts and keys, DESIGN §7) behind SigV4; IAM cannot tell a hold item from others.
    const deleters = LAMBDA_ENTRIES.filter((entry) =>
      grantsOf(entry).includes('dynamodb:DeleteItem on ledger'),
    );
    expect(deleters.sort()).toEqual(['admin', 'billing', 'reconciler']);
  });

  it('grants "*" only for X-Ray, which has no resource-level permissions', () => {
    const wildcards = LAMBDA_ENTRIES.flatMap((entry) => grantsOf(entry)).filter((grant) =>
      grant.includes('*'),
    );
    expect(new Set(wildcards)).toEqual(
      new Set(['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *']),
    );
  });

  it('attaches no managed policy to any role', () => {
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('lets the scheduler invoke the reconciler and nothing else', () => {
    const scheduleRoleId = template.toJSON().Resources[
      Object.keys(template.findResources('AWS::Scheduler::Schedule'))[0] ?? ''
    ].Properties.Target.RoleArn['Fn::GetAtt'][0] as string;
    expect(roleGrants(template, scheduleRoleId, names)).toEqual([
      'lambda:InvokeFunction on reconcilerFunction',
      'lambda:InvokeFunction on reconcilerFunction:*',
    ]);
  });
});

describe('Function URLs', () => {
  it('serves the public API unauthenticated at the URL (the handler checks keys), streaming, with CORS', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      TargetFunctionArn: arnOf(logicalId(functions.completions.function)),
      AuthType: 'NONE',
      InvokeMode: 'RESPONSE_STREAM',
      Cors: {
        AllowOrigins: ['*'],
        AllowMethods: Match.arrayEquals(['POST', 'GET']),
        AllowHeaders: ['authorization', 'content-type'],
        AllowCredentials: false,
        ExposeHeaders: Match.arrayWith(['x-request-id', 'x-tier', 'retry-after']),
      },
    });
  });

  it('serves the admin API with AWS_IAM auth', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      TargetFunctionArn: arnOf(logicalId(functions.admin.function)),
      AuthType: 'AWS_IAM',
    });
  });

  it('has exactly one public URL: the completions one', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url'));
    expect(urls).toHaveLength(2);
    expect(
      urls.filter((url) => url.Properties.AuthType === 'NONE').map((url) => url.Properties.TargetFunctionArn),
    ).toEqual([arnOf(logicalId(functions.completions.function))]);
    const publicPermissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (permission) => permission.Properties.Principal === '*',
    );
    // Both permissions a public URL needs (InvokeFunction only when it comes through the URL), on completions only.
    expect(publicPermissions.map((permission) => permission.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunctionUrl',
        FunctionName: arnOf(logicalId(functions.completions.function)),
        FunctionUrlAuthType: 'NONE',
        Principal: '*',
      },
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(logicalId(functions.completions.function)),
        InvokedViaFunctionUrl: true,
        Principal: '*',
      },
    ]);
  });
});

describe('tables', () => {
  it('the ledger is on-demand, recoverable, deletion-protected and retained, with its TTL and index', () => {
    const ledger = resources[logicalId(stack.tables.ledger.table)];
    expect(ledger).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: LEDGER_TABLE.timeToLiveAttribute, Enabled: true },
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'holds-by-age',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
          },
        ],
      },
    });
  });

  it('the request log expires items by TTL, is recoverable, and has its by-day index', () => {
    const requestLog = resources[logicalId(stack.tables.requestLog.table)];
    expect(requestLog).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        TimeToLiveSpecification: { AttributeName: REQUEST_LOG_TABLE.timeToLiveAttribute, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        GlobalSecondaryIndexes: [{ IndexName: 'by-day' }],
      },
    });
  });
});

describe('usage pipeline', () => {
  it('has one rule per shared rule definition, on the usage bus, with the shared pattern', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(USAGE_RULES.length);
    for (const definition of USAGE_RULES) {
      const rule = rules.find((candidate) => candidate.Properties.Description === definition.description);
      expect(rule?.Properties).toMatchObject({
        EventBusName: ref(logicalId(stack.usage.bus)),
        EventPattern: definition.pattern,
        State: 'ENABLED',
        Targets: [{ Arn: arnOf(logicalId(functions[definition.target].function)) }],
      });
    }
  });

  it('gives every rule target a DLQ and a 24 h retry policy', () => {
    const targets = Object.values(template.findResources('AWS::Events::Rule')).flatMap(
      (rule) => rule.Properties.Targets as Record<string, unknown>[],
    );
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      expect(target).toMatchObject({
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.stringMatching(/Dlq/), 'Arn'] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
      });
    }
  });

  it('encrypts the DLQs and refuses non-TLS access to them', () => {
    for (const queue of Object.values(stack.usage.deadLetterQueues)) {
      expect(resources[logicalId(queue)]?.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    }
    template.resourcePropertiesCountIs(
      'AWS::SQS::QueuePolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      Object.keys(stack.usage.deadLetterQueues).length,
    );
  });

  it('sends failed async invocations of billing and the guardrail to their DLQ', () => {
    for (const consumer of ['billing', 'guardrail'] as const) {
      expect(resources[logicalId(functions[consumer].function)]?.Properties.DeadLetterConfig).toEqual({
        TargetArn: arnOf(logicalId(stack.usage.deadLetterQueues[consumer])),
      });
    }
  });

  it('archives usage events for replay', () => {
    template.hasResourceProperties('AWS::Events::Archive', {
      SourceArn: arnOf(logicalId(stack.usage.bus)),
      EventPattern: { source: ['tiergate'] },
      RetentionDays: 90,
    });
  });

  it('runs the reconciler every 5 minutes on EventBridge Scheduler', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Target: { Arn: arnOf(logicalId(functions.reconciler.function)) },
    });
  });
});

describe('functions', () => {
  it('are all Node.js 22 on arm64, traced, logging to their own group', () => {
    template.resourceCountIs('AWS::Lambda::Function', LAMBDA_ENTRIES.length);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: Match.objectLike({ Ref: Match.anyValue() }) },
      Environment: {
        Variables: Match.objectLike({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'tiergate',
          POWERTOOLS_METRICS_NAMESPACE: 'Tiergate',
        }),
      },
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('gives completions the 15-minute timeout reasoning models need, and the abort margin', () => {
    expect(resources[logicalId(functions.completions.function)]?.Properties).toMatchObject({
      Timeout: 900,
      Environment: { Variables: { ABORT_MARGIN_MS: '10000' } },
    });
  });

  it('sets exactly the environment each function needs', () => {
    const envNames = (entry: LambdaEntry) => Object.keys(environmentOf(functions[entry])).sort();
    const common = ['NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME'];
    expect(envNames('completions')).toEqual(
      [
        ...common,
        'ABORT_MARGIN_MS',
        'DAILY_SPEND_CAP_USD',
        'EVENT_BUS_NAME',
        'LEDGER_TABLE_NAME',
        'PROBE_INTERVAL_MINUTES',
        'UPSTREAM_API_KEY_SECRET_ARN',
        'UPSTREAM_BASE_URL',
      ].sort(),
    );
    expect(envNames('admin')).toEqual(
      [
        ...common,
        'DAILY_SPEND_CAP_USD',
        'LEDGER_TABLE_NAME',
        'PROBE_INTERVAL_MINUTES',
        'REQUEST_LOG_TABLE_NAME',
      ].sort(),
    );
    expect(envNames('billing')).toEqual([...common, 'LEDGER_TABLE_NAME', 'REQUEST_LOG_TABLE_NAME'].sort());
    expect(envNames('guardrail')).toEqual([...common, 'DAILY_SPEND_CAP_USD', 'LEDGER_TABLE_NAME'].sort());
    expect(envNames('reconciler')).toEqual(
      [...common, 'DAILY_SPEND_CAP_USD', 'LEDGER_TABLE_NAME', 'REQUEST_LOG_TABLE_NAME'].sort(),
    );
  });
});

describe('upstream API key', () => {
  it('is never in an environment variable: functions get the secret ARN, and only completions', () => {
    const secretRef = ref(logicalId(stack.api.upstreamKeySecret));
    for (const [entry, fn] of Object.entries(functions)) {
      const variables = environmentOf(fn);
      expect(Object.keys(variables)).not.toContain('UPSTREAM_API_KEY');
      if (entry === 'completions') expect(variables).toHaveProperty('UPSTREAM_API_KEY_SECRET_ARN', secretRef);
      else expect(variables).not.toHaveProperty('UPSTREAM_API_KEY_SECRET_ARN');
    }
  });

  it('cannot be put into an environment variable by mistake', () => {
    expect(() => functions.completions.setEnvironment('UPSTREAM_API_KEY', 'sk-test')).toThrow(
      /use bindSecret/,
    );
  });

  it('is never in the template: the secret starts with a generated placeholder', () => {
    const secret = resources[logicalId(stack.api.upstreamKeySecret)]?.Properties;
    expect(secret).toHaveProperty('GenerateSecretString');
    expect(secret).not.toHaveProperty('SecretString');
  });
});

describe('observability', () => {
  const topicRef = () => ref(logicalId(stack.observability.topic));
  const alarmsByName = () => {
    const byName = new Map<string, Record<string, unknown>>();
    for (const alarm of stack.observability.alarms) {
      byName.set(alarm.node.id, resources[logicalId(alarm)]?.Properties ?? {});
    }
    return byName;
  };

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
      JSON.stringify(ref(logicalId(functions.completions.function))),
    );
    const gatewayRate = JSON.stringify(alarmsByName().get('CompletionsErrorRate'));
    for (const tier of TIER_IDS) expect(gatewayRate).toContain(`{"Name":"tier","Value":"${tier}"}`);
    expect(gatewayRate).toContain('"MetricName":"Errors","Namespace":"Tiergate"');
    expect(gatewayRate).toContain('"MetricName":"Requests","Namespace":"Tiergate"');
  });

  it('alarms when the guardrail trips', () => {
    expect(alarmsByName().get('GuardrailTripped')).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'GuardrailTripped',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('sends every alarm, and its recovery, to the topic', () => {
    expect(stack.observability.alarms.length).toBeGreaterThanOrEqual(6);
    template.resourceCountIs('AWS::CloudWatch::Alarm', stack.observability.alarms.length);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicRef()],
      OKActions: [topicRef()],
    });
  });

  it('encrypts the alarm topic with a rotating key CloudWatch may use, and requires TLS', () => {
    const keyId = Object.keys(template.findResources('AWS::KMS::Key'))[0] ?? '';
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(keyId) });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes the alarm e-mail when one is configured', () => {
    const withEmail = Template.fromStack(testStack({ alarmEmail: 'ops@example.com' }).stack);
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('has a dashboard with every per-tier metric for every tier', () => {
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    for (const tier of TIER_IDS) expect(body).toContain(`\\"tier\\",\\"${tier}\\"`);
    for (const metric of [
      'Requests',
      'InputTokens',
      'OutputTokens',
      'ChargeMicros',
      'UpstreamCostMicros',
      'LatencyMs',
      'TtftMs',
      'Errors',
    ]) {
      expect(body).toContain(`\\"Tiergate\\",\\"${metric}\\"`);
    }
  });

  it('creates no probe alarm until the probe hooks one up', () => {
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('ProbeSuccess');
  });

  it('addProbeAlarm: a failed or missing probe run within one interval alarms', () => {
    const probed = testStack().stack;
    const alarm = probed.observability.addProbeAlarm(360);
    const props = Template.fromStack(probed).toJSON().Resources[logicalId(alarm)].Properties;
    expect(props).toMatchObject({
      Namespace: 'Tiergate',
      MetricName: 'ProbeSuccess',
      Statistic: 'Minimum',
      Period: 21600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [ref(logicalId(probed.observability.topic))],
    });
  });
});

describe('outputs', () => {
  it('exports the URLs, the dashboard, the table names and the secret name', () => {
    template.hasOutput('ApiUrl', {
      Value: { 'Fn::GetAtt': [logicalId(stack.api.completionsUrl), 'FunctionUrl'] },
    });
    template.hasOutput('AdminUrl', {
      Value: { 'Fn::GetAtt': [logicalId(stack.api.adminUrl), 'FunctionUrl'] },
    });
    template.hasOutput('DashboardUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
    template.hasOutput('LedgerTableName', { Value: ref(logicalId(stack.tables.ledger.table)) });
    template.hasOutput('RequestLogTableName', { Value: ref(logicalId(stack.tables.requestLog.table)) });
    template.hasOutput('UpstreamSecretName', { Value: Match.anyValue() });
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
    const completions = configuredTemplate.toJSON().Resources[logicalId(configured.api.completions.function)];
    expect(completions.Properties.Environment.Variables).toMatchObject({
      DAILY_SPEND_CAP_USD: '12.5',
      UPSTREAM_BASE_URL: 'https://upstream.example.com/v1',
    });
    configuredTemplate.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(10 minutes)',
    });
    configuredTemplate.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });
});
