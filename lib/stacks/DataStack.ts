import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { SecondaryIndexCache } from '../constructs/SecondaryIndexCache.js';
import { ShardCluster } from '../constructs/ShardCluster.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export interface DataStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly dataSubnets: ec2.SubnetSelection;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
}

/** Version of the shard map document; readers refuse a version they do not know. */
export const SHARD_MAP_VERSION = 1;

/** Parameter Store standard tier holds 4 KB; this bounds one shard's entry (ids, two ARNs, database). */
const SHARD_MAP_BYTES_PER_SHARD = 256;
const STANDARD_PARAMETER_BYTES = 4096;

/**
 * The stateful data tier: one Aurora cluster per shard, the Redis secondary index, and the shard map
 * that tells functions which cluster and secret serve each shard (`/cdp/<env>/shard-map`).
 */
export class DataStack extends PlatformStack {
  public readonly shards: readonly ShardCluster[];
  public readonly cache: SecondaryIndexCache;
  /** JSON: `{ version: 1, shards: [{ id, clusterArn, secretArn, database }] }`, in shard order. */
  public readonly shardMapParameter: ssm.StringParameter;
  /** `host:port` of the cache's primary endpoint. */
  public readonly cacheEndpointParameter: ssm.StringParameter;

  public constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { vpc, dataSubnets, computeSubnets, securityGroups } = props;
    // The data tier keeps its logs as long as the environment keeps its network audit trail.
    const logRetention = config.network.flowLogRetentionDays;
    const zones = this.availabilityZones;

    this.shards = Array.from(
      { length: config.data.shardCount },
      (_, i) =>
        new ShardCluster(this, `Shard${i}`, {
          shardId: `shard-${i}`,
          settings: config.data.aurora,
          vpc,
          subnets: dataSubnets,
          securityGroup: securityGroups.database,
          rotation: { subnets: computeSubnets, securityGroup: securityGroups.compute },
          // Writers start in a different zone per shard, so losing one zone fails over a minority of shards.
          availabilityZones: rotate(zones, i),
          logRetention,
        }),
    );

    this.cache = new SecondaryIndexCache(this, 'Index', {
      settings: config.data.cache,
      vpc,
      subnets: dataSubnets,
      securityGroup: securityGroups.cache,
      logRetention,
    });

    const shardMap = {
      version: SHARD_MAP_VERSION,
      shards: this.shards.map((shard) => ({
        id: shard.shardId,
        clusterArn: shard.clusterArn,
        secretArn: shard.secret.secretArn,
        database: shard.databaseName,
      })),
    };
    this.shardMapParameter = new ssm.StringParameter(this, 'ShardMap', {
      parameterName: `/cdp/${config.name}/shard-map`,
      description: `Shard map of ${config.name}: Aurora cluster and admin secret of every shard`,
      stringValue: this.toJsonString(shardMap),
      tier:
        this.shards.length * SHARD_MAP_BYTES_PER_SHARD > STANDARD_PARAMETER_BYTES
          ? ssm.ParameterTier.ADVANCED
          : ssm.ParameterTier.STANDARD,
    });
    this.cacheEndpointParameter = new ssm.StringParameter(this, 'CacheEndpoint', {
      parameterName: `/cdp/${config.name}/cache-endpoint`,
      description: `Primary endpoint (host:port) of the ${config.name} secondary index cache`,
      stringValue: this.cache.primaryEndpoint.socketAddress,
    });
  }

  /**
   * Lets `grantee` use every shard through the Data API (statements on each cluster, read of each
   * shard's secret) and read the shard map that routes it.
   */
  public grantShardAccess(grantee: iam.IGrantable): iam.Grant {
    return this.shards.reduce(
      (grant, shard) => grant.combine(shard.grantDataApiAccess(grantee)),
      this.shardMapParameter.grantRead(grantee),
    );
  }
}

/** `zones` starting at position `offset`, wrapping around. */
const rotate = (zones: readonly string[], offset: number): string[] => {
  const start = offset % zones.length;
  return [...zones.slice(start), ...zones.slice(0, start)];
};
