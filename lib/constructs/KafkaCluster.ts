// Over 300 lines on purpose: one construct per file; the MSK cluster, its configuration, encryption, logging
// and grants belong to it.
import { ArnFormat, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as msk from 'aws-cdk-lib/aws-msk';
import { Construct } from 'constructs';
import { allowLogsToUseKey } from './allowLogsToUseKey.js';

export interface KafkaClusterProps {
  /** Unique in the account and region; also names the configuration and the broker log group. */
  readonly clusterName: string;
  /** MSK Kafka version, such as `3.8.x`. */
  readonly kafkaVersion: string;
  /** Total brokers; a multiple of the number of client subnets (one subnet per AZ). */
  readonly brokerCount: number;
  readonly brokerInstanceType: string;
  /** EBS volume per broker. */
  readonly brokerStorageGiB: number;
  readonly vpc: ec2.IVpc;
  /** Where the brokers run; one subnet per AZ is used. */
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Retention of the broker log group, in days (a CloudWatch Logs retention value). */
  readonly logRetentionDays: number;
  /**
   * Cluster, key and broker logs on stack deletion. The key always outlives the cluster it encrypts.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Prometheus JMX and node exporters on the brokers (port 11001/11002). @default false */
  readonly openMonitoring?: boolean;
  /** Server properties added to (or overriding) {@link KAFKA_SERVER_PROPERTIES}. */
  readonly serverProperties?: Readonly<Record<string, string>>;
}

/**
 * Broker configuration. Durability first: every write lands on two of three replicas (one per AZ) before
 * it is acknowledged, an out-of-sync replica never becomes leader, and topics exist only when the topic
 * manager creates them, so a typo in a producer cannot create a topic with default settings.
 */
export const KAFKA_SERVER_PROPERTIES: Readonly<Record<string, string>> = {
  'auto.create.topics.enable': 'false',
  'default.replication.factor': '3',
  'min.insync.replicas': '2',
  'unclean.leader.election.enable': 'false',
  'num.partitions': '6',
  'offsets.topic.replication.factor': '3',
  'transaction.state.log.replication.factor': '3',
  'transaction.state.log.min.isr': '2',
  'log.retention.hours': '168',
  'replica.selector.class': 'org.apache.kafka.common.replica.RackAwareReplicaSelector',
};

const toServerProperties = (properties: Readonly<Record<string, string>>): string =>
  Object.entries(properties)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');

/**
 * An Amazon MSK provisioned cluster spread evenly over the AZs of its subnets: TLS everywhere, IAM client
 * authentication only, encryption at rest with its own rotating KMS key, broker logs to an encrypted
 * log group, and per-partition monitoring (consumer lag per partition).
 *
 * IAM resources: MSK names topics and groups `…:topic/<cluster name>/<cluster uuid>/<topic>`. The uuid is
 * only known after creation, so the ARNs below take it from the cluster ARN (`…:cluster/<name>/<uuid>`)
 * with `Fn::Split`/`Fn::Select` at deploy time: grants name exact topics and groups, never `*`.
 */
export class KafkaCluster extends Construct {
  public readonly clusterArn: string;
  public readonly clusterName: string;
  public readonly encryptionKey: kms.Key;
  public readonly brokerLogGroup: logs.LogGroup;
  public readonly configuration: msk.CfnConfiguration;
  public readonly cluster: msk.CfnCluster;
  /** `<cluster name>/<cluster uuid>`, the common part of the cluster's topic and group ARNs. */
  private readonly resourcePath: string;

  public constructor(scope: Construct, id: string, props: KafkaClusterProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const subnetIds = props.vpc.selectSubnets({ ...props.subnets, onePerAz: true }).subnetIds;
    if (subnetIds.length < 2) {
      throw new Error(
        `KafkaCluster ${props.clusterName} needs subnets in at least 2 AZs, got ${subnetIds.length}`,
      );
    }
    if (props.brokerCount % subnetIds.length !== 0) {
      throw new Error(
        `KafkaCluster ${props.clusterName}: ${props.brokerCount} brokers cannot be spread evenly over ${subnetIds.length} AZs`,
      );
    }

    const logGroupName = `/aws/msk/${props.clusterName}/brokers`;
    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `MSK ${props.clusterName}: broker volumes and broker logs`,
      enableKeyRotation: true,
      removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts the broker logs with this key, and only for this log group.
    allowLogsToUseKey(this.encryptionKey, logGroupName);
    this.brokerLogGroup = new logs.LogGroup(this, 'BrokerLogs', {
      logGroupName,
      retention: props.logRetentionDays,
      encryptionKey: this.encryptionKey,
      removalPolicy,
    });

    this.configuration = new msk.CfnConfiguration(this, 'Configuration', {
      name: `${props.clusterName}-brokers`,
      description: `Broker configuration of ${props.clusterName}`,
      serverProperties: toServerProperties({ ...KAFKA_SERVER_PROPERTIES, ...props.serverProperties }),
    });

    const openMonitoring = props.openMonitoring ?? false;
    this.cluster = new msk.CfnCluster(this, 'Resource', {
      clusterName: props.clusterName,
      kafkaVersion: props.kafkaVersion,
      numberOfBrokerNodes: props.brokerCount,
      brokerNodeGroupInfo: {
        clientSubnets: subnetIds,
        instanceType: props.brokerInstanceType,
        securityGroups: [props.securityGroup.securityGroupId],
        storageInfo: { ebsStorageInfo: { volumeSize: props.brokerStorageGiB } },
        connectivityInfo: { publicAccess: { type: 'DISABLED' } },
      },
      configurationInfo: {
        arn: this.configuration.attrArn,
        revision: this.configuration.attrLatestRevisionRevision,
      },
      clientAuthentication: {
        sasl: { iam: { enabled: true }, scram: { enabled: false } },
        unauthenticated: { enabled: false },
      },
      encryptionInfo: {
        encryptionAtRest: { dataVolumeKmsKeyId: this.encryptionKey.keyArn },
        encryptionInTransit: { clientBroker: 'TLS', inCluster: true },
      },
      enhancedMonitoring: 'PER_TOPIC_PER_PARTITION',
      loggingInfo: {
        brokerLogs: {
          cloudWatchLogs: { enabled: true, logGroup: this.brokerLogGroup.logGroupName },
          firehose: { enabled: false },
          s3: { enabled: false },
        },
      },
      openMonitoring: {
        prometheus: {
          jmxExporter: { enabledInBroker: openMonitoring },
          nodeExporter: { enabledInBroker: openMonitoring },
        },
      },
    });
    this.cluster.applyRemovalPolicy(removalPolicy);
    this.cluster.node.addDependency(this.brokerLogGroup);

    this.clusterArn = this.cluster.attrArn;
    this.clusterName = props.clusterName;
    this.resourcePath = `${props.clusterName}/${Fn.select(2, Fn.split('/', this.clusterArn))}`;
  }

  /** ARN of a topic of this cluster, for IAM policies. */
  public topicArn(topic: string): string {
    return this.kafkaArn('topic', topic);
  }

  /** ARN of a consumer group of this cluster, for IAM policies. */
  public groupArn(group: string): string {
    return this.kafkaArn('group', group);
  }

  /** Control-plane reads a client needs to find the brokers (`GetBootstrapBrokers`, `DescribeCluster*`). */
  public grantBootstrapBrokers(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['kafka:GetBootstrapBrokers', 'kafka:DescribeCluster', 'kafka:DescribeClusterV2'],
      resourceArns: [this.clusterArn],
    });
  }

  /** Finding the brokers and opening an IAM-authenticated connection. */
  public grantConnect(grantee: iam.IGrantable): iam.Grant {
    return this.grantBootstrapBrokers(grantee).combine(
      this.grantOnCluster(grantee, ['kafka-cluster:Connect', 'kafka-cluster:DescribeCluster']),
    );
  }

  /** Writing to `topics`, idempotently (the producer's retries do not duplicate records). */
  public grantProduce(grantee: iam.IGrantable, topics: readonly string[]): iam.Grant {
    return this.grantConnect(grantee)
      .combine(this.grantOnCluster(grantee, ['kafka-cluster:WriteDataIdempotently']))
      .combine(
        this.grantOnTopics(grantee, topics, ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData']),
      );
  }

  /**
   * Reading `topics` as a member of `consumerGroup`, with offset commits. Includes the cluster
   * configuration read that Lambda's Kafka event source mapping performs.
   */
  public grantConsume(grantee: iam.IGrantable, topics: readonly string[], consumerGroup: string): iam.Grant {
    return this.grantConnect(grantee)
      .combine(this.grantOnCluster(grantee, ['kafka-cluster:DescribeClusterDynamicConfiguration']))
      .combine(this.grantOnTopics(grantee, topics, ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData']))
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          resourceArns: [this.groupArn(consumerGroup)],
        }),
      );
  }

  /**
   * Reading `topics` as members of throw-away consumer groups named `<groupPrefix>-<anything>` that commit
   * nothing (a replay, a reconciliation): no other group's offsets can be read or moved. The groups are
   * matched in any incarnation of this cluster's name ({@link groupPrefixArn}); topics by their exact ARNs.
   */
  public grantReadWithGroupPrefix(
    grantee: iam.IGrantable,
    topics: readonly string[],
    groupPrefix: string,
  ): iam.Grant {
    return this.grantConnect(grantee)
      .combine(this.grantOnTopics(grantee, topics, ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData']))
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          resourceArns: [this.groupPrefixArn(groupPrefix)],
        }),
      );
  }

  /**
   * ARN of the consumer groups `<groupPrefix>-*` of this cluster, for IAM policies. The cluster's uuid is a
   * wildcard too, so the ARN is a plain string a finding can be acknowledged against.
   */
  public groupPrefixArn(groupPrefix: string): string {
    return Stack.of(this).formatArn({
      service: 'kafka',
      resource: 'group',
      resourceName: `${this.clusterName}/*/${groupPrefix}-*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /**
   * Creating `topics`, adding partitions and changing their configuration; no deletion, no data access.
   * This is what the topic manager needs.
   */
  public grantTopicManagement(grantee: iam.IGrantable, topics: readonly string[]): iam.Grant {
    return this.grantConnect(grantee).combine(
      this.grantOnTopics(grantee, topics, [
        'kafka-cluster:CreateTopic',
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:AlterTopic',
        'kafka-cluster:DescribeTopicDynamicConfiguration',
        'kafka-cluster:AlterTopicDynamicConfiguration',
      ]),
    );
  }

  /**
   * Every Kafka action on the cluster, all its topics, groups and transactional ids: for operators'
   * break-glass roles only. The wildcards are findings a caller must justify.
   */
  public grantAdmin(grantee: iam.IGrantable): iam.Grant {
    return this.grantBootstrapBrokers(grantee).combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['kafka-cluster:*'],
        resourceArns: [
          this.clusterArn,
          this.kafkaArn('topic', '*'),
          this.kafkaArn('group', '*'),
          this.kafkaArn('transactional-id', '*'),
        ],
      }),
    );
  }

  private grantOnCluster(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.clusterArn] });
  }

  private grantOnTopics(grantee: iam.IGrantable, topics: readonly string[], actions: string[]): iam.Grant {
    if (topics.length === 0) throw new Error(`No topic given for ${actions.join(', ')}`);
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: topics.map((t) => this.topicArn(t)) });
  }

  private kafkaArn(resource: 'topic' | 'group' | 'transactional-id', name: string): string {
    return Stack.of(this).formatArn({
      service: 'kafka',
      resource,
      resourceName: `${this.resourcePath}/${name}`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }
}
