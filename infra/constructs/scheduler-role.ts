import { Aws, Stack } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/**
 * A role only EventBridge Scheduler can assume, and only for schedules of this account's default
 * group (the confused-deputy conditions); the caller grants it the one action its target needs.
 */
export function schedulerRole(scope: Construct, id: string, description: string): Role {
  return new Role(scope, id, {
    description,
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:SourceAccount': Aws.ACCOUNT_ID,
          'aws:SourceArn': Stack.of(scope).formatArn({
            service: 'scheduler',
            resource: 'schedule-group',
            resourceName: 'default',
          }),
        },
      },
    }),
  });
}
