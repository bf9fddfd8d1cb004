import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface AlarmTopicProps {
  /** Shown as the sender of e-mail and SMS notifications. */
  readonly displayName: string;
}

/**
 * An SNS topic for CloudWatch alarm notifications: encrypted with its own rotating customer-managed key,
 * TLS only, and open to CloudWatch alarms of this account and region alone.
 */
export class AlarmTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly encryptionKey: kms.Key;

  public constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `Notifications of ${props.displayName}`,
      enableKeyRotation: true,
      // Holds no data at rest beyond messages in flight; nothing is lost with it.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch encrypts the notifications it publishes to the topic with this key.
    this.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Resource', {
      displayName: props.displayName,
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });
    // The topic has its own policy (for enforceSSL), so CloudWatch alarms of this account need a grant.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
  }

  /** Makes `alarm` notify this topic when it fires and when it recovers. */
  public notifyOn(alarm: cloudwatch.AlarmBase): void {
    const notify = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
  }
}
