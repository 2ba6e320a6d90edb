import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { LambdaEntry } from '../../infra/bundling.js';
import { RELEASE_RECORD_TTL_DAYS } from '../../shared/billing/late-usage.js';
import { USAGE_RULES } from '../../shared/events/rules.js';
import { LEDGER_TABLE, REQUEST_LOG_TABLE } from '../../shared/tables.js';
import { arnOf, functions, ref, resources, stack, template, useSynthesizedStack } from './stack-support.js';
import { logicalId } from './support.js';

/** The resources around the functions: their URLs, the tables, the usage pipeline, and what a redeploy meets. */

useSynthesizedStack();

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
        AllowHeaders: Match.arrayWith([
          'authorization',
          'content-type',
          'idempotency-key',
          'x-api-key',
          'anthropic-version',
          'anthropic-beta',
          'anthropic-dangerous-direct-browser-access',
          // Sent by the official SDKs on every request, from a browser too.
          'x-stainless-os',
          'x-stainless-lang',
          'x-stainless-package-version',
          'x-stainless-retry-count',
          'x-stainless-timeout',
        ]),
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
          'x-wallet-output-cap',
          'idempotent-replayed',
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
