import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENTRIES, type LambdaEntry } from '../../infra/bundling.js';
import type { GatewayFunction } from '../../infra/constructs/gateway-function.js';
import type { TiergateStack } from '../../infra/tiergate-stack.js';
import { RELEASE_RECORD_TTL_DAYS } from '../../shared/billing/late-usage.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { USAGE_RULES } from '../../shared/events/rules.js';
import { LEDGER_TABLE, REQUEST_LOG_TABLE } from '../../shared/tables.js';
import {
  type AslState,
  logicalId,
  placeholderFunctionArn,
  removeTestOutput,
  roleGrants,
  type StateMachineDefinition,
  stateMachineDefinition,
  testStack,
} from './support.js';

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
    probe: stack.probe.function,
    console: stack.api.console.function,
  };
  names = new Map([
    [logicalId(stack.tables.ledger.table), 'ledger'],
    [logicalId(stack.tables.requestLog.table), 'requestLog'],
    [logicalId(stack.usage.bus), 'bus'],
    [logicalId(stack.api.upstreamKeySecret), 'secret'],
    [logicalId(stack.api.toolCallIdSecret), 'toolCallIdSecret'],
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
        'dynamodb:Query on requestLog',
        'dynamodb:UpdateItem on ledger',
        'events:PutEvents on bus',
        'secretsmanager:GetSecretValue on secret',
        'secretsmanager:GetSecretValue on toolCallIdSecret',
      ].sort(),
    );
  });

  it('completions can neither delete, scan, nor write the request log, and reads no secret but its own two', () => {
    const grants = grantsOf('completions');
    for (const forbidden of ['dynamodb:DeleteItem', 'dynamodb:DeleteTable', 'dynamodb:Scan', 'dynamodb:*']) {
      expect(grants.filter((grant) => grant.startsWith(`${forbidden} `))).toEqual([]);
    }
    // A key holder's own usage: a Query of the base table (by account), no index, no item access.
    expect(grants.filter((grant) => grant.includes('requestLog'))).toEqual(['dynamodb:Query on requestLog']);
    expect(grants.filter((grant) => grant.startsWith('secretsmanager:'))).toEqual([
      'secretsmanager:GetSecretValue on secret',
      'secretsmanager:GetSecretValue on toolCallIdSecret',
    ]);
  });

  it("console: reads the public API function's URL configuration, nothing else", () => {
    expect(grantsOf('console')).toEqual(
      [...baseline('console'), 'lambda:GetFunctionUrlConfig on completionsFunction'].sort(),
    );
  });

  it('admin: ledger read/write, request log read-only', () => {
    expect(grantsOf('admin')).toEqual(
      [
        ...baseline('admin'),
        'dynamodb:BatchGetItem on ledger',
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
    const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule')).find(
      (candidate) =>
        JSON.stringify(candidate.Properties.Target.Arn) ===
        JSON.stringify(arnOf(logicalId(functions.reconciler.function))),
    );
    const scheduleRoleId = schedule?.Properties.Target.RoleArn['Fn::GetAtt'][0] as string;
    expect(roleGrants(template, scheduleRoleId, names)).toEqual([
      'lambda:InvokeFunction on reconcilerFunction',
      'lambda:InvokeFunction on reconcilerFunction:*',
    ]);
  });

  it('probe: may call the admin URL, only through the URL, and touches no table, bus or secret', () => {
    expect(grantsOf('probe')).toEqual(
      [
        ...baseline('probe'),
        'lambda:InvokeFunction on adminFunction',
        'lambda:InvokeFunctionUrl on adminFunction',
      ].sort(),
    );
    // Both conditioned to the IAM-authenticated URL: the probe cannot invoke the admin function directly.
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) =>
        (policy.Properties.Roles as { Ref?: string }[]).some(
          (role) => role.Ref === logicalId(functions.probe.role),
        ),
      )
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Record<string, unknown>[])
      .filter((statement) => String(statement.Action).startsWith('lambda:'));
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: 'lambda:InvokeFunctionUrl',
          Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        expect.objectContaining({
          Action: 'lambda:InvokeFunction',
          Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } },
        }),
      ]),
    );
    expect(statements).toHaveLength(2);
    expect(grantsOf('probe').filter((grant) => /^(dynamodb|events|secretsmanager|sqs):/.test(grant))).toEqual(
      [],
    );
  });
});

describe('Function URLs', () => {
  it('serves the public API unauthenticated at the URL (the handler checks keys), streaming, with CORS', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      TargetFunctionArn: arnOf(logicalId(functions.completions.function)),
      AuthType: 'NONE',
      InvokeMode: 'RESPONSE_STREAM',
      Cors: {
        // The console's origin alone: https:// and the host of its Function URL.
        AllowOrigins: [
          {
            'Fn::Join': [
              '',
              [
                'https://',
                {
                  'Fn::Select': [
                    2,
                    {
                      'Fn::Split': ['/', { 'Fn::GetAtt': [logicalId(stack.api.console.url), 'FunctionUrl'] }],
                    },
                  ],
                },
              ],
            ],
          },
        ],
        AllowMethods: Match.arrayEquals(['POST', 'GET']),
        AllowHeaders: [
          'authorization',
          'content-type',
          'x-api-key',
          'anthropic-version',
          'anthropic-beta',
          'anthropic-dangerous-direct-browser-access',
        ],
        AllowCredentials: false,
        ExposeHeaders: Match.arrayWith([
          'request-id',
          'x-request-id',
          'x-tier',
          'x-tier-route',
          'x-ratelimit-remaining-requests',
          'x-ratelimit-remaining-tokens',
          'anthropic-ratelimit-requests-remaining',
          'anthropic-ratelimit-requests-reset',
          'anthropic-ratelimit-tokens-remaining',
          'retry-after',
        ]),
      },
    });
  });

  it('serves the admin API with AWS_IAM auth', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      TargetFunctionArn: arnOf(logicalId(functions.admin.function)),
      AuthType: 'AWS_IAM',
    });
  });

  it('serves the console from a URL of its own, without CORS (the page calls the API, not the other way)', () => {
    const consoleUrl = resources[logicalId(stack.api.console.url)];
    expect(consoleUrl?.Properties).toEqual({
      TargetFunctionArn: arnOf(logicalId(functions.console.function)),
      AuthType: 'NONE',
    });
  });

  it('has exactly two public URLs: the API and the console page', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url'));
    expect(urls).toHaveLength(3);
    const publicTargets = urls
      .filter((url) => url.Properties.AuthType === 'NONE')
      .map((url) => url.Properties.TargetFunctionArn);
    expect(publicTargets).toHaveLength(2);
    expect(publicTargets).toEqual(
      expect.arrayContaining([
        arnOf(logicalId(functions.console.function)),
        arnOf(logicalId(functions.completions.function)),
      ]),
    );
    const publicPermissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (permission) => permission.Properties.Principal === '*',
    );
    // On those two only.
    const permissions = publicPermissions.map((permission) => permission.Properties);
    expect(permissions).toHaveLength(4);
    // Both permissions a public URL needs (InvokeFunction only when it comes through the URL).
    const publicUrlPermissions = (entry: LambdaEntry) => [
      {
        Action: 'lambda:InvokeFunctionUrl',
        FunctionName: arnOf(logicalId(functions[entry].function)),
        FunctionUrlAuthType: 'NONE',
        Principal: '*',
      },
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(logicalId(functions[entry].function)),
        InvokedViaFunctionUrl: true,
        Principal: '*',
      },
    ];
    expect(permissions).toEqual(
      expect.arrayContaining([...publicUrlPermissions('console'), ...publicUrlPermissions('completions')]),
    );
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

  it('keeps release records as long as the archive can replay usage into billing', () => {
    const archive = Object.values(template.findResources('AWS::Events::Archive'))[0];
    expect(RELEASE_RECORD_TTL_DAYS).toBeGreaterThanOrEqual(Number(archive?.Properties.RetentionDays));
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
      Handler: 'handler.handler',
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
        'EVENT_BUS_NAME',
        'LEDGER_TABLE_NAME',
        'PROBE_INTERVAL_MINUTES',
        'REQUEST_LOG_TABLE_NAME',
        'TOOL_CALL_ID_SECRET_ARN',
        'UPSTREAM_API_KEY_SECRET_ARN',
        'UPSTREAM_BASE_URL',
      ].sort(),
    );
    expect(envNames('admin')).toEqual(
      [...common, 'DAILY_SPEND_CAP_USD', 'LEDGER_TABLE_NAME', 'REQUEST_LOG_TABLE_NAME'].sort(),
    );
    expect(envNames('billing')).toEqual([...common, 'LEDGER_TABLE_NAME', 'REQUEST_LOG_TABLE_NAME'].sort());
    expect(envNames('guardrail')).toEqual([...common, 'DAILY_SPEND_CAP_USD', 'LEDGER_TABLE_NAME'].sort());
    expect(envNames('reconciler')).toEqual(
      [...common, 'DAILY_SPEND_CAP_USD', 'LEDGER_TABLE_NAME', 'REQUEST_LOG_TABLE_NAME'].sort(),
    );
    expect(envNames('probe')).toEqual([...common, 'PROBE_ADMIN_URL', 'PROBE_PUBLIC_URL'].sort());
    expect(envNames('console')).toEqual([...common, 'PUBLIC_FUNCTION_NAME'].sort());
    expect(environmentOf(functions.console)).toMatchObject({
      PUBLIC_FUNCTION_NAME: ref(logicalId(functions.completions.function)),
    });
    expect(environmentOf(functions.probe)).toMatchObject({
      PROBE_PUBLIC_URL: { 'Fn::GetAtt': [logicalId(stack.api.completionsUrl), 'FunctionUrl'] },
      PROBE_ADMIN_URL: { 'Fn::GetAtt': [logicalId(stack.api.adminUrl), 'FunctionUrl'] },
    });
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

describe('tool-call id key', () => {
  it('is a secret of its own, generated by the stack, not derived from the upstream key', () => {
    const secret = resources[logicalId(stack.api.toolCallIdSecret)]?.Properties;
    expect(secret).toMatchObject({
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
    });
    expect(secret).not.toHaveProperty('SecretString');
    expect(logicalId(stack.api.toolCallIdSecret)).not.toBe(logicalId(stack.api.upstreamKeySecret));
  });

  it('reaches completions alone, as an ARN, and only completions may read it', () => {
    const secretRef = ref(logicalId(stack.api.toolCallIdSecret));
    for (const [entry, fn] of Object.entries(functions) as Array<[LambdaEntry, GatewayFunction]>) {
      const variables = environmentOf(fn);
      expect(Object.keys(variables)).not.toContain('TOOL_CALL_ID_SECRET');
      const reads = grantsOf(entry).filter((grant) => grant.endsWith(' on toolCallIdSecret'));
      if (entry === 'completions') {
        expect(variables).toHaveProperty('TOOL_CALL_ID_SECRET_ARN', secretRef);
        expect(reads).toEqual(['secretsmanager:GetSecretValue on toolCallIdSecret']);
      } else {
        expect(variables).not.toHaveProperty('TOOL_CALL_ID_SECRET_ARN');
        expect(reads).toEqual([]);
      }
    }
    expect(() => functions.completions.setEnvironment('TOOL_CALL_ID_SECRET', 'x')).toThrow(/use bindSecret/);
  });
});

describe('destroy, then deploy again', () => {
  /**
   * Properties that name a resource in its account and region: a fixed value collides with a leftover.
   * Alarm names are exempt: alarms are never retained, and the topic policy scopes CloudWatch to them by name.
   */
  const PHYSICAL_NAMES = [
    'Name',
    'TableName',
    'LogGroupName',
    'TopicName',
    'QueueName',
    'FunctionName',
    'RoleName',
    'ManagedPolicyName',
    'StateMachineName',
    'BucketName',
    'DashboardName',
    'ArchiveName',
    'SecretName',
    'AliasName',
  ];
  /** Pseudo parameters that are the same for the next stack of the same name. */
  const SAME_NEXT_TIME = new Set([
    'AWS::StackName',
    'AWS::Region',
    'AWS::AccountId',
    'AWS::Partition',
    'AWS::URLSuffix',
  ]);

  /** True when the value would come out the same for a new stack: literals and stable pseudo parameters only. */
  function fixed(value: unknown): boolean {
    if (typeof value === 'string' || typeof value === 'number') return true;
    if (Array.isArray(value)) return value.every(fixed);
    if (value === null || typeof value !== 'object') return true;
    const [fn, args] = Object.entries(value)[0] ?? [];
    if (fn === 'Ref') return SAME_NEXT_TIME.has(String(args));
    if (fn === 'Fn::GetAtt' || fn === 'Fn::ImportValue') return false;
    return fixed(args);
  }

  it('no resource has a fixed physical name, so a leftover (e.g. a retained log group) never blocks it', () => {
    const fixedNames: string[] = [];
    for (const [id, resource] of Object.entries(resources)) {
      for (const key of PHYSICAL_NAMES) {
        const value = resource.Properties?.[key];
        if (value === undefined || !fixed(value)) continue;
        // CloudFormation requires a bus name; the bus is deleted with the stack, so it leaves nothing behind.
        if (resource.Type === 'AWS::Events::EventBus' && key === 'Name') {
          expect(resource.DeletionPolicy ?? 'Delete').toBe('Delete');
          continue;
        }
        fixedNames.push(`${resource.Type} ${id}.${key} = ${JSON.stringify(value)}`);
      }
    }
    expect(fixedNames).toEqual([]);
  });

  it('names the retained probe log group with a piece of the stack id, keeping the vendedlogs prefix', () => {
    const group = resources[logicalId(stack.probe.logGroup)];
    expect(group?.DeletionPolicy).toBe('Retain');
    const name = JSON.stringify(group?.Properties.LogGroupName);
    expect(name).toContain('/aws/vendedlogs/states/');
    expect(name).toContain('"Ref":"AWS::StackId"');
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
      AlarmActions: [topicRef()],
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
      AlarmActions: [topicRef()],
      OKActions: [topicRef()],
    });
  });
});

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
