import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll } from 'vitest';
import type { LambdaEntry } from '../../infra/bundling.js';
import type { GatewayFunction } from '../../infra/constructs/gateway-function.js';
import type { TiergateStack } from '../../infra/tiergate-stack.js';
import { logicalId, removeTestOutput, roleGrants, testStack } from './support.js';

/**
 * The default stack the stack-*.test.ts files assert on, synthesized once per file by `useSynthesizedStack`.
 * The bindings below are filled in its beforeAll: read them inside tests and hooks only.
 */
export let stack: TiergateStack;
export let template: Template;
export let resources: Record<
  string,
  { Type: string; Properties: Record<string, unknown> } & Record<string, unknown>
>;
/** Readable names for our own resources in IAM grants: `ledger`, `secret`, `completionsFunction`, … */
export let names: Map<string, string>;
export let functions: Record<LambdaEntry, GatewayFunction>;

/** Synthesizes the stack in a beforeAll of the calling file, and deletes its cloud assembly afterwards. */
export function useSynthesizedStack(): void {
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
}

/** The "action on resource" grants of a function's role, with readable names (see `roleGrants`). */
export const grantsOf = (entry: LambdaEntry) => roleGrants(template, logicalId(functions[entry].role), names);
export const ref = (id: string) => ({ Ref: id });
export const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
export const topicRef = () => ref(logicalId(stack.observability.topic));
/** Each alarm's properties by its construct id (`ProbeFailed`, `billingDlqNotEmpty`, …). */
export const alarmsByName = () => {
  const byName = new Map<string, Record<string, unknown>>();
  for (const alarm of stack.observability.alarms) {
    byName.set(alarm.node.id, resources[logicalId(alarm)]?.Properties ?? {});
  }
  return byName;
};
