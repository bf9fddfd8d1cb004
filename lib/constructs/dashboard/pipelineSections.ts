import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { ConsumerGroupLagSegment } from './ConsumerGroupLagSegment.js';
import { MskClusterHealthSegment } from './MskClusterHealthSegment.js';
import { GRAPH_PERIOD, perSecond, platformMetric, serviceMetric } from './platformMetric.js';
import type { SectionBuilder } from './SectionBuilder.js';

/** The sections of the event pipeline's failures: brokers, consumer, volume, partitions (§1, §2, §6, §8). */

/** §1: broker health, publish errors and breaker, spill depth and oldest age, drain. */
export function kafkaUnavailable(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(1);
  facade.addSegment(
    new MskClusterHealthSegment({
      clusterName: props.kafka.clusterName,
      brokerCount: props.kafka.brokerCount,
    }),
  );
  const ingest = (name: string) => platformMetric('ingest', name);
  b.custom('Ingest publishing', 'Produce failures, the brokers breaker, the spillover and its drain.', [
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
  facade.monitorSqsQueue({ queue: props.spillover, humanReadableName: 'Ingest spillover (SQS FIFO)' });
}

/** §2: the consumer's lag per mapping, errors, invocations, concurrency, failed records. */
export function consumerCrashes(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(2);
  facade.monitorLambdaFunction({
    lambdaFunction: props.consumer,
    humanReadableName: 'Consumer',
    isOffsetLag: true,
  });
  facade.addSegment(
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
  b.custom('Consumer outcomes', 'What each batch did with its records.', [
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
  facade.monitorSqsQueue({
    queue: props.failureQueue,
    humanReadableName: 'Consumer on-failure queue',
  });
}

/** §6: incoming against applied events per second, lag, pollers, concurrency. */
export function volumeSpike(b: SectionBuilder): void {
  const { props } = b;
  b.section(6);
  b.custom(
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

/** §8: the retry topic's lag, parked and replayed events, reconciliation findings. */
export function networkPartition(b: SectionBuilder): void {
  const { facade, props } = b;
  b.section(8);
  facade.addSegment(
    new ConsumerGroupLagSegment({
      clusterName: props.kafka.clusterName,
      title: `Retry topic ${props.kafka.retryTopic}: parked and replayed records not yet applied`,
      readings: [{ consumerGroup: props.kafka.retryConsumerGroup, topic: props.kafka.retryTopic }],
    }),
  );
  const reconciliation = (name: string) => platformMetric('reconciliation', name);
  b.custom(
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
  facade.monitorStepFunction({
    stateMachine: props.reconciliation,
    humanReadableName: 'Reconciliation workflow',
  });
}
