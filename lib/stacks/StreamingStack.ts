import { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { KafkaCluster } from '../constructs/KafkaCluster.js';
import { KafkaTopics } from '../constructs/KafkaTopics.js';
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

  public constructor(scope: Construct, id: string, props: StreamingStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { streaming } = config;
    // Outside production a torn-down environment should not leave a billed cluster behind.
    const removalPolicy = config.name === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

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
  }
}
