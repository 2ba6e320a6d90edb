import { randomBytes } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { describeResource, logicalId, removeTestOutput, testStack } from '../infra/support.js';
import { usageRecord } from '../support/money-helpers.js';

/**
 * The spend guardrail's DynamoDB calls, recorded against DynamoDB Local, checked against what the
 * synthesized stack lets each role that runs it do: the guardrail function (usage events) and the
 * reconciler (spend settled from an outbox). Nothing enforces IAM locally, so a call the code makes
 * but the role may not (the day's sharded counters are summed with a Query) would only fail in AWS,
 * where the guardrail would then never trip.
 */

interface Call {
  action: string;
  /** `ledger` or `ledger/index/NAME`, as describeResource names the policy's resources. */
  resource: string;
  /** The partition key a Query reads. */
  partition?: string;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** The IAM actions one command needs, on which resource. */
function callsOf(commandName: string, input: Record<string, unknown>, tableName: string): Call[] {
  const resource = (table: unknown, index?: unknown) => {
    if (table !== tableName) throw new Error(`unexpected table ${String(table)}`);
    return index === undefined ? 'ledger' : `ledger/index/${String(index)}`;
  };
  if (commandName === 'TransactWriteItemsCommand') {
    return (input.TransactItems as Array<Record<string, { TableName: string }>>).flatMap((item) =>
      Object.entries(item).map(([kind, op]) => ({
        action: TRANSACT_ACTIONS[kind] ?? `unknown ${kind}`,
        resource: resource(op.TableName),
      })),
    );
  }
  const action = `dynamodb:${commandName.replace(/Command$/, '')}`;
  const call: Call = { action, resource: resource(input.TableName, input.IndexName) };
  if (action === 'dynamodb:Query') {
    const pk = (input.ExpressionAttributeValues as Record<string, unknown>)[':pk'];
    call.partition = typeof pk === 'object' && pk !== null ? (pk as { S: string }).S : String(pk);
  }
  return [call];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const like = (pattern: string, value: string): boolean =>
  new RegExp(`^${pattern.split('*').map(escapeRegex).join('.*')}$`).test(value);

/** Whether a statement's conditions hold for the call; a condition this check does not know fails. */
function conditionsHold(statement: Statement, call: Call): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(keys)) {
      if (operator !== 'ForAllValues:StringLike' || key !== 'dynamodb:LeadingKeys') return false;
      if (call.partition === undefined || ![value].flat().some((p) => like(p, call.partition as string)))
        return false;
    }
  }
  return true;
}

function allowed(statements: Statement[], call: Call, names: ReadonlyMap<string, string>): boolean {
  return statements.some((statement) => {
    const actions = [statement.Action].flat();
    const resources = [statement.Resource].flat() as Parameters<typeof describeResource>[0][];
    return (
      statement.Effect === 'Allow' &&
      actions.includes(call.action) &&
      resources.some((r) => describeResource(r, names) === call.resource) &&
      conditionsHold(statement, call)
    );
  });
}

function statementsOf(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as { Ref?: string }[]).some((role) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

describe('the spend guardrail calls only what its roles allow', () => {
  let db: DynamoDBDocumentClient;
  let ledger: string;
  let template: Template;
  let names: Map<string, string>;
  let roles: Record<'guardrail' | 'reconciler', string>;
  const calls: Call[] = [];

  beforeAll(async () => {
    const endpoint = inject('dynamodbEndpoint');
    db = createDocumentClient(endpoint);
    ({ ledger } = await createTables(endpoint, `gg${randomBytes(6).toString('hex')}`));
    db.middlewareStack.add(
      (next, context) => async (args) => {
        calls.push(...callsOf(context.commandName as string, args.input as Record<string, unknown>, ledger));
        return next(args);
      },
      { step: 'serialize', name: 'recordCalls' },
    );
    const { stack } = testStack();
    template = Template.fromStack(stack);
    names = new Map([[logicalId(stack.tables.ledger.table), 'ledger']]);
    roles = {
      guardrail: logicalId(stack.guardrail.function.role),
      reconciler: logicalId(stack.usage.reconciler.role),
    };
  });
  afterAll(removeTestOutput);

  it('counts spend, trips at the cap and skips a redelivery, with calls both roles are granted', async () => {
    const day = '2031-05-06';
    const guardrail = new SpendGuardrail(db, ledger, 1_000, () => Date.parse(`${day}T12:00:00.000Z`));
    const spend = (cost: number) =>
      usageRecord({
        upstreamCostMicros: cost,
        startedAt: `${day}T11:00:00.000Z`,
        endedAt: `${day}T11:00:01.000Z`,
      });
    expect((await guardrail.record(spend(600))).trippedNow).toBe(false);
    const last = spend(400);
    expect((await guardrail.record(last)).trippedNow).toBe(true);
    expect((await guardrail.record(last)).counted).toBe(false);

    // The day's counters were summed with a Query of the guardrail's own partition.
    expect(calls).toContainEqual({
      action: 'dynamodb:Query',
      resource: 'ledger',
      partition: `GUARDRAIL#${day}`,
    });
    for (const [role, id] of Object.entries(roles)) {
      const statements = statementsOf(template, id);
      const denied = calls.filter((call) => !allowed(statements, call, names));
      expect(denied, `${role} would be denied`).toEqual([]);
    }
  });

  it('does not allow the same Query on another partition (the grant is narrowed to the guardrail)', () => {
    const wallet: Call = { action: 'dynamodb:Query', resource: 'ledger', partition: 'ACCOUNT#acct-1' };
    expect(allowed(statementsOf(template, roles.guardrail), wallet, names)).toBe(false);
    expect(allowed(statementsOf(template, roles.reconciler), wallet, names)).toBe(false);
  });
});
