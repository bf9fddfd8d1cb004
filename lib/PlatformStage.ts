import { Stage, type StageProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, resilienceEnabled } from './config/index.js';
import { FAULT_TARGET_TAG, FAULT_TARGETS } from './gameDays.js';
import { ApiStack } from './stacks/ApiStack.js';
import { ConsumerStack } from './stacks/ConsumerStack.js';
import { DashboardStack } from './stacks/DashboardStack.js';
import { DataStack } from './stacks/DataStack.js';
import { IngestStack } from './stacks/IngestStack.js';
import { NetworkStack } from './stacks/NetworkStack.js';
import { OperationsStack } from './stacks/OperationsStack.js';
import { QueryStack } from './stacks/QueryStack.js';
import { RemediationStack } from './stacks/RemediationStack.js';
import { ResilienceStack } from './stacks/ResilienceStack.js';
import { StreamingStack } from './stacks/StreamingStack.js';
import { WarehouseStack } from './stacks/WarehouseStack.js';
import { WorkflowsStack } from './stacks/WorkflowsStack.js';

export interface PlatformStageProps extends StageProps {
  readonly config: EnvironmentConfig;
}

/**
 * One environment of the platform. Stacks are split by lifecycle: the network and the stateful tiers
 * (streaming, data) change rarely and are protected; compute stacks, added on top, deploy often.
 */
export class PlatformStage extends Stage {
  public readonly network: NetworkStack;
  public readonly streaming: StreamingStack;
  public readonly data: DataStack;
  public readonly consumer: ConsumerStack;
  public readonly api: ApiStack;
  public readonly query: QueryStack;
  public readonly ingest: IngestStack;
  public readonly operations: OperationsStack;
  public readonly remediation: RemediationStack;
  public readonly warehouse: WarehouseStack;
  public readonly workflows: WorkflowsStack;
  public readonly dashboard: DashboardStack;
  /** FIS game days; only where `resilience` is enabled (dev and uat unless configured otherwise). */
  public readonly resilience: ResilienceStack | undefined;

  public constructor(scope: Construct, id: string, props: PlatformStageProps) {
    const { config } = props;
    super(scope, id, { ...props, env: { account: config.account, region: config.region } });
    Tags.of(this).add('platform', 'customer-data-platform');
    Tags.of(this).add('environment', config.name);

    const prefix = `cdp-${config.name}`;
    this.network = new NetworkStack(this, 'Network', {
      config,
      stackName: `${prefix}-network`,
      description: `Customer data platform (${config.name}): VPC, endpoints, security groups`,
    });
    const placement = {
      vpc: this.network.vpc,
      dataSubnets: this.network.dataSubnets,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
    };
    this.streaming = new StreamingStack(this, 'Streaming', {
      config,
      ...placement,
      stackName: `${prefix}-streaming`,
      description: `Customer data platform (${config.name}): MSK cluster and topics`,
      terminationProtection: config.retention.terminationProtection,
    });
    this.data = new DataStack(this, 'Data', {
      config,
      ...placement,
      stackName: `${prefix}-data`,
      description: `Customer data platform (${config.name}): Aurora shard clusters, shard map, Redis index`,
      terminationProtection: config.retention.terminationProtection,
    });
    this.warehouse = new WarehouseStack(this, 'Warehouse', {
      config,
      ...placement,
      stackName: `${prefix}-warehouse`,
      description: `Customer data platform (${config.name}): analytics warehouse (Aurora PostgreSQL, Data API)`,
      terminationProtection: config.retention.terminationProtection,
    });
    // Stateless compute: rebuilt from code, so never termination protected.
    this.consumer = new ConsumerStack(this, 'Consumer', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      data: this.data,
      stackName: `${prefix}-consumer`,
      description: `Customer data platform (${config.name}): customer event consumer and shard schema migrations`,
    });
    this.remediation = new RemediationStack(this, 'Remediation', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      consumer: this.consumer,
      stackName: `${prefix}-remediation`,
      description: `Customer data platform (${config.name}): the consumer's lag scaler and the event redrive`,
    });
    // One HTTP API for every caller; the query and ingest stacks add their routes to it.
    this.api = new ApiStack(this, 'Api', {
      config,
      stackName: `${prefix}-api`,
      description: `Customer data platform (${config.name}): HTTP API (IAM authorized) for queries and ingestion`,
    });
    this.query = new QueryStack(this, 'Query', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      data: this.data,
      api: this.api.api,
      stackName: `${prefix}-query`,
      description: `Customer data platform (${config.name}): customer query routes and function`,
    });
    this.ingest = new IngestStack(this, 'Ingest', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      data: this.data,
      api: this.api.api,
      stackName: `${prefix}-ingest`,
      description: `Customer data platform (${config.name}): event ingestion routes and function, spillover queue and drainer`,
    });
    this.operations = new OperationsStack(this, 'Operations', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      data: this.data,
      stackName: `${prefix}-operations`,
      description: `Customer data platform (${config.name}): scheduled MSK and Redis health checks with alarms`,
    });
    this.workflows = new WorkflowsStack(this, 'Workflows', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      data: this.data,
      warehouse: this.warehouse,
      stackName: `${prefix}-workflows`,
      description: `Customer data platform (${config.name}): ETL, recovery, reconciliation and replay workflows`,
    });
    // The dashboard reads every other stack and shows every alarm the stage holds by now; the game days,
    // which only import alarms, capture it in their reports.
    this.dashboard = new DashboardStack(this, 'Dashboard', {
      config,
      streaming: this.streaming,
      data: this.data,
      consumer: this.consumer,
      remediation: this.remediation,
      api: this.api,
      query: this.query,
      ingest: this.ingest,
      operations: this.operations,
      workflows: this.workflows,
      alarmScope: this,
      stackName: `${prefix}-dashboard`,
      description: `Customer data platform (${config.name}): the operations dashboard, one section per failure scenario`,
    });

    this.resilience = resilienceEnabled(config) ? this.addResilience(config, prefix) : undefined;
  }

  /** The game-day experiments, and the tags by which they select their targets in the stateful stacks. */
  private addResilience(config: EnvironmentConfig, prefix: string): ResilienceStack {
    const tag = (scope: Construct, target: string, resourceType: string) =>
      Tags.of(scope).add(FAULT_TARGET_TAG, target, { includeResourceTypes: [resourceType] });
    for (const shard of this.data.shards) tag(shard.cluster, FAULT_TARGETS.shard, 'AWS::RDS::DBCluster');
    tag(this.data.cache.replicationGroup, FAULT_TARGETS.index, 'AWS::ElastiCache::ReplicationGroup');
    for (const subnet of this.network.vpc.selectSubnets(this.network.dataSubnets).subnets) {
      tag(subnet, FAULT_TARGETS.dataSubnet, 'AWS::EC2::Subnet');
    }
    return new ResilienceStack(this, 'Resilience', {
      config,
      vpc: this.network.vpc,
      dataSubnets: this.network.dataSubnets,
      streaming: this.streaming,
      data: this.data,
      consumer: this.consumer,
      query: this.query,
      ingest: this.ingest,
      dashboardArn: this.dashboard.dashboard.dashboard.dashboardArn,
      stackName: `${prefix}-resilience`,
      description: `Customer data platform (${config.name}): AWS FIS game-day experiments and their reports`,
    });
  }
}
