import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { ElastiCacheClusterType } from 'cdk-monitoring-constructs';
import {
  CACHE_HEALTH_METRIC_NAMES,
  CONSUMER_METRIC_NAMES,
  DIMENSIONS,
  INGEST_METRIC_NAMES,
  QUERY_METRIC_NAMES,
  SERVICES,
  shardDependency,
} from '../../../lambdas/shared/contracts/index.js';
import { GRAPH_PERIOD, platformMetric, serviceMetric } from './platformMetric.js';
import type { SectionBuilder } from './SectionBuilder.js';

/** The sections of the stores' and dependencies' failures: shards, Redis, slowness (§3, §4, §5). */

/** §3: shard transaction latency, failed and parked events, Aurora replica lag per shard. */
export function shardFails(b: SectionBuilder): void {
  const { props } = b;
  b.section(3);
  const perShard = (metric: (shardId: string) => cloudwatch.Metric) =>
    props.shards.map((shard) => metric(shard.shardId));
  const rds = (metricName: string, statistic: string) =>
    props.shards.map((shard) =>
      serviceMetric(
        'AWS/RDS',
        metricName,
        { DBClusterIdentifier: shard.clusterIdentifier },
        statistic,
        shard.shardId,
      ),
    );
  b.custom('Shard writes', "The consumer's transactions per shard and the records they could not apply.", [
    {
      title: 'Transaction latency p99 per shard (ms)',
      metrics: perShard((shardId) =>
        platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.shardTransactionLatency, {
          statistic: cloudwatch.Stats.p(99),
          label: shardId,
          dimensions: { [DIMENSIONS.shard]: shardId },
        }),
      ),
    },
    {
      title: 'Failed and parked events',
      metrics: [
        platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.eventsFailed),
        platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.eventsParked),
      ],
    },
  ]);
  b.custom(
    'Aurora shard clusters',
    'Failovers are RDS events, not metrics: a replica lag gap or a dip in connections marks them.',
    [
      {
        title: 'Replica lag, worst replica (ms)',
        metrics: rds('AuroraReplicaLagMaximum', cloudwatch.Stats.MAXIMUM),
      },
      { title: 'Writer connections', metrics: rds('DatabaseConnections', cloudwatch.Stats.MAXIMUM) },
      { title: 'CPU (%)', metrics: rds('CPUUtilization', cloudwatch.Stats.MAXIMUM) },
    ],
  );
}

/** §4: Redis health and failovers, fallback mode and its database load, index rebuild. */
export function redisFails(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(4);
  const check = (name: string, statistic: string) =>
    platformMetric(SERVICES.cacheHealth, name, {
      statistic,
      dimensions: { [DIMENSIONS.replicationGroupId]: props.replicationGroupId },
    });
  const query = (name: string, statistic: string = cloudwatch.Stats.SUM) =>
    platformMetric(SERVICES.query, name, { statistic });
  const consumer = (name: string) => platformMetric(SERVICES.consumer, name);
  b.custom('Redis index health check', 'The scheduled check of the replication group.', [
    {
      title: 'Healthy (1) and replicas',
      metrics: [
        check(CACHE_HEALTH_METRIC_NAMES.healthy, cloudwatch.Stats.MINIMUM),
        check(CACHE_HEALTH_METRIC_NAMES.replicas, cloudwatch.Stats.MINIMUM),
      ],
    },
    {
      title: 'Failovers in the lookback window',
      metrics: [check(CACHE_HEALTH_METRIC_NAMES.failoversRecent, cloudwatch.Stats.MAXIMUM)],
    },
  ]);
  b.custom(
    'Query fallback',
    'Global look-ups without the index scan every shard through a bulkhead, behind a fallback cache.',
    [
      {
        title: 'Fallback mode (1 = Redis bypassed)',
        metrics: [query(QUERY_METRIC_NAMES.fallbackMode, cloudwatch.Stats.MAXIMUM)],
      },
      {
        title: 'Fallback scans',
        metrics: [query(QUERY_METRIC_NAMES.fallbackLookups)],
      },
      {
        title: 'Fallback database load: query p99 per shard (ms)',
        metrics: props.shards.map((shard) =>
          platformMetric(SERVICES.query, QUERY_METRIC_NAMES.shardQueryLatency, {
            statistic: cloudwatch.Stats.p(99),
            label: shard.shardId,
            dimensions: { [DIMENSIONS.shard]: shard.shardId },
          }),
        ),
      },
    ],
  );
  b.custom(
    'Consumer without Redis, and the rebuild',
    'Idempotency falls back to the database guard; index changes wait in the outbox until Redis returns.',
    [
      {
        title: 'Idempotency store bypassed',
        metrics: [consumer(CONSUMER_METRIC_NAMES.idempotencyStoreBypassed)],
      },
    ],
  );
  for (const [i, clusterId] of props.cacheClusterIds.entries()) {
    facade.monitorElastiCacheCluster({
      clusterId,
      clusterType: ElastiCacheClusterType.REDIS,
      humanReadableName: `Redis index node ${i + 1}`,
      alarmFriendlyName: `RedisIndexNode${i + 1}`,
    });
  }
}

/** §5: p99 per dependency, breaker states, bulkhead rejections, API latency. */
export function serviceSlow(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(5);
  const duration = (fn: lambda.IFunction, label: string) =>
    fn.metricDuration({ statistic: cloudwatch.Stats.p(99), period: GRAPH_PERIOD, label });
  b.custom('Latency per dependency', 'A slow dependency shows as one line rising while the others hold.', [
    {
      title: 'Function duration p99 (ms)',
      metrics: [
        duration(props.ingest, 'ingest'),
        duration(props.query, 'query'),
        duration(props.consumer, 'consumer'),
      ],
    },
    {
      title: 'Shard write p99 per shard (ms)',
      metrics: props.shards.map((shard) =>
        platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.shardTransactionLatency, {
          statistic: cloudwatch.Stats.p(99),
          label: shard.shardId,
          dimensions: { [DIMENSIONS.shard]: shard.shardId },
        }),
      ),
    },
    {
      title: 'Breakers open and Redis bypassed',
      metrics: [
        platformMetric(SERVICES.ingest, INGEST_METRIC_NAMES.breakerOpen, {
          label: 'brokers breaker opened (ingest)',
        }),
        platformMetric(SERVICES.query, QUERY_METRIC_NAMES.fallbackMode, {
          statistic: cloudwatch.Stats.MAXIMUM,
          label: 'Redis bypassed (query)',
        }),
        ...props.shards.map((shard) =>
          platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.breakerOpened, {
            label: `${shard.shardId} breaker opened (consumer)`,
            dimensions: { [DIMENSIONS.dependency]: shardDependency(shard.shardId) },
          }),
        ),
      ],
    },
  ]);
  facade.monitorApiGatewayV2HttpApi({ api: props.api, humanReadableName: 'Platform HTTP API' });
}
