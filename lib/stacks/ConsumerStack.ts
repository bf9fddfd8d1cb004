// Over 300 lines on purpose: the consumer's function, its two event source mappings, failure queue,
// migrations and alarms reference one another; the parts with behaviour of their own already are constructs.
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ManagedKafkaEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  CONSUMER_METRIC_NAMES,
  DIMENSIONS,
  ENV,
  METRIC_NAMESPACE,
  retryConsumerGroup,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import { resilienceEnabled } from '../config/index.js';
import { attachFaultInjectionExtension } from '../constructs/attachFaultInjectionExtension.js';
import { GuardedFunction } from '../constructs/GuardedFunction.js';
import { PreTrafficProbe } from '../constructs/PreTrafficProbe.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { ShardSchemaMigrations } from '../constructs/ShardSchemaMigrations.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
import { shardMapEnvironment } from '../constructs/shardMapEnvironment.js';
import { FAULT_TARGETS, faultConfigurationBucketName } from '../gameDays.js';
import { acknowledge } from '../nag.js';
import type { DataStack } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';

export interface ConsumerStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
}

/** Namespace of the consumer's own Powertools metrics. */
export const CONSUMER_METRICS_NAMESPACE = METRIC_NAMESPACE;

/** SQS keeps a message at most 14 days: the time operators have to inspect and redrive a failed record. */
const FAILURE_RETENTION = Duration.days(14);

/** The consumer group of the retry topic's mapping: its own offsets, apart from the events topic's. */
export { retryConsumerGroup };

/** Minutes the consumer may stay behind its threshold before the lag alarm fires. */
const LAG_EVALUATION_MINUTES = 5;

/**
 * The stateless customer-event consumer: a guarded Lambda function reading the configured topic through a
 * provisioned-mode MSK event source mapping on its `live` alias, writing to every shard through the Data
 * API and to the Redis index, and sending records it cannot process to an encrypted on-failure queue.
 * Shard schemas are migrated before the function is updated; deployments shift traffic by the configured
 * strategy and roll back on errors, slow invocations, a growing dead-letter queue or lag.
 */
export class ConsumerStack extends PlatformStack {
  public readonly consumer: GuardedFunction;
  public readonly failureQueue: sqs.Queue;
  public readonly failureQueueKey: kms.Key;
  public readonly eventSource: ManagedKafkaEventSource;
  /** The second mapping: parked records of an unavailable shard, and replays, from the retry topic. */
  public readonly retryEventSource: ManagedKafkaEventSource;
  public readonly migrations: ShardSchemaMigrations;
  public readonly failureQueueAlarm: cloudwatch.Alarm;
  public readonly offsetLagAlarm: cloudwatch.Alarm;
  /** The alarms named after the failure scenarios they detect (§3, §4, §5, §6, §8). */
  public readonly scenarioAlarms: readonly cloudwatch.Alarm[];
  /** The consumer's BeforeAllowTraffic hook. */
  public readonly preTrafficProbe: PreTrafficProbe;

  public constructor(scope: Construct, id: string, props: ConsumerStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { consumer: settings, alarms } = config;
    const { data, streaming } = props;
    const placement = {
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicyOf(config.retention),
    };

    const shardMap = shardMapEnvironment(this, data, 'consumer');

    this.migrations = new ShardSchemaMigrations(this, 'ShardSchema', { shardMap, ...placement });
    data.grantShardAccess(this.migrations.handler);

    this.failureQueueKey = new kms.Key(this, 'FailureQueueKey', {
      description: `Failed customer events of ${config.name} (consumer on-failure queue)`,
      enableKeyRotation: true,
      // Messages may outlive the stack's compute; the key must outlive the messages.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.failureQueueKey,
      retentionPeriod: FAILURE_RETENTION,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.failureQueue, {
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the consumer (the event source mapping sends ' +
        'records it gave up on here, and the consumer its poison records); nothing consumes it automatically, ' +
        'operators inspect and redrive it, so a further dead-letter queue behind it would never receive anything',
    });

    this.consumer = new GuardedFunction(this, 'Consumer', {
      name: 'consumer',
      description: `Applies customer events from ${settings.topic} to the shards and the Redis index`,
      ...placement,
      memorySize: settings.memoryMiB,
      timeout: Duration.seconds(settings.timeoutSeconds),
      ...(settings.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: settings.reservedConcurrency }),
      environment: {
        [ENV.shardMap]: shardMap,
        [ENV.redisHost]: data.cache.primaryEndpoint.hostname,
        [ENV.redisPort]: Token.asString(data.cache.primaryEndpoint.port),
        [ENV.redisAuthSecretArn]: data.cache.authSecret.secretArn,
        [ENV.dlqQueueUrl]: this.failureQueue.queueUrl,
        [ENV.clusterArn]: streaming.cluster.clusterArn,
        [ENV.retryTopic]: settings.retryTopic,
        [ENV.powertoolsMetricsNamespace]: CONSUMER_METRICS_NAMESPACE,
      },
      deploymentStrategy: config.deployment.strategy,
      thresholds: alarms,
    });
    // Game days (docs/game-days.md): FIS can delay or fail this function's invocations.
    if (resilienceEnabled(config)) {
      attachFaultInjectionExtension(this.consumer.platformFunction, {
        configurationBucketName: faultConfigurationBucketName(config),
        target: FAULT_TARGETS.consumer,
      });
    }
    // Never run a new consumer against a schema it does not know.
    this.consumer.function.node.addDependency(this.migrations.resource);

    data.grantShardAccess(this.consumer);
    data.cache.grantConnect(this.consumer);
    streaming.cluster.grantConsume(this.consumer, [settings.topic], settings.consumerGroup);
    streaming.cluster.grantConsume(
      this.consumer,
      [settings.retryTopic],
      retryConsumerGroup(settings.consumerGroup),
    );
    // Records of a shard whose breaker is open are parked on the retry topic by the function itself.
    streaming.cluster.grantProduce(this.consumer, [settings.retryTopic]);
    this.failureQueue.grantSendMessages(this.consumer);

    const mappingOn = (topic: string, consumerGroupId: string) =>
      new ManagedKafkaEventSource({
        clusterArn: streaming.cluster.clusterArn,
        topic,
        consumerGroupId,
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: settings.batchSize,
        maxBatchingWindow: Duration.seconds(settings.maxBatchingWindowSeconds),
        // Retries, record age, bisection, partial batch responses and destinations need provisioned mode.
        provisionedPollerConfig: {
          minimumPollers: settings.minimumPollers,
          maximumPollers: settings.maximumPollers,
        },
        retryAttempts: settings.retryAttempts,
        maxRecordAge: Duration.seconds(settings.maxRecordAgeSeconds),
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.failureQueue),
      });
    this.eventSource = mappingOn(settings.topic, settings.consumerGroup);
    this.retryEventSource = mappingOn(settings.retryTopic, retryConsumerGroup(settings.consumerGroup));
    this.consumer.alias.addEventSource(this.eventSource);
    this.consumer.alias.addEventSource(this.retryEventSource);
    const queueKeyReason =
      'Granted by Queue.grantSendMessages, which the SQS on-failure destination of the event source ' +
      'mapping calls: SSE-KMS needs data keys to send to the queue; the statement names only the ' +
      "queue's own customer-managed key, so the wildcard covers the variants of one action on one key";
    acknowledge(
      this.consumer.function,
      { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: queueKeyReason },
      { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: queueKeyReason },
    );
    acknowledge(this.consumer.function, {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
      reason:
        'Attached by the MSK event source mapping, which polls with the function role: the AWS-maintained ' +
        'policy holds the MSK describe/bootstrap reads and the ENI create/describe/delete actions the pollers ' +
        'need in the cluster VPC, none of which supports resource-level scoping; every data-plane permission ' +
        '(kafka-cluster:*) is granted separately on the exact cluster, topic and group ARNs',
    });

    this.failureQueueAlarm = new cloudwatch.Alarm(this, 'FailureQueueDepthAlarm', {
      alarmDescription: `consumer: more than ${alarms.dlqDepth} failed customer events wait in the on-failure queue`,
      metric: this.failureQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: alarms.dlqDepth,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS stops publishing for a queue that has been idle for hours: an idle queue is an empty one.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const namePrefix = `cdp-${config.name}`;
    this.offsetLagAlarm = new cloudwatch.Alarm(this, 'OffsetLagAlarm', {
      alarmName: scenarioAlarmName(namePrefix, 2, 'offset-lag'),
      alarmDescription:
        `consumer: more than ${alarms.consumerOffsetLag} records of ${settings.topic} unprocessed ` +
        `for ${LAG_EVALUATION_MINUTES} minutes`,
      // Lambda's own lag of the mappings' consumer groups; the maximum covers the events and the retry topic.
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'OffsetLag',
        dimensionsMap: { FunctionName: this.consumer.function.functionName },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: alarms.consumerOffsetLag,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: LAG_EVALUATION_MINUTES,
      datapointsToAlarm: LAG_EVALUATION_MINUTES,
      // Lambda publishes the lag while its pollers fetch; a quiet topic is not a lagging consumer.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.consumer.addAlarm(this.failureQueueAlarm);
    this.consumer.addAlarm(this.offsetLagAlarm);
    this.scenarioAlarms = this.addScenarioAlarms(namePrefix, streaming.cluster.clusterName);

    // Scenario 7: every new consumer version applies and reads back a probe event on every shard first.
    this.preTrafficProbe = new PreTrafficProbe(this, 'PreTrafficProbe', {
      guarded: this.consumer,
      code: 'consumer-probe',
      name: 'consumer-probe',
      namePrefix: `cdp-${config.name}`,
      environment: {
        [ENV.shardMap]: shardMap,
        [ENV.topic]: settings.topic,
        [ENV.clusterArn]: streaming.cluster.clusterArn,
      },
      ...placement,
    });
    data.grantShardAccess(this.preTrafficProbe.function);
  }
  /**
   * The consumer's alarms named after the failure scenarios they detect: shard writes failing (§3), the
   * idempotency store bypassed (§4), shard breakers opening (§5), the events topic's lag (§6) and records
   * waiting on the retry topic (§8). They notify the consumer's alarm topic; none guards deployments.
   */
  private addScenarioAlarms(namePrefix: string, clusterName: string): cloudwatch.Alarm[] {
    const { config } = this;
    const settings = config.consumer;
    const thresholds = config.scenarioAlarms;
    const consumerMetric = (metricName: string, dimensions: Record<string, string> = {}, minutes = 1) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: SERVICES.consumer, ...dimensions },
        period: Duration.minutes(minutes),
        statistic: cloudwatch.Stats.SUM,
      });
    const groupLag = (metricName: string, consumerGroup: string, topic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Kafka',
        metricName,
        dimensionsMap: { 'Cluster Name': clusterName, 'Consumer Group': consumerGroup, Topic: topic },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      });
    const shardIds = Array.from({ length: config.data.shardCount }, (_, i) => `shard-${i}`);
    const alarms = [
      new cloudwatch.Alarm(this, 'ShardWriteFailuresAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 3, 'write-failures'),
        alarmDescription:
          `consumer: more than ${thresholds.shardWriteFailures} events a minute failed their shard write for ` +
          '3 minutes (redelivered, or parked once the shard breaker opens); check the shard alarms',
        metric: consumerMetric(CONSUMER_METRIC_NAMES.eventsFailed),
        threshold: thresholds.shardWriteFailures,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'IdempotencyBypassedAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 4, 'idempotency-bypassed'),
        alarmDescription:
          `consumer: more than ${thresholds.idempotencyBypassed} events a minute were decided by the database ` +
          'guard alone for 3 minutes: the Redis idempotency store is unavailable',
        metric: consumerMetric(CONSUMER_METRIC_NAMES.idempotencyStoreBypassed),
        threshold: thresholds.idempotencyBypassed,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ShardBreakersAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 5, 'shard-breakers'),
        alarmDescription:
          `consumer: a shard's circuit breaker opened more than ${thresholds.breakerOpenings} times in 5 ` +
          'minutes: the shard is slow or failing; its records are parked',
        metric: new cloudwatch.MathExpression({
          expression: `MAX([${shardIds.map((_, i) => `FILL(b${i}, 0)`).join(', ')}])`,
          usingMetrics: Object.fromEntries(
            shardIds.map((shard, i) => [
              `b${i}`,
              consumerMetric(CONSUMER_METRIC_NAMES.breakerOpened, { [DIMENSIONS.dependency]: shard }, 5),
            ]),
          ),
          period: Duration.minutes(5),
          label: 'Breaker openings of the busiest shard',
        }),
        threshold: thresholds.breakerOpenings,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'VolumeSpikeAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 6, 'events-lag'),
        alarmDescription:
          `consumer: more than ${thresholds.volumeSpikeLag} records of ${settings.topic} behind for 5 minutes; ` +
          'the lag scaler should be adding pollers',
        metric: groupLag('SumOffsetLag', settings.consumerGroup, settings.topic),
        threshold: thresholds.volumeSpikeLag,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'RetryTopicLagAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 8, 'retry-topic-lag'),
        alarmDescription:
          `consumer: more than ${thresholds.retryTopicLag} parked or replayed records waited on ` +
          `${settings.retryTopic} for 15 minutes; check the shard and network alarms`,
        metric: groupLag('MaxOffsetLag', retryConsumerGroup(settings.consumerGroup), settings.retryTopic),
        threshold: thresholds.retryTopicLag,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 15,
        datapointsToAlarm: 15,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    const notify = new cloudwatchActions.SnsAction(this.consumer.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    return alarms;
  }
}
