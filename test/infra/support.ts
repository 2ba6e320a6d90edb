import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, type IResolvable } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { readConfig } from '../../infra/config.js';
import { TiergateStack } from '../../infra/tiergate-stack.js';

/** The feature flags cdk.json gives the real app (e.g. minimizePolicies changes how statements look). */
const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: object }
).context;

/**
 * An App like `cdk synth` builds, minus esbuild: CDK's own `aws:cdk:bundling-stacks: []` skips asset bundling,
 * so the functions under test are the real GatewayFunctions and the tests stay fast. bundle.test.ts covers esbuild.
 */
export function testApp(context: Record<string, unknown> = {}): App {
  return new App({
    outdir: scratchDir(),
    context: { ...CDK_JSON_CONTEXT, [BUNDLING_STACKS]: [], ...context },
  });
}

const scratchDirs: string[] = [];
/** A fresh cloud assembly directory per app; `removeTestOutput` (afterAll in each file) deletes them. */
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tiergate-infra-test-'));
  scratchDirs.push(dir);
  return dir;
}

export function removeTestOutput(): void {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function testStack(context: Record<string, unknown> = {}): { app: App; stack: TiergateStack } {
  const app = testApp(context);
  return { app, stack: new TiergateStack(app, 'Tiergate', { config: readConfig(app) }) };
}

export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return element.stack.getLogicalId(element);
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json } | IResolvable;

/**
 * Renders an IAM resource with readable names for our own resources: `ledger`, `ledger/index/holds-by-age`,
 * `secret`, … Anything unnamed keeps its logical id, so an unexpected resource still shows up in a diff.
 */
export function describeResource(resource: Json, names: ReadonlyMap<string, string>): string {
  if (typeof resource === 'string') return resource;
  if (resource !== null && typeof resource === 'object' && !Array.isArray(resource)) {
    const record = resource as Record<string, Json>;
    const getAtt = record['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
      const name = names.get(getAtt[0]) ?? getAtt[0];
      return getAtt[1] === 'Arn' ? name : `${name}.${String(getAtt[1])}`;
    }
    const ref = record.Ref;
    if (typeof ref === 'string') return names.get(ref) ?? ref;
    const join = record['Fn::Join'];
    if (Array.isArray(join) && join[0] === '' && Array.isArray(join[1])) {
      return join[1].map((part) => describeResource(part, names)).join('');
    }
  }
  return JSON.stringify(resource);
}

interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: Json | Json[];
  Condition?: Record<string, Record<string, string | boolean | string[]>>;
}

/** A statement's conditions as ` if Operator key value,value`, or '' without any. */
function describeCondition(condition: PolicyStatementJson['Condition']): string {
  if (condition === undefined) return '';
  const parts = Object.entries(condition).flatMap(([operator, keys]) =>
    Object.entries(keys).map(([key, value]) => `${operator} ${key} ${[value].flat().join(',')}`),
  );
  return ` if ${parts.join(' and ')}`;
}

/**
 * Every "action on resource" pair the role's inline policies allow, sorted. Comparing this whole list with an
 * expected one fails on any broadened grant: an extra action, an extra resource, or a wildcard.
 */
export function roleGrants(
  template: Template,
  roleLogicalId: string,
  names: ReadonlyMap<string, string>,
): string[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const grants = new Set<string>();
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties.Roles ?? []) as { Ref?: string }[];
    if (!roles.some((role) => role.Ref === roleLogicalId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]) {
      if (statement.Effect !== 'Allow') continue;
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      for (const action of actions) {
        for (const resource of resources)
          grants.add(
            `${action} on ${describeResource(resource, names)}${describeCondition(statement.Condition)}`,
          );
      }
    }
  }
  return [...grants].sort();
}

/** A Lambda function ARN for a function's logical id, standing in for `Fn::GetAtt [id, Arn]`. */
export const placeholderFunctionArn = (logicalId: string): string =>
  `arn:aws:lambda:us-east-1:123456789012:function:${logicalId}`;

export interface StateMachineDefinition {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, AslState>;
}

export interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  TimeoutSeconds?: number;
  Retry?: Array<{
    ErrorEquals: string[];
    MaxAttempts?: number;
    IntervalSeconds?: number;
    BackoffRate?: number;
  }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  [field: string]: unknown;
}

/**
 * The Amazon States Language of a synthesized state machine, as Step Functions will receive it: the
 * `DefinitionString` join with every `Fn::GetAtt [id, Arn]` replaced by a placeholder function ARN
 * (`placeholderFunctionArn(id)`), so a local executor can run it and tests can map tasks to handlers.
 */
export function stateMachineDefinition(
  template: Template,
  stateMachineLogicalId: string,
): StateMachineDefinition {
  const resource = template.toJSON().Resources[stateMachineLogicalId];
  if (resource?.Type !== 'AWS::StepFunctions::StateMachine') {
    throw new Error(`${stateMachineLogicalId} is not a state machine`);
  }
  const definition = resource.Properties.DefinitionString as Json;
  const render = (part: Json): string => {
    if (typeof part === 'string') return part;
    const record = part as Record<string, Json>;
    const getAtt = record['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string' && getAtt[1] === 'Arn') {
      return placeholderFunctionArn(getAtt[0]);
    }
    const join = record['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(render).join(join[0]);
    }
    throw new Error(`Cannot render ${JSON.stringify(part)} in a state machine definition`);
  };
  return JSON.parse(render(definition)) as StateMachineDefinition;
}
