import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { SecondaryIndexCache } from '../constructs/SecondaryIndexCache.js';
import { ShardCluster } from '../constructs/ShardCluster.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
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
  /** Alarms named after the failure scenarios they detect (§3 replica lag, §4 Redis memory and evictions). */
  public readonly scenarioAlarms: readonly cloudwatch.Alarm[];

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
    this.scenarioAlarms = this.addScenarioAlarms();
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

  /**
   * The data tier's alarms named after the failure scenarios: a shard's Aurora replica falling behind (§3:
   * a failover would wait for it) and the Redis index running out of memory or evicting entries (§4).
   */
  private addScenarioAlarms(): cloudwatch.Alarm[] {
    const { config } = this;
    const thresholds = config.scenarioAlarms;
    const namePrefix = `cdp-${config.name}`;
    const replicaLag = this.shards.map(
      (shard, i) =>
        new cloudwatch.Alarm(this, `Shard${i}ReplicaLagAlarm`, {
          alarmName: scenarioAlarmName(namePrefix, 3, `replica-lag-${shard.shardId}`),
          alarmDescription:
            `${shard.shardId}: an Aurora replica more than ${thresholds.auroraReplicaLagMillis} ms behind the ` +
            'writer for 5 minutes; a failover now would promote a stale replica or wait',
          metric: new cloudwatch.Metric({
            namespace: 'AWS/RDS',
            metricName: 'AuroraReplicaLagMaximum',
            dimensionsMap: { DBClusterIdentifier: shard.cluster.clusterIdentifier },
            period: Duration.minutes(1),
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
          threshold: thresholds.auroraReplicaLagMillis,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    const perNode = (metricName: string, statistic: string) =>
      Object.fromEntries(
        this.cache.memberClusterIds.map((id, i) => [
          `n${i}`,
          new cloudwatch.Metric({
            namespace: 'AWS/ElastiCache',
            metricName,
            dimensionsMap: { CacheClusterId: id },
            period: Duration.minutes(5),
            statistic,
          }),
        ]),
      );
    const nodes = this.cache.memberClusterIds.map((_, i) => `FILL(n${i}, 0)`).join(', ');
    const memory = new cloudwatch.Alarm(this, 'IndexMemoryAlarm', {
      alarmName: scenarioAlarmName(namePrefix, 4, 'redis-memory'),
      alarmDescription:
        `Redis index: a node above ${thresholds.redisMemoryPercent}% of its memory for 15 minutes; ` +
        'evictions would drop index entries (queries fall back to the shards)',
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${nodes}])`,
        usingMetrics: perNode('DatabaseMemoryUsagePercentage', cloudwatch.Stats.MAXIMUM),
        period: Duration.minutes(5),
        label: 'Memory use of the fullest node (%)',
      }),
      threshold: thresholds.redisMemoryPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const evictions = new cloudwatch.Alarm(this, 'IndexEvictionsAlarm', {
      alarmName: scenarioAlarmName(namePrefix, 4, 'redis-evictions'),
      alarmDescription:
        `Redis index: more than ${thresholds.redisEvictions} keys evicted in 5 minutes; lost entries are ` +
        'found by the reconciliation and rebuilt from the shards',
      metric: new cloudwatch.MathExpression({
        expression: `SUM([${nodes}])`,
        usingMetrics: perNode('Evictions', cloudwatch.Stats.SUM),
        period: Duration.minutes(5),
        label: 'Keys evicted on every node',
      }),
      threshold: thresholds.redisEvictions,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    return [...replicaLag, memory, evictions];
  }
}

/** `zones` starting at position `offset`, wrapping around. */
const rotate = (zones: readonly string[], offset: number): string[] => {
  const start = offset % zones.length;
  return [...zones.slice(start), ...zones.slice(0, start)];
};
