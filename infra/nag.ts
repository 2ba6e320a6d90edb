import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Registers cdk-nag's AwsSolutions pack as a CDK validation plugin. cdk-nag 3 reports a failed validation for
 * any unacknowledged finding, WARN-level rules included, so `cdk synth` exits non-zero until every finding is
 * fixed or acknowledged where it arises (`Validations.of(construct).acknowledge`). test/infra/nag.test.ts pins
 * that behaviour.
 */
export function addNagChecks(app: IConstruct): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
