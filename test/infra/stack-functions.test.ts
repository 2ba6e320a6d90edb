import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LAMBDA_ENTRIES, type LambdaEntry } from '../../infra/bundling.js';
import type { GatewayFunction } from '../../infra/constructs/gateway-function.js';
import {
  arnOf,
  functions,
  grantsOf,
  names,
  ref,
  resources,
  stack,
  template,
  useSynthesizedStack,
} from './stack-support.js';
import { logicalId, roleGrants } from './support.js';

/** What each function may do and what it is given: its role's grants, its environment, the secrets it reads. */

useSynthesizedStack();

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

  it('guardrail: aggregates on the ledger without deletes, and Query of its own partitions only', () => {
    expect(grantsOf('guardrail')).toEqual(
      [
        ...baseline('guardrail'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:Query on ledger if ForAllValues:StringLike dynamodb:LeadingKeys GUARDRAIL#*',
        'dynamodb:UpdateItem on ledger',
        'sqs:SendMessage on guardrailDlq',
      ].sort(),
    );
  });

  it("reconciler: queries old holds by index and the guardrail's own partitions only, settles them, logs abandoned requests", () => {
    expect(grantsOf('reconciler')).toEqual(
      [
        ...baseline('reconciler'),
        'dynamodb:ConditionCheckItem on ledger',
        'dynamodb:DeleteItem on ledger',
        'dynamodb:GetItem on ledger',
        'dynamodb:PutItem on ledger',
        'dynamodb:UpdateItem on ledger',
        'dynamodb:Query on ledger/index/holds-by-age',
        'dynamodb:Query on ledger if ForAllValues:StringLike dynamodb:LeadingKeys GUARDRAIL#*',
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
    // The action and resource, not a condition's pattern (`GUARDRAIL#*` narrows a grant).
    const wildcards = LAMBDA_ENTRIES.flatMap((entry) => grantsOf(entry)).filter((grant) =>
      (grant.split(' if ')[0] as string).includes('*'),
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
        'lambda:InvokeFunction on adminFunction if Bool lambda:InvokedViaFunctionUrl true',
        'lambda:InvokeFunctionUrl on adminFunction if StringEquals lambda:FunctionUrlAuthType AWS_IAM',
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
