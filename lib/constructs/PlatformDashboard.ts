import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  type CustomMetricGroup,
  DefaultDashboardFactory,
  ElastiCacheClusterType,
  MonitoringFacade,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { ConsumerGroupLagSegment } from './dashboard/ConsumerGroupLagSegment.js';
import { MskClusterHealthSegment } from './dashboard/MskClusterHealthSegment.js';
import { GRAPH_PERIOD, perSecond, platformMetric, serviceMetric } from './dashboard/platformMetric.js';

/** The nine failure scenarios of the platform (README, docs/operations.md), in the dashboard's order. */
export const DASHBOARD_SECTIONS = [
  { scenario: 1, title: 'Kafka unavailable' },
  { scenario: 2, title: 'Consumer crashes' },
  { scenario: 3, title: 'Shard fails' },
  { scenario: 4, title: 'Redis index fails' },
  { scenario: 5, title: 'One service slow' },
  { scenario: 6, title: 'Message volume spike' },
  { scenario: 7, title: 'Deployment introduces a bug' },
  { scenario: 8, title: 'Network partition' },
  { scenario: 9, title: 'ETL fails' },
] as const;

export type Scenario = (typeof DASHBOARD_SECTIONS)[number]['scenario'];

/** The header of the overview, above the status of every alarm of the environment. */
export const ALARM_OVERVIEW_TITLE = 'Alarms';

/** The markdown header of a scenario's section, as it appears in the dashboard body. */
export const sectionHeader = (scenario: Scenario): string => {
  const section = DASHBOARD_SECTIONS.find((s) => s.scenario === scenario);
  return `§${scenario} ${section?.title ?? ''}`;
};

export interface PlatformDashboardProps {
  /** `cdp-<env>`: the dashboard's name. */
  readonly dashboardName: string;
  readonly kafka: {
    readonly clusterName: string;
    readonly brokerCount: number;
    readonly topic: string;
    readonly consumerGroup: string;
    readonly retryTopic: string;
    readonly retryConsumerGroup: string;
  };
  readonly api: apigwv2.IHttpApi;
  readonly ingest: lambda.IFunction;
  readonly spillover: sqs.IQueue;
  readonly consumer: lambda.IFunction;
  readonly failureQueue: sqs.IQueue;
  readonly query: lambda.IFunction;
  /** The BeforeAllowTraffic hooks of the guarded functions. */
  readonly probes: readonly lambda.IFunction[];
  readonly shards: readonly { readonly shardId: string; readonly clusterIdentifier: string }[];
  /** The member clusters of the Redis replication group (`<group>-001`, ...). */
  readonly cacheClusterIds: readonly string[];
  readonly replicationGroupId: string;
  readonly etl: sfn.IStateMachine;
  readonly reconciliation: sfn.IStateMachine;
  /** Every alarm of the environment, for the overview. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** The alarms that fire in each scenario, shown at the top of its section. */
  readonly scenarioAlarms: Readonly<Partial<Record<Scenario, readonly cloudwatch.IAlarm[]>>>;
}

const FULL_WIDTH = 24;
/** Alarms the status widget shows side by side at full width. */
const ALARMS_PER_ROW = 4;

/**
 * The environment's one CloudWatch dashboard, built with cdk-monitoring-constructs' `MonitoringFacade`:
 * an overview of every alarm, then one section per failure scenario with the signals to see it happen
 * and recover. Every graph reads a metric a handler publishes (namespace `CustomerDataPlatform`,
 * dimension `service` plus what the code adds) or an AWS service metric with its documented
 * dimensions. Adds no alarm: the stacks own them.
 */
export class PlatformDashboard extends Construct {
  public readonly facade: MonitoringFacade;
  public readonly dashboard: cloudwatch.Dashboard;

  public constructor(scope: Construct, id: string, props: PlatformDashboardProps) {
    super(scope, id);
    const factory = new DefaultDashboardFactory(this, 'Dashboards', {
      dashboardNamePrefix: props.dashboardName,
      createDashboard: true,
      createSummaryDashboard: false,
      createAlarmDashboard: false,
    });
    this.facade = new MonitoringFacade(this, 'Monitoring', { dashboardFactory: factory });
    const { dashboard } = factory;
    if (dashboard === undefined) throw new Error(`${props.dashboardName}: no dashboard was created`);
    this.dashboard = dashboard;
    // CloudFormation's AWS::CloudWatch::Dashboard takes Tags (aws-cdk-lib's L1, generated from the resource
    // schema, has them; the stage tags every resource), but the schema bundled with cfn-lint 1.51 predates
    // them and reports E3002 for this one property. Nothing else of this resource is written by hand.
    (dashboard.node.defaultChild as cloudwatch.CfnDashboard).addMetadata('cfn-lint', {
      config: { ignore_checks: ['E3002'] },
    });

    this.facade.addLargeHeader(ALARM_OVERVIEW_TITLE);
    this.alarmStatus(`Every alarm of ${props.dashboardName}`, props.alarms);

    this.kafkaUnavailable(props);
    this.consumerCrashes(props);
    this.shardFails(props);
    this.redisFails(props);
    this.serviceSlow(props);
    this.volumeSpike(props);
    this.badDeployment(props);
    this.networkPartition(props);
    this.etlFails(props);
  }

  private section(scenario: Scenario, props: PlatformDashboardProps): void {
    this.facade.addLargeHeader(sectionHeader(scenario));
    const alarms = props.scenarioAlarms[scenario] ?? [];
    if (alarms.length > 0) this.alarmStatus(`Alarms of §${scenario}`, alarms);
  }

  private alarmStatus(title: string, alarms: readonly cloudwatch.IAlarm[]): void {
    this.facade.addWidget(
      new cloudwatch.AlarmStatusWidget({
        title,
        alarms: [...alarms],
        width: FULL_WIDTH,
        height: 1 + Math.ceil(alarms.length / ALARMS_PER_ROW),
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );
  }

  private custom(title: string, description: string, metricGroups: CustomMetricGroup[]): void {
    this.facade.monitorCustom({
      humanReadableName: title,
      alarmFriendlyName: title,
      description,
      metricGroups,
    });
  }

  /** §1: broker health, publish errors and breaker, spill depth and oldest age, drain. */
  private kafkaUnavailable(props: PlatformDashboardProps): void {
    this.section(1, props);
    this.facade.addSegment(
      new MskClusterHealthSegment({
        clusterName: props.kafka.clusterName,
        brokerCount: props.kafka.brokerCount,
      }),
    );
    const ingest = (name: string) => platformMetric('ingest', name);
    this.custom('Ingest publishing', 'Produce failures, the brokers breaker, the spillover and its drain.', [
      {
        title: 'Publish errors and breaker openings',
        metrics: [ingest('PublishErrors'), ingest('BreakerOpen')],
      },
      {
        title: 'Events accepted, spilled, refused (503)',
        metrics: [ingest('EventsAccepted'), ingest('Spilled'), ingest('Backpressure')],
      },
      {
        title: 'Spillover depth and drain',
        metrics: [
          platformMetric('ingest', 'SpillDepth', { statistic: cloudwatch.Stats.MAXIMUM }),
          ingest('Drained'),
        ],
      },
    ]);
    this.facade.monitorSqsQueue({ queue: props.spillover, humanReadableName: 'Ingest spillover (SQS FIFO)' });
  }

  /** §2: the consumer's lag per mapping, errors, invocations, concurrency, failed records. */
  private consumerCrashes(props: PlatformDashboardProps): void {
    this.section(2, props);
    this.facade.monitorLambdaFunction({
      lambdaFunction: props.consumer,
      humanReadableName: 'Consumer',
      isOffsetLag: true,
    });
    this.facade.addSegment(
      new ConsumerGroupLagSegment({
        clusterName: props.kafka.clusterName,
        title: 'Lag per event source mapping (MSK consumer groups)',
        readings: [
          { consumerGroup: props.kafka.consumerGroup, topic: props.kafka.topic },
          { consumerGroup: props.kafka.retryConsumerGroup, topic: props.kafka.retryTopic },
        ],
      }),
    );
    const consumer = (name: string) => platformMetric('consumer', name);
    this.custom('Consumer outcomes', 'What each batch did with its records.', [
      {
        title: 'Applied, duplicate, stale',
        metrics: [consumer('EventsApplied'), consumer('EventsDuplicate'), consumer('EventsStale')],
      },
      {
        title: 'Failed, poison, rejected, conflicting',
        metrics: [
          consumer('EventsFailed'),
          consumer('EventsPoison'),
          consumer('EventsRejected'),
          consumer('EventsConflicting'),
        ],
      },
    ]);
    this.facade.monitorSqsQueue({
      queue: props.failureQueue,
      humanReadableName: 'Consumer on-failure queue',
    });
  }

  /** §3: shard transaction latency, failed and parked events, Aurora replica lag per shard. */
  private shardFails(props: PlatformDashboardProps): void {
    this.section(3, props);
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
    this.custom(
      'Shard writes',
      "The consumer's transactions per shard and the records they could not apply.",
      [
        {
          title: 'Transaction latency p99 per shard (ms)',
          metrics: perShard((shardId) =>
            platformMetric('consumer', 'ShardTransactionLatency', {
              statistic: cloudwatch.Stats.p(99),
              label: shardId,
              dimensions: { shard: shardId },
            }),
          ),
        },
        {
          title: 'Failed and parked events',
          metrics: [platformMetric('consumer', 'EventsFailed'), platformMetric('consumer', 'EventsParked')],
        },
      ],
    );
    this.custom(
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
  private redisFails(props: PlatformDashboardProps): void {
    this.section(4, props);
    const check = (name: string, statistic: string) =>
      platformMetric('cache-health', name, {
        statistic,
        dimensions: { ReplicationGroupId: props.replicationGroupId },
      });
    const query = (name: string, statistic: string = cloudwatch.Stats.SUM) =>
      platformMetric('query', name, { statistic });
    const consumer = (name: string) => platformMetric('consumer', name);
    this.custom('Redis index health check', 'The scheduled check of the replication group.', [
      {
        title: 'Healthy (1) and replicas',
        metrics: [
          check('CacheHealthy', cloudwatch.Stats.MINIMUM),
          check('CacheReplicas', cloudwatch.Stats.MINIMUM),
        ],
      },
      {
        title: 'Failovers in the lookback window',
        metrics: [check('CacheFailoversRecent', cloudwatch.Stats.MAXIMUM)],
      },
    ]);
    this.custom(
      'Query fallback',
      'Global look-ups without the index scan every shard through a bulkhead, behind a fallback cache.',
      [
        {
          title: 'Fallback mode (1 = Redis bypassed)',
          metrics: [query('FallbackMode', cloudwatch.Stats.MAXIMUM)],
        },
        {
          title: 'Index look-ups against fallback scans',
          metrics: [
            query('IndexLookups'),
            query('IndexMisses'),
            query('FallbackLookups'),
            query('FallbackCacheHits'),
            query('FallbackRejected'),
          ],
        },
        {
          title: 'Fallback database load: query p99 per shard (ms)',
          metrics: props.shards.map((shard) =>
            platformMetric('query', 'ShardQueryLatency', {
              statistic: cloudwatch.Stats.p(99),
              label: shard.shardId,
              dimensions: { shard: shard.shardId },
            }),
          ),
        },
      ],
    );
    this.custom(
      'Consumer without Redis, and the rebuild',
      'Idempotency falls back to the database guard; index changes wait in the outbox until Redis returns.',
      [
        {
          title: 'Idempotency store bypassed, index updates deferred',
          metrics: [consumer('IdempotencyStoreBypassed'), consumer('IndexUpdatesDeferred')],
        },
        {
          title: 'Index warm-up: entries rebuilt and repaired',
          metrics: [consumer('IndexEntriesRebuilt'), consumer('IndexEntriesRepaired')],
        },
      ],
    );
    for (const [i, clusterId] of props.cacheClusterIds.entries()) {
      this.facade.monitorElastiCacheCluster({
        clusterId,
        clusterType: ElastiCacheClusterType.REDIS,
        humanReadableName: `Redis index node ${i + 1}`,
        alarmFriendlyName: `RedisIndexNode${i + 1}`,
      });
    }
  }

  /** §5: p99 per dependency, breaker states, bulkhead rejections, API latency. */
  private serviceSlow(props: PlatformDashboardProps): void {
    this.section(5, props);
    const duration = (fn: lambda.IFunction, label: string) =>
      fn.metricDuration({ statistic: cloudwatch.Stats.p(99), period: GRAPH_PERIOD, label });
    this.custom(
      'Latency per dependency',
      'A slow dependency shows as one line rising while the others hold.',
      [
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
            platformMetric('consumer', 'ShardTransactionLatency', {
              statistic: cloudwatch.Stats.p(99),
              label: shard.shardId,
              dimensions: { shard: shard.shardId },
            }),
          ),
        },
        {
          title: 'Breakers open and bulkhead rejections',
          metrics: [
            platformMetric('ingest', 'BreakerOpen', { label: 'brokers breaker opened (ingest)' }),
            platformMetric('query', 'FallbackMode', {
              statistic: cloudwatch.Stats.MAXIMUM,
              label: 'Redis bypassed (query)',
            }),
            platformMetric('query', 'FallbackRejected', { label: 'scan bulkhead rejections (query)' }),
            platformMetric('ingest', 'Backpressure', { label: 'spillover full, 503 (ingest)' }),
          ],
        },
      ],
    );
    this.facade.monitorApiGatewayV2HttpApi({ api: props.api, humanReadableName: 'Platform HTTP API' });
  }

  /** §6: incoming against applied events per second, lag, pollers, concurrency. */
  private volumeSpike(props: PlatformDashboardProps): void {
    this.section(6, props);
    this.custom(
      'Throughput and scaling',
      'Lag grows while incoming outruns applied; the lag scaler adds pollers.',
      [
        {
          title: 'Events per second: accepted by ingest, applied by the consumer',
          metrics: [
            perSecond('accepted', platformMetric('ingest', 'EventsAccepted'), 'accepted/s'),
            perSecond('applied', platformMetric('consumer', 'EventsApplied'), 'applied/s'),
          ],
        },
        {
          title: 'Consumer lag (records)',
          metrics: [
            serviceMetric(
              'AWS/Lambda',
              'OffsetLag',
              { FunctionName: props.consumer.functionName },
              cloudwatch.Stats.MAXIMUM,
              'OffsetLag (Lambda)',
            ),
            serviceMetric(
              'AWS/Kafka',
              'MaxOffsetLag',
              {
                'Cluster Name': props.kafka.clusterName,
                'Consumer Group': props.kafka.consumerGroup,
                Topic: props.kafka.topic,
              },
              cloudwatch.Stats.MAXIMUM,
              'MaxOffsetLag (MSK)',
            ),
          ],
        },
        {
          title: 'Minimum pollers and scaling steps',
          metrics: [
            platformMetric('lag-scaler', 'ConsumerMinimumPollers', { statistic: cloudwatch.Stats.MAXIMUM }),
            platformMetric('lag-scaler', 'PollerScalingChanges'),
          ],
        },
        {
          title: 'Consumer concurrency',
          metrics: [
            props.consumer.metric('ConcurrentExecutions', {
              statistic: cloudwatch.Stats.MAXIMUM,
              period: GRAPH_PERIOD,
            }),
          ],
        },
      ],
    );
  }

  /** §7: errors and duration by version, the pre-traffic probes, redriven events. */
  private badDeployment(props: PlatformDashboardProps): void {
    this.section(7, props);
    const byVersion = (fn: lambda.IFunction, metricName: string, statistic: string) =>
      new cloudwatch.MathExpression({
        expression:
          `SEARCH('{AWS/Lambda,FunctionName,Resource,ExecutedVersion} MetricName="${metricName}" ` +
          `FunctionName="${fn.functionName}"', '${statistic}', ${GRAPH_PERIOD.toSeconds()})`,
        usingMetrics: {},
        period: GRAPH_PERIOD,
        label: '',
      });
    const guarded: ReadonlyArray<[string, lambda.IFunction]> = [
      ['consumer', props.consumer],
      ['ingest', props.ingest],
      ['query', props.query],
    ];
    this.custom(
      'Versions behind the live alias',
      'During a canary the new version is a line of its own; CodeDeploy rolls back when the alarms above fire.',
      [
        ...guarded.map(([name, fn]) => ({
          title: `${name}: errors by version`,
          metrics: [byVersion(fn, 'Errors', 'Sum')],
        })),
        ...guarded.map(([name, fn]) => ({
          title: `${name}: duration p99 by version (ms)`,
          metrics: [byVersion(fn, 'Duration', 'p99')],
        })),
        {
          title: 'Pre-traffic probe errors',
          metrics: props.probes.map((probe) =>
            probe.metricErrors({ statistic: cloudwatch.Stats.SUM, period: GRAPH_PERIOD }),
          ),
        },
        {
          title: 'Events redriven after a rollback',
          metrics: [platformMetric('event-redrive', 'EventsRedriven')],
        },
      ],
    );
  }

  /** §8: the retry topic's lag, parked and replayed events, reconciliation findings. */
  private networkPartition(props: PlatformDashboardProps): void {
    this.section(8, props);
    this.facade.addSegment(
      new ConsumerGroupLagSegment({
        clusterName: props.kafka.clusterName,
        title: `Retry topic ${props.kafka.retryTopic}: parked and replayed records not yet applied`,
        readings: [{ consumerGroup: props.kafka.retryConsumerGroup, topic: props.kafka.retryTopic }],
      }),
    );
    const reconciliation = (name: string) => platformMetric('reconciliation', name);
    this.custom(
      'Replays and reconciliation',
      'What was parked, replayed and repaired once connectivity returned.',
      [
        {
          title: 'Parked, replayed, redriven events',
          metrics: [
            platformMetric('consumer', 'EventsParked'),
            platformMetric('reconciliation', 'EventsReplayed', { label: 'replayed (reconciliation)' }),
            platformMetric('event-replay', 'EventsReplayed', { label: 'replayed (operator)' }),
            platformMetric('event-redrive', 'EventsRedriven'),
          ],
        },
        {
          title: 'Reconciliation findings',
          metrics: [
            reconciliation('EventGaps'),
            reconciliation('IndexMissing'),
            reconciliation('IndexStale'),
            reconciliation('IndexExtra'),
            reconciliation('IndexRepaired'),
          ],
        },
      ],
    );
    this.facade.monitorStepFunction({
      stateMachine: props.reconciliation,
      humanReadableName: 'Reconciliation workflow',
    });
  }

  /** §9: warehouse staleness, failed and re-run batches, ETL executions. */
  private etlFails(props: PlatformDashboardProps): void {
    this.section(9, props);
    const recovery = (name: string, statistic: string = cloudwatch.Stats.MAXIMUM) =>
      platformMetric('etl-recovery', name, { statistic });
    const etl = (name: string) => platformMetric('etl', name);
    this.custom(
      'Warehouse freshness and batches',
      'The recovery job re-runs FAILED batches and reports staleness.',
      [
        { title: 'Warehouse staleness (s)', metrics: [recovery('WarehouseStalenessSeconds')] },
        {
          title: 'Failed, abandoned and re-run batches',
          metrics: [
            recovery('FailedBatches'),
            recovery('AbandonedBatches'),
            recovery('BatchRerunsStarted', 'Sum'),
          ],
        },
        {
          title: 'Batches closed and rows moved',
          metrics: [etl('BatchesSucceeded'), etl('BatchesFailed'), etl('RowsExtracted'), etl('RowsLoaded')],
        },
      ],
    );
    this.facade.monitorStepFunction({ stateMachine: props.etl, humanReadableName: 'ETL workflow' });
  }
}
