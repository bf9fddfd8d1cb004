import { Duration, Stack } from 'aws-cdk-lib';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { acknowledge } from '../nag.js';
import type { KafkaCluster } from './KafkaCluster.js';
import { PlatformFunction, type PlatformFunctionProps } from './PlatformFunction.js';

/** Groups the redrive's range reads join (the reader of `lambdas/shared/replay` uses this prefix). */
export const REDRIVE_READ_GROUP_PREFIX = 'cdp-reconciliation';

export interface EventRedriveProps
  extends Pick<
    PlatformFunctionProps,
    'vpc' | 'subnets' | 'securityGroups' | 'logRetentionDays' | 'logRemovalPolicy'
  > {
  readonly cluster: KafkaCluster;
  /** The consumer mapping's on-failure queue. */
  readonly failureQueue: sqs.IQueue;
  readonly topic: string;
  readonly retryTopic: string;
}

/**
 * Scenario 7, after the rollback: the event-redrive function, invoked by operators. It copies the record
 * ranges of the failed batches in the consumer's on-failure queue to the retry topic and deletes those
 * messages (dead letters stay). It may read and delete the queue's messages, read the two topics with
 * groups of its own prefix, and write the retry topic.
 */
export class EventRedrive extends Construct {
  public readonly function: PlatformFunction;

  public constructor(scope: Construct, id: string, props: EventRedriveProps) {
    super(scope, id);
    this.function = new PlatformFunction(this, 'Function', {
      name: 'event-redrive',
      description: `Redrives the failed batches of the consumer's on-failure queue through ${props.retryTopic}`,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      logRetentionDays: props.logRetentionDays,
      ...(props.logRemovalPolicy === undefined ? {} : { logRemovalPolicy: props.logRemovalPolicy }),
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: {
        [ENV.failureQueueUrl]: props.failureQueue.queueUrl,
        [ENV.clusterArn]: props.cluster.clusterArn,
        [ENV.topic]: props.topic,
        [ENV.retryTopic]: props.retryTopic,
      },
    });
    props.failureQueue.grantConsumeMessages(this.function);
    props.cluster.grantReadWithGroupPrefix(
      this.function,
      [props.topic, props.retryTopic],
      REDRIVE_READ_GROUP_PREFIX,
    );
    props.cluster.grantProduce(this.function, [props.retryTopic]);
    const { region, account } = Stack.of(this);
    acknowledge(this.function, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kafka:${region}:${account}:group/${props.cluster.clusterName}/*/${REDRIVE_READ_GROUP_PREFIX}-*]`,
      reason:
        `Each range read joins a consumer group of its own, ${REDRIVE_READ_GROUP_PREFIX}-<uuid>, and commits ` +
        'nothing; the names are only known at run time. DescribeGroup and AlterGroup on groups of that prefix ' +
        'of this cluster only; topic reads and writes name the exact topic ARNs',
    });
  }
}
