import { Aws } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';

export interface AlarmTopicProps {
  readonly alarmEmail: string | undefined;
  /** Every alarm that notifies the topic is named with this prefix: CloudWatch may publish for those only. */
  readonly alarmNamePrefix: string;
}

/**
 * The SNS topic alarms notify: encrypted with a customer managed key, TLS only, with an optional e-mail
 * subscription. `enforceSSL` gives the topic a policy of its own, which replaces SNS's default one, so CloudWatch
 * is granted publication explicitly (without it every alarm action fails with "not authorized to perform:
 * SNS:Publish"), and the use of the key (the AWS managed SNS key grants CloudWatch nothing). Both grants hold only
 * on behalf of this account's alarms named with the prefix (aws:SourceAccount, aws:SourceArn: the confused-deputy
 * guard AWS documents for service principals).
 *
 * Created in `scope` with ids `AlarmTopicKey` and `AlarmTopic`, so the topic (and its confirmed subscriptions)
 * and the key keep their logical ids.
 */
export function createAlarmTopic(scope: Construct, props: AlarmTopicProps): Topic {
  const cloudwatch = new ServicePrincipal('cloudwatch.amazonaws.com');
  const onBehalfOfOurAlarms = {
    StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
    ArnLike: {
      'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${props.alarmNamePrefix}*`,
    },
  };
  const key = new Key(scope, 'AlarmTopicKey', {
    description: 'Encrypts the Tiergate alarm topic',
    enableKeyRotation: true,
  });
  key.addToResourcePolicy(
    new PolicyStatement({
      sid: 'CloudWatchAlarmsUseTheKey',
      principals: [cloudwatch],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: onBehalfOfOurAlarms,
    }),
  );
  const topic = new Topic(scope, 'AlarmTopic', {
    displayName: 'Tiergate alarms',
    masterKey: key,
    enforceSSL: true,
  });
  topic.addToResourcePolicy(
    new PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [cloudwatch],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: onBehalfOfOurAlarms,
    }),
  );
  if (props.alarmEmail !== undefined) topic.addSubscription(new EmailSubscription(props.alarmEmail));
  return topic;
}
