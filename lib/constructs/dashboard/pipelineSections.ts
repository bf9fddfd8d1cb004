import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import {
  CONSUMER_METRIC_NAMES,
  INGEST_METRIC_NAMES,
  SERVICES,
} from '../../../lambdas/shared/contracts/index.js';
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
  const ingest = (name: string) => platformMetric(SERVICES.ingest, name);
  b.custom('Ingest publishing', 'Produce failures, the brokers breaker, the spillover and its drain.', [
    {
      title: 'Publish errors and breaker openings',
      metrics: [ingest(INGEST_METRIC_NAMES.publishErrors), ingest(INGEST_METRIC_NAMES.breakerOpen)],
    },
    {
      title: 'Events accepted and spilled',
      metrics: [ingest(INGEST_METRIC_NAMES.eventsAccepted), ingest(INGEST_METRIC_NAMES.spilled)],
    },
    {
      title: 'Spillover depth and drain',
      metrics: [
        platformMetric(SERVICES.ingest, INGEST_METRIC_NAMES.spillDepth, {
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        platformMetric(SERVICES.spilloverDrainer, INGEST_METRIC_NAMES.drained),
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
  const consumer = (name: string) => platformMetric(SERVICES.consumer, name);
  b.custom('Consumer outcomes', 'What each batch did with its records.', [
    {
      title: 'Applied, duplicate, stale',
      metrics: [
        consumer(CONSUMER_METRIC_NAMES.eventsApplied),
        consumer(CONSUMER_METRIC_NAMES.eventsDuplicate),
        consumer(CONSUMER_METRIC_NAMES.eventsStale),
      ],
    },
    {
      title: 'Failed, poison, rejected, conflicting',
      metrics: [
        consumer(CONSUMER_METRIC_NAMES.eventsFailed),
        consumer(CONSUMER_METRIC_NAMES.eventsPoison),
        consumer(CONSUMER_METRIC_NAMES.eventsRejected),
        consumer(CONSUMER_METRIC_NAMES.eventsConflicting),
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
          perSecond(
            'accepted',
            platformMetric(SERVICES.ingest, INGEST_METRIC_NAMES.eventsAccepted),
            'accepted/s',
          ),
          perSecond(
            'applied',
            platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.eventsApplied),
            'applied/s',
          ),
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
  b.custom(
    'Replays and reconciliation',
    'What was parked, replayed and repaired once connectivity returned.',
    [
      {
        title: 'Events parked on the retry topic',
        metrics: [platformMetric(SERVICES.consumer, CONSUMER_METRIC_NAMES.eventsParked)],
      },
    ],
  );
  facade.monitorStepFunction({
    stateMachine: props.reconciliation,
    humanReadableName: 'Reconciliation workflow',
  });
}
