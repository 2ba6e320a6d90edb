import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { defineTiergateApp } from '../../infra/tiergate-app.js';
import { removeTestOutput, testApp } from './support.js';

interface Acknowledgement {
  path: string;
  id: string;
  reason: unknown;
}

/** Every acknowledgement recorded in the construct tree, where it was made. */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, unknown>).map(([id, reason]) => ({
          path: construct.node.path,
          // CDK stores plugin rule ids with an "annotation::" prefix; cdk-nag strips it the same way.
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(removeTestOutput);

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the app that deploys', () => {
    const app = testApp();
    defineTiergateApp(app);
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('lets the app synthesize with the checks registered (synth fails on any finding)', () => {
    const app = testApp();
    defineTiergateApp(app);
    expect(() => app.synth()).not.toThrow();
  });

  it('gives every acknowledgement a real reason', () => {
    const app = testApp();
    defineTiergateApp(app);
    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-/);
      expect(typeof ack.reason, `${ack.path} ${ack.id}`).toBe('string');
      expect(String(ack.reason).trim().length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(40);
    }
  });

  it('acknowledges only findings that exist: each acknowledgement still silences a real finding', () => {
    // Record acknowledgements instead of applying them, then check each one against the raw findings.
    const made: { path: string; id: string }[] = [];
    vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: Validations, ...rules) {
      const scope = (this as unknown as { scope: IConstruct }).scope;
      for (const rule of rules) made.push({ path: scope.node.path, id: rule.id });
    });
    const app = testApp();
    defineTiergateApp(app);
    const findings = new AwsSolutionsChecks().validateScope(app).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({
        id: violation.ruleName,
        path: resource.constructPath ?? '',
      })),
    );
    expect(made.length).toBeGreaterThan(0);
    for (const ack of made) {
      const silenced = findings.filter(
        (finding) =>
          finding.id === ack.id && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`)),
      );
      expect(silenced.length, `stale acknowledgement ${ack.id} on ${ack.path}`).toBeGreaterThan(0);
    }
  });

  it('fails synthesis on an unacknowledged error-level finding', () => {
    const app = testApp();
    const stack = defineTiergateApp(app);
    new Queue(stack, 'UnprotectedQueue', { enforceSSL: false });
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });

  it('fails synthesis on a warning-level finding too', () => {
    const app = testApp();
    const stack = defineTiergateApp(app);
    // No point-in-time recovery: AwsSolutions-DDB3 is a WARN rule in cdk-nag, an error here.
    new Table(stack, 'UnrecoverableTable', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    expect(() => app.synth()).toThrow(/AwsSolutions-DDB3/);
  });
});
