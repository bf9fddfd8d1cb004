import { createHash } from 'node:crypto';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { TopicConfig } from '../config/index.js';
import { acknowledgeProviderFindings } from './acknowledgeProviderFindings.js';
import type { KafkaCluster } from './KafkaCluster.js';
import { PlatformFunction } from './PlatformFunction.js';

export interface KafkaTopicsProps {
  readonly cluster: KafkaCluster;
  readonly topics: readonly TopicConfig[];
  readonly vpc: ec2.IVpc;
  /** Subnets with a route to the brokers and to the Kafka API endpoint. */
  readonly subnets: ec2.SubnetSelection;
  /** Must be allowed to reach the brokers' IAM listener (9098) and the interface endpoints (443). */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  /** Retention of the topic manager's and the provider's log groups, in days. */
  readonly logRetentionDays: number;
  /** What happens to those log groups on stack deletion. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The custom resource type shown in CloudFormation. */
export const KAFKA_TOPICS_RESOURCE_TYPE = 'Custom::KafkaTopics';

/**
 * The cluster's topics as the configuration declares them, kept by a custom resource whose handler
 * (`lambdas/kafka-topics`) creates missing topics, adds partitions and updates retention on every
 * change; it refuses to shrink a topic and keeps all topics when the resource is deleted.
 *
 * Added partitions cannot be removed. If a stack update that added partitions rolls back, the rollback
 * asks for the old count and is refused; finish it with
 * `aws cloudformation continue-update-rollback --resources-to-skip <this resource's logical id>`.
 */
export class KafkaTopics extends Construct {
  public readonly topicNames: readonly string[];
  public readonly handler: PlatformFunction;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;

  public constructor(scope: Construct, id: string, props: KafkaTopicsProps) {
    super(scope, id);
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.topicNames = props.topics.map((topic) => topic.name);

    this.handler = new PlatformFunction(this, 'Handler', {
      name: 'kafka-topics',
      description: `Creates and updates the Kafka topics of ${props.cluster.clusterName}`,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      logRetentionDays: props.logRetentionDays,
      logRemovalPolicy,
      // Bootstrap discovery plus up to three reconciliation attempts (see `TOPIC_RECONCILE_POLICY` in
      // lambdas/shared/resilience/defaults.ts).
      timeout: Duration.minutes(7),
      memorySize: 512,
    });
    props.cluster.grantTopicManagement(this.handler, this.topicNames);

    // The framework function stays outside the VPC: it must reach CloudFormation's pre-signed S3 response URL.
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler.function,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: props.logRetentionDays,
        removalPolicy: logRemovalPolicy,
      }),
    });

    const topics = JSON.stringify(
      props.topics.map(({ name, partitions, retentionHours }) => ({ name, partitions, retentionHours })),
    );
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: KAFKA_TOPICS_RESOURCE_TYPE,
      properties: {
        ClusterArn: props.cluster.clusterArn,
        Topics: topics,
        // Any change of the declared topics changes the hash, so CloudFormation sends an Update.
        TopicsHash: createHash('sha256').update(topics).digest('hex'),
      },
    });

    acknowledgeProviderFindings(this.provider, this.handler, 'topic manager');
  }
}
