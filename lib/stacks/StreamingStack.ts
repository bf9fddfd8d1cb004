import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { KafkaCluster } from '../constructs/KafkaCluster.js';
import { KafkaTopics } from '../constructs/KafkaTopics.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export interface StreamingStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly dataSubnets: ec2.SubnetSelection;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
}

/**
 * The event backbone: an MSK cluster across the environment's AZs in the data subnets, and its topics,
 * managed from the configuration by a function in the compute subnets.
 */
export class StreamingStack extends PlatformStack {
  public readonly cluster: KafkaCluster;
  /** Names of the topics the platform declares. */
  public readonly topics: readonly string[];
  /** §1 alarms on the brokers: offline and under-replicated partitions. */
  public readonly scenarioAlarms: readonly cloudwatch.Alarm[];

  public constructor(scope: Construct, id: string, props: StreamingStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { streaming } = config;
    // Outside production a torn-down environment should not leave a billed cluster behind.
    const removalPolicy = removalPolicyOf(config.retention);

    this.cluster = new KafkaCluster(this, 'Kafka', {
      clusterName: `cdp-${config.name}`,
      kafkaVersion: streaming.kafkaVersion,
      brokerCount: streaming.brokerCount,
      brokerInstanceType: streaming.brokerInstanceType,
      brokerStorageGiB: streaming.brokerStorageGiB,
      vpc: props.vpc,
      subnets: props.dataSubnets,
      securityGroup: props.securityGroups.brokers,
      logRetentionDays: streaming.logRetentionDays,
      removalPolicy,
    });

    const topics = new KafkaTopics(this, 'Topics', {
      cluster: this.cluster,
      topics: streaming.topics,
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: streaming.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });
    this.topics = topics.topicNames;
    this.scenarioAlarms = this.addScenarioAlarms();
  }

  /**
   * §1 on the broker side: partitions without a leader (producers and consumers stall on them) and
   * partitions missing a replica on any broker (a broker is away; one more loss and min ISR refuses writes).
   */
  private addScenarioAlarms(): cloudwatch.Alarm[] {
    const { config } = this;
    const thresholds = config.scenarioAlarms;
    const namePrefix = `cdp-${config.name}`;
    const clusterName = this.cluster.clusterName;
    const kafkaMetric = (metricName: string, dimensions: Record<string, string>) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Kafka',
        metricName,
        dimensionsMap: { 'Cluster Name': clusterName, ...dimensions },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      });
    const brokers = Array.from({ length: config.streaming.brokerCount }, (_, i) => i + 1);
    return [
      new cloudwatch.Alarm(this, 'OfflinePartitionsAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 1, 'offline-partitions'),
        alarmDescription:
          `MSK ${clusterName}: more than ${thresholds.offlinePartitions} partitions without a leader for 2 ` +
          'minutes; ingest spills, the consumer stalls on them',
        metric: kafkaMetric('OfflinePartitionsCount', {}),
        threshold: thresholds.offlinePartitions,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'UnderReplicatedPartitionsAlarm', {
        alarmName: scenarioAlarmName(namePrefix, 1, 'under-replicated-partitions'),
        alarmDescription:
          `MSK ${clusterName}: a broker reports more than ${thresholds.underReplicatedPartitions} ` +
          'under-replicated partitions for 5 minutes; a broker is away or falling behind',
        metric: new cloudwatch.MathExpression({
          expression: `MAX([${brokers.map((id) => `FILL(b${id}, 0)`).join(', ')}])`,
          usingMetrics: Object.fromEntries(
            brokers.map((id) => [
              `b${id}`,
              kafkaMetric('UnderReplicatedPartitions', { 'Broker ID': String(id) }),
            ]),
          ),
          period: Duration.minutes(1),
          label: 'Under-replicated partitions of the worst broker',
        }),
        threshold: thresholds.underReplicatedPartitions,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }
}
