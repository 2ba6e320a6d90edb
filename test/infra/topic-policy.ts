import type { Template } from 'aws-cdk-lib/assertions';
import { renderValue, TOKEN } from './template-metrics.js';

/**
 * Whether CloudWatch may deliver an alarm's notification to an SNS topic of the template: the topic policy lets
 * `cloudwatch.amazonaws.com` publish on behalf of this account's alarm, no Deny gets in the way, and when the
 * topic is encrypted, the key policy lets CloudWatch use the key under the same conditions. Returns the
 * problems found; none means the alarm reaches the topic.
 */

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

interface Statement {
  Effect: 'Allow' | 'Deny';
  Principal?: Json;
  Action: string | string[];
  Resource?: Json;
  Condition?: Record<string, Record<string, Json>>;
}

const CLOUDWATCH = 'cloudwatch.amazonaws.com';
const ACCOUNT = { Ref: 'AWS::AccountId' };

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function namesCloudWatch(principal: Json | undefined): boolean {
  if (principal === '*') return true;
  if (principal === null || typeof principal !== 'object' || Array.isArray(principal)) return false;
  return list(principal.Service as Json).includes(CLOUDWATCH);
}

/** IAM wildcard matching for ArnLike / StringLike: `*` any run of characters, `?` one character. */
function like(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(value);
}

/**
 * Problems with a statement's conditions for a publication by `alarmArn`: it must be scoped to this account
 * (aws:SourceAccount), an aws:SourceArn condition must match the alarm, and nothing else may be required.
 */
function conditionProblems(statement: Statement, alarmArn: string): string[] {
  const problems: string[] = [];
  let scopedToAccount = false;
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(keys)) {
      if (operator === 'StringEquals' && key === 'aws:SourceAccount') {
        scopedToAccount = JSON.stringify(value) === JSON.stringify(ACCOUNT);
        if (!scopedToAccount)
          problems.push(`aws:SourceAccount is ${JSON.stringify(value)}, not this account`);
      } else if ((operator === 'ArnLike' || operator === 'ArnEquals') && key === 'aws:SourceArn') {
        const patterns = list(value).map(renderValue);
        const match = operator === 'ArnLike' ? like : (a: string, b: string) => a === b;
        if (!patterns.some((pattern) => match(pattern, alarmArn))) {
          problems.push(`aws:SourceArn ${patterns.join(' | ')} does not match ${alarmArn}`);
        }
      } else {
        problems.push(`unexpected condition ${operator} ${key}`);
      }
    }
  }
  if (!scopedToAccount) problems.push('not scoped with aws:SourceAccount');
  return problems;
}

/** Problems of the statements for CloudWatch doing all `actions` on behalf of `alarmArn`; [] when one allows it. */
function allowProblems(statements: Statement[], actions: string[], alarmArn: string, what: string): string[] {
  const candidates = statements.filter(
    (s) =>
      s.Effect === 'Allow' &&
      namesCloudWatch(s.Principal) &&
      actions.every((action) => list(s.Action).some((granted) => like(granted, action))),
  );
  if (candidates.length === 0) return [`${what}: no statement allows ${CLOUDWATCH} ${actions.join(', ')}`];
  const problems = candidates.map((s) => conditionProblems(s, alarmArn));
  return problems.some((p) => p.length === 0) ? [] : problems.flat().map((p) => `${what}: ${p}`);
}

/** A Deny that could apply to CloudWatch publishing over TLS (CloudWatch always does). */
function denyProblems(statements: Statement[], what: string): string[] {
  return statements
    .filter((s) => s.Effect === 'Deny' && namesCloudWatch(s.Principal))
    .filter(
      (s) => JSON.stringify(s.Condition) !== JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
    )
    .map((s) => `${what}: a Deny applies: ${JSON.stringify(s)}`);
}

export function topicAcceptsAlarm(
  template: Template,
  action: { Ref?: string },
  alarm: Record<string, unknown>,
): string[] {
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, Json> }
  >;
  const topicId = action.Ref;
  if (topicId === undefined || resources[topicId]?.Type !== 'AWS::SNS::Topic') {
    return [`action ${JSON.stringify(action)} is not a topic of this stack`];
  }
  const alarmName = typeof alarm.AlarmName === 'string' ? alarm.AlarmName : `${TOKEN}(generated name)`;
  const alarmArn = `arn:${TOKEN}:cloudwatch:${TOKEN}:${TOKEN}:alarm:${alarmName}`;
  const topicStatements = Object.values(resources)
    .filter((r) => r.Type === 'AWS::SNS::TopicPolicy')
    .filter((r) => list(r.Properties.Topics).some((t) => JSON.stringify(t) === JSON.stringify(action)))
    .flatMap((r) => (r.Properties.PolicyDocument as unknown as { Statement: Statement[] }).Statement)
    .filter((s) =>
      list(s.Resource).some((res) => res === '*' || JSON.stringify(res) === JSON.stringify(action)),
    );
  const problems = [
    ...allowProblems(topicStatements, ['sns:Publish'], alarmArn, 'topic policy'),
    ...denyProblems(topicStatements, 'topic policy'),
  ];
  const keyRef = resources[topicId]?.Properties.KmsMasterKeyId as
    | { 'Fn::GetAtt'?: [string, string] }
    | string;
  if (keyRef === undefined) return problems;
  const keyId = typeof keyRef === 'object' ? keyRef['Fn::GetAtt']?.[0] : undefined;
  const key = keyId === undefined ? undefined : resources[keyId];
  if (key?.Type !== 'AWS::KMS::Key') {
    return [...problems, `topic key ${JSON.stringify(keyRef)} is not a customer managed key of this stack`];
  }
  const keyStatements = (key.Properties.KeyPolicy as unknown as { Statement: Statement[] }).Statement;
  return [
    ...problems,
    ...allowProblems(keyStatements, ['kms:Decrypt', 'kms:GenerateDataKey'], alarmArn, 'key policy'),
    ...denyProblems(keyStatements, 'key policy'),
  ];
}
