import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

/** The longest SQS keeps a message: how long a spilled event survives brokers that stay down. */
export const SPILLOVER_RETENTION = Duration.days(14);

export interface SpilloverQueueProps {
  /** Named in the key's description: whose events the queue holds. */
  readonly description: string;
  /**
   * The queue and its key on stack deletion. Spilled events are accepted events that are not in Kafka yet,
   * so the default keeps both.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The durable spillover of the ingest path: an SQS FIFO queue holding accepted events the brokers could
 * not take yet, encrypted with its own rotating customer-managed key, reachable over TLS only.
 *
 * The writer sets MessageGroupId = customerId (each customer's events stay in spill order) and
 * MessageDeduplicationId = eventId (a repeated spill of one event is a no-op), so content-based
 * deduplication is off. Deduplication is scoped to the message group and throughput limited per group
 * (high-throughput FIFO): every event of a customer lands in that customer's group, so an event id is
 * still deduplicated, and a broker outage at full ingest rate is not throttled by the queue-wide FIFO quota.
 *
 * Grants name the queue and its key only, with the exact actions `SqsSpilloverBuffer` calls.
 */
export class SpilloverQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly encryptionKey: kms.Key;

  public constructor(scope: Construct, id: string, props: SpilloverQueueProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `Spilled events of ${props.description}`,
      enableKeyRotation: true,
      // The key must outlive every message it encrypts.
      removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    this.queue = new sqs.Queue(this, 'Resource', {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.encryptionKey,
      retentionPeriod: SPILLOVER_RETENTION,
      enforceSSL: true,
      removalPolicy,
    });
    acknowledge(this.queue, {
      id: 'AwsSolutions-SQS3',
      reason:
        'A dead-letter queue would lose the order and the events this queue exists to keep: while the ' +
        'brokers are down every failed drain attempt counts as a receive of the oldest messages, so a ' +
        "redrive policy would move a customer's oldest events aside during any long outage and republish " +
        'later ones ahead of them. The drainer never gives up on a spilled event (a refusal stops the ' +
        'drain for an operator), and the depth, age and drain-stalled alarms report a queue that does ' +
        'not empty',
    });
  }

  /** `https://sqs.<region>.amazonaws.com/<account>/<name>.fifo` */
  public get queueUrl(): string {
    return this.queue.queueUrl;
  }

  /**
   * Writing spilled events and reading the depth the writer bounds them by. SSE-KMS needs a data key to
   * send (`kms:GenerateDataKey`) and `kms:Decrypt` to reuse a cached one.
   */
  public grantSpill(grantee: iam.IGrantable): iam.Grant {
    return this.grantOnQueue(grantee, ['sqs:SendMessage', 'sqs:GetQueueAttributes']).combine(
      this.grantOnKey(grantee, ['kms:GenerateDataKey', 'kms:Decrypt']),
    );
  }

  /** Reading the oldest spilled events and deleting them once republished. */
  public grantDrain(grantee: iam.IGrantable): iam.Grant {
    return this.grantOnQueue(grantee, [
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
    ]).combine(this.grantOnKey(grantee, ['kms:Decrypt']));
  }

  /** Spilled events waiting to be drained (not in flight), per minute. */
  public metricDepth(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.queue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  /** Age of the oldest spilled event, in seconds, per minute. */
  public metricAgeOfOldest(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.queue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  private grantOnQueue(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.queue.queueArn] });
  }

  /** Only through SQS: the grantee may use the key for SQS requests alone, and only this queue uses it. */
  private grantOnKey(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(this).region}.amazonaws.com` } },
    });
  }
}
