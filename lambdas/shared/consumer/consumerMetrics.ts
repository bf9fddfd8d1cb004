import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { CONSUMER_METRIC_NAMES, DIMENSIONS } from '../contracts/index.js';
import type { Counters } from './counters.js';

/** The metric each counter of an invocation is published under. */
const COUNTER_METRICS: Readonly<Record<keyof Counters, string>> = {
  applied: CONSUMER_METRIC_NAMES.eventsApplied,
  stale: CONSUMER_METRIC_NAMES.eventsStale,
  duplicates: CONSUMER_METRIC_NAMES.eventsDuplicate,
  poison: CONSUMER_METRIC_NAMES.eventsPoison,
  conflicts: CONSUMER_METRIC_NAMES.eventsConflicting,
  rejected: CONSUMER_METRIC_NAMES.eventsRejected,
  failed: CONSUMER_METRIC_NAMES.eventsFailed,
  parked: CONSUMER_METRIC_NAMES.eventsParked,
  idempotencyBypassed: CONSUMER_METRIC_NAMES.idempotencyStoreBypassed,
};

/** Publishes the counters of one invocation, with the metrics stored so far, and warns of a bypassed store. */
export function publishCounts(c: Counters, metrics: Metrics, logger: Logger): void {
  for (const key of Object.keys(COUNTER_METRICS) as Array<keyof Counters>) {
    metrics.addMetric(COUNTER_METRICS[key], MetricUnit.Count, c[key]);
  }
  if (c.idempotencyBypassed > 0) {
    logger.warn(
      'idempotency store bypassed (unreachable, or holding in-progress records of an interrupted delivery); the database guard decided alone',
      {
        events: c.idempotencyBypassed,
      },
    );
  }
  metrics.publishStoredMetrics();
}

/** Counts an opening of `shardId`'s breaker at once (the batch may outlive the minute it opened in). */
export function countBreakerOpened(metrics: Metrics, shardId: string): void {
  const opened = metrics.singleMetric();
  opened.addDimension(DIMENSIONS.dependency, shardId);
  opened.addMetric(CONSUMER_METRIC_NAMES.breakerOpened, MetricUnit.Count, 1);
}

/** Publishes at once how long one shard's transactions for a batch took. */
export function recordShardTransactionLatency(metrics: Metrics, shardId: string, millis: number): void {
  const latency = metrics.singleMetric();
  latency.addDimension(DIMENSIONS.shard, shardId);
  latency.addMetric(CONSUMER_METRIC_NAMES.shardTransactionLatency, MetricUnit.Milliseconds, millis);
}
