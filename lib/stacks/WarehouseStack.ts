import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ShardCluster } from '../constructs/ShardCluster.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export interface WarehouseStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly dataSubnets: ec2.SubnetSelection;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
}

/** The warehouse's database, addressed by the Data API (`WAREHOUSE_DATABASE`). */
export const WAREHOUSE_DATABASE_NAME = 'warehouse';

/**
 * The analytics warehouse the ETL loads: an Aurora PostgreSQL Serverless v2 cluster reached through the
 * Data API. It is built exactly like a shard (customer-managed key for storage, secret, logs and Performance
 * Insights; rotated admin secret; backups; writer and readers in distinct zones; deletion protection and
 * retention as configured for the shards), in the data subnets behind the database security group, with
 * its own capacity and reader count (`workflows.warehouse`). A stateful stack of its own: analytics data
 * lives and is restored apart from the customer store, and the workflows on top deploy daily.
 */
export class WarehouseStack extends PlatformStack {
  public readonly warehouse: ShardCluster;

  public constructor(scope: Construct, id: string, props: WarehouseStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { warehouse } = config.workflows;

    this.warehouse = new ShardCluster(this, 'Warehouse', {
      shardId: 'warehouse',
      clusterIdentifier: `cdp-${config.name}-warehouse`,
      databaseName: WAREHOUSE_DATABASE_NAME,
      settings: {
        ...config.data.aurora,
        minCapacityAcu: warehouse.minCapacityAcu,
        maxCapacityAcu: warehouse.maxCapacityAcu,
        readersPerShard: warehouse.readers,
      },
      vpc: props.vpc,
      subnets: props.dataSubnets,
      securityGroup: props.securityGroups.database,
      rotation: { subnets: props.computeSubnets, securityGroup: props.securityGroups.compute },
      // Like the shards' logs: as long as the environment keeps its network audit trail.
      logRetention: config.network.flowLogRetentionDays,
    });
  }

  /** SQL on the warehouse through the Data API (its writer), and reading its secret. */
  public grantDataApiAccess(grantee: iam.IGrantable): iam.Grant {
    return this.warehouse.grantDataApiAccess(grantee);
  }
}
