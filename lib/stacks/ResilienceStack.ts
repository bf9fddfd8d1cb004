// Over 300 lines on purpose: the experiment templates share the stop conditions, the tag resolution and the
// fault configuration bucket set up here; the templates themselves are constructs (GameDayExperiments,
// KafkaBrokerReboot).
import { RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import { GameDayExperiments } from '../constructs/GameDayExperiments.js';
import { KafkaBrokerReboot } from '../constructs/KafkaBrokerReboot.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import {
  FAULT_CONFIGURATION_PREFIX,
  FAULT_TARGETS,
  type FaultTarget,
  faultConfigurationBucketName,
} from '../gameDays.js';
import { acknowledge } from '../nag.js';
import type { ConsumerStack } from './ConsumerStack.js';
import type { DataStack } from './DataStack.js';
import type { IngestStack } from './IngestStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { QueryStack } from './QueryStack.js';
import type { StreamingStack } from './StreamingStack.js';

export interface ResilienceStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly dataSubnets: ec2.SubnetSelection;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
  readonly consumer: ConsumerStack;
  readonly query: QueryStack;
  readonly ingest: IngestStack;
  /** The environment's dashboard, captured in every experiment report. @default - reports without one */
  readonly dashboardArn?: string;
}

/** How long the timed faults last; the stop conditions end them sooner. */
export const FAULT_DURATION = 'PT10M';
/** The network partition is shorter: it cuts a whole zone's data tier. */
export const PARTITION_DURATION = 'PT5M';
/** Longest the broker reboot may take, the wait for the cluster to be ACTIVE again included. */
export const REBOOT_MAX_DURATION = 'PT30M';
/** The broker the reboot experiment restarts (MSK numbers brokers from 1). */
export const REBOOTED_BROKER = '1';
export const CONSUMER_DELAY_MILLIS = 5_000;
export const QUERY_DELAY_MILLIS = 2_000;
export const DELAYED_PERCENT = 50;
export const FAILED_PERCENT = 20;

const TAG_RESOLUTION = {
  action: 'tag:GetResources',
  reason:
    'FIS resolves the targets by tag through the Resource Groups Tagging API, which has no resource types',
};

/**
 * Game days with AWS Fault Injection Service (docs/game-days.md): one experiment template per failure that
 * FIS can inject into this platform (shard failover, Redis primary loss, consumer and query latency and
 * errors, a zone's data subnet partitioned, an MSK broker rebooted), each with its own least-privilege role,
 * stopped by the environment's critical alarms, and reported to an encrypted bucket. Also owns the bucket
 * through which FIS hands faults to the Lambda extension of the consumer and query functions.
 */
export class ResilienceStack extends PlatformStack {
  public readonly experiments: GameDayExperiments;
  public readonly faultConfigurationBucket: s3.Bucket;
  public readonly brokerReboot: KafkaBrokerReboot;
  /** The alarms that stop every experiment. */
  public readonly stopConditions: readonly cloudwatch.IAlarm[];

  public constructor(scope: Construct, id: string, props: ResilienceStackProps) {
    super(scope, id, props);
    // S3 server access logging granted by the log bucket's policy, not by the legacy LogDeliveryWrite ACL
    // (CDK's default without this flag; S3 and cfn-lint both recommend the policy).
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const { config } = this;
    const { data, consumer, query, ingest, streaming } = props;
    const removalPolicy = removalPolicyOf(config.retention);

    // Events given up on, a consumer behind its bound, producers near refusal, a spillover that stopped
    // draining: any of these means the platform is no longer absorbing the fault.
    this.stopConditions = [
      consumer.failureQueueAlarm,
      consumer.offsetLagAlarm,
      ingest.brokerAlarms.spillDepthAlarm,
      ingest.brokerAlarms.drainStalledAlarm,
    ];
    this.experiments = new GameDayExperiments(this, 'Experiments', {
      environment: config.name,
      stopConditions: this.stopConditions,
      ...(props.dashboardArn === undefined ? {} : { dashboardArn: props.dashboardArn }),
      removalPolicy,
    });

    this.faultConfigurationBucket = new s3.Bucket(this, 'FaultConfiguration', {
      bucketName: faultConfigurationBucketName(config),
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.experiments.accessLogBucket,
      serverAccessLogsPrefix: 'fault-configuration/',
      // Holds only the settings of running experiments, which FIS deletes when they end.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const arn = (service: string, resource: string, resourceName?: string) =>
      this.formatArn({ service, resource, ...(resourceName === undefined ? {} : { resourceName }) });

    // Scenario 3: one shard's writer fails over to its replica.
    this.experiments.addExperiment({
      scenario: 'shard-failover',
      actionId: 'aws:rds:failover-db-cluster',
      target: {
        key: 'Clusters',
        resourceType: 'aws:rds:cluster',
        target: FAULT_TARGETS.shard,
        selectionMode: 'COUNT(1)',
      },
      permissions: [
        new iam.PolicyStatement({
          actions: ['rds:FailoverDBCluster'],
          resources: data.shards.map((shard) => shard.clusterArn),
        }),
        new iam.PolicyStatement({
          actions: ['rds:DescribeDBClusters', 'tag:GetResources'],
          resources: ['*'],
        }),
      ],
      wildcardResourceActions: [
        {
          action: 'rds:DescribeDBClusters',
          reason: 'FIS lists the clusters to match the target tags before it knows their identifiers',
        },
        TAG_RESOLUTION,
      ],
    });

    // Scenario 4: the Redis primary's zone loses power; a replica is promoted.
    const primaryZone = data.cache.primaryAvailabilityZone;
    this.experiments.addExperiment({
      scenario: 'redis-primary-loss',
      actionId: 'aws:elasticache:replicationgroup-interrupt-az-power',
      parameters: { duration: FAULT_DURATION },
      target: {
        key: 'ReplicationGroups',
        resourceType: 'aws:elasticache:replicationgroup',
        target: FAULT_TARGETS.index,
        selectionMode: 'ALL',
        parameters: { availabilityZoneIdentifier: primaryZone },
      },
      permissions: [
        new iam.PolicyStatement({
          actions: ['elasticache:InterruptClusterAzPower'],
          resources: [data.cache.replicationGroupArn],
        }),
        new iam.PolicyStatement({
          actions: ['elasticache:DescribeReplicationGroups', 'tag:GetResources'],
          resources: ['*'],
        }),
      ],
      wildcardResourceActions: [
        {
          action: 'elasticache:DescribeReplicationGroups',
          reason:
            'FIS lists the replication groups to match the target tags before it knows their identifiers',
        },
        TAG_RESOLUTION,
      ],
    });

    // Scenarios 2 and 5: the consumer and the query function slowed down or failing.
    const lambdaFault = (
      scenario: 'consumer-latency' | 'consumer-errors' | 'query-latency' | 'query-errors',
      target: FaultTarget,
      functionArn: string,
      actionId: string,
      parameters: Record<string, string>,
    ) =>
      this.experiments.addExperiment({
        scenario,
        actionId,
        parameters: { duration: FAULT_DURATION, ...parameters },
        target: { key: 'Functions', resourceType: 'aws:lambda:function', target, selectionMode: 'ALL' },
        permissions: [
          new iam.PolicyStatement({
            actions: ['s3:PutObject', 's3:DeleteObject'],
            resources: [this.faultConfigurationBucket.arnForObjects(`${FAULT_CONFIGURATION_PREFIX}*`)],
          }),
          // FIS reads the extension's configuration location from the function it resolved by tag.
          new iam.PolicyStatement({ actions: ['lambda:GetFunction'], resources: [functionArn] }),
          new iam.PolicyStatement({ actions: ['tag:GetResources'], resources: ['*'] }),
        ],
        wildcardResourceActions: [TAG_RESOLUTION],
        acknowledgements: [
          {
            id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.faultConfigurationBucket.node.defaultChild as s3.CfnBucket)}.Arn>/${FAULT_CONFIGURATION_PREFIX}*]`,
            reason:
              'FIS writes the fault settings of each run, under keys it names per experiment, below the ' +
              'configuration prefix the Lambda extension reads, and deletes them when the action ends',
          },
        ],
      });
    const consumerFn = consumer.consumer.function.functionArn;
    const queryFn = query.query.function.functionArn;
    const delay = (millis: number) => ({
      startupDelayMilliseconds: String(millis),
      invocationPercentage: String(DELAYED_PERCENT),
    });
    const failure = { invocationPercentage: String(FAILED_PERCENT), preventExecution: 'true' };
    lambdaFault(
      'consumer-latency',
      FAULT_TARGETS.consumer,
      consumerFn,
      'aws:lambda:invocation-add-delay',
      delay(CONSUMER_DELAY_MILLIS),
    );
    lambdaFault(
      'consumer-errors',
      FAULT_TARGETS.consumer,
      consumerFn,
      'aws:lambda:invocation-error',
      failure,
    );
    lambdaFault(
      'query-latency',
      FAULT_TARGETS.query,
      queryFn,
      'aws:lambda:invocation-add-delay',
      delay(QUERY_DELAY_MILLIS),
    );
    lambdaFault('query-errors', FAULT_TARGETS.query, queryFn, 'aws:lambda:invocation-error', failure);

    // Scenario 8: the data subnet of the Redis primary's zone cut off from everything else.
    const networkAcls = arn('ec2', 'network-acl', '*');
    const managedByFis = (kind: 'Request' | 'Resource') =>
      kind === 'Request'
        ? { 'aws:RequestTag/managedByFIS': 'true' }
        : { 'ec2:ResourceTag/managedByFIS': 'true' };
    this.experiments.addExperiment({
      scenario: 'data-subnet-partition',
      actionId: 'aws:network:disrupt-connectivity',
      parameters: { duration: PARTITION_DURATION, scope: 'all' },
      target: {
        key: 'Subnets',
        resourceType: 'aws:ec2:subnet',
        target: FAULT_TARGETS.dataSubnet,
        selectionMode: 'ALL',
        filters: [{ path: 'AvailabilityZone', values: [primaryZone] }],
      },
      permissions: [
        new iam.PolicyStatement({
          actions: ['ec2:CreateNetworkAcl'],
          resources: [networkAcls],
          conditions: { StringEquals: managedByFis('Request') },
        }),
        new iam.PolicyStatement({
          actions: ['ec2:CreateNetworkAcl'],
          resources: [arn('ec2', 'vpc', props.vpc.vpcId)],
        }),
        new iam.PolicyStatement({
          actions: ['ec2:CreateTags'],
          resources: [networkAcls],
          conditions: {
            StringEquals: { ...managedByFis('Request'), 'ec2:CreateAction': 'CreateNetworkAcl' },
          },
        }),
        new iam.PolicyStatement({
          actions: ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAcl'],
          resources: [networkAcls],
          conditions: { StringEquals: managedByFis('Resource') },
        }),
        new iam.PolicyStatement({
          actions: ['ec2:ReplaceNetworkAclAssociation'],
          resources: [
            networkAcls,
            ...props.vpc
              .selectSubnets(props.dataSubnets)
              .subnets.map((s) => arn('ec2', 'subnet', s.subnetId)),
          ],
        }),
        new iam.PolicyStatement({
          actions: ['ec2:GetManagedPrefixListEntries'],
          resources: [arn('ec2', 'prefix-list', '*')],
        }),
        new iam.PolicyStatement({
          actions: [
            'ec2:DescribeManagedPrefixLists',
            'ec2:DescribeNetworkAcls',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcs',
          ],
          resources: ['*'],
        }),
      ],
      wildcardResourceActions: [
        ...[
          'ec2:DescribeManagedPrefixLists',
          'ec2:DescribeNetworkAcls',
          'ec2:DescribeSubnets',
          'ec2:DescribeVpcs',
        ].map((action) => ({ action, reason: 'EC2 Describe actions support no resource-level permissions' })),
      ],
      acknowledgements: [
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${config.region}:${config.account}:network-acl/*]`,
          reason:
            'FIS clones the subnet network ACL into a new one it tags managedByFIS=true: creating, tagging, ' +
            'filling and deleting network ACLs is allowed only with that tag, and re-associating only the data ' +
            'subnets, with the new ACL or back with the original one (whose identifier is not known before)',
        },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${config.region}:${config.account}:prefix-list/*]`,
          reason:
            'ec2:GetManagedPrefixListEntries, listed by FIS for this action, reads the entries of a prefix ' +
            'list (used only with the prefix-list scope); read-only',
        },
      ],
    });

    // Scenario 1: an MSK broker restarts.
    this.brokerReboot = new KafkaBrokerReboot(this, 'BrokerReboot', {
      clusterArn: streaming.cluster.clusterArn,
    });
    const reboot = this.experiments.addExperiment({
      scenario: 'kafka-broker-reboot',
      actionId: 'aws:ssm:start-automation-execution',
      parameters: {
        documentArn: this.brokerReboot.documentArn,
        documentParameters: this.toJsonString({
          ClusterArn: streaming.cluster.clusterArn,
          BrokerId: REBOOTED_BROKER,
          AutomationAssumeRole: this.brokerReboot.automationRole.roleArn,
        }),
        maxDuration: REBOOT_MAX_DURATION,
      },
      permissions: [],
      acknowledgements: [
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:${config.region}:${config.account}:automation-execution/*]`,
          reason:
            'ssm:GetAutomationExecution and ssm:StopAutomationExecution on the execution FIS starts, whose ' +
            'identifier SSM assigns at start; the role can start only the broker-reboot document',
        },
      ],
    });
    this.brokerReboot.grantStart(reboot.role);
    acknowledge(reboot.role, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:${config.region}:${config.account}:automation-definition/<${this.getLogicalId(this.brokerReboot.document)}>:*]`,
      reason:
        'ssm:StartAutomationExecution of the broker-reboot document, any of its versions (the :* suffix)',
    });
  }
}
