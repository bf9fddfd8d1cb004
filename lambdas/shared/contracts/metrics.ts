/**
 * The platform's metrics as the functions emit them (Powertools EMF) and the alarms and dashboards read
 * them. Every metric carries the `service` dimension (Powertools adds the function's service name); a few
 * add one more, listed in {@link METRIC_EXTRA_DIMENSIONS}. Nothing here imports anything: both the CDK
 * app and the functions use it.
 */
export const METRIC_NAMESPACE = 'CustomerDataPlatform';

/** Dimension names. */
export const DIMENSIONS = {
  /** The function's Powertools service name; on every metric. */
  service: 'service',
  /** A shard id of the shard map. */
  shard: 'shard',
  /** The MSK cluster's name. */
  clusterName: 'ClusterName',
  /** The ElastiCache replication group id. */
  replicationGroupId: 'ReplicationGroupId',
  /** The dependency a breaker guards (`shard-2`, `redis-index`, ...). */
  dependency: 'dependency',
} as const;

/** The `service` dimension value of each function (its Powertools service name). */
export const SERVICES = {
  ingest: 'ingest',
  /** The drainer republishes the ingest path's spillover and reports as the ingest service. */
  spilloverDrainer: 'ingest',
  consumer: 'consumer',
  query: 'query',
  brokerHealth: 'broker-health',
  cacheHealth: 'cache-health',
  etl: 'etl',
  etlRecovery: 'etl-recovery',
  reconciliation: 'reconciliation',
  eventReplay: 'event-replay',
  eventRedrive: 'event-redrive',
  lagScaler: 'lag-scaler',
} as const;

export const INGEST_METRIC_NAMES = {
  /** Events in the spillover, as last seen (gauge). */
  spillDepth: 'SpillDepth',
  /** Events written to the spillover instead of the brokers. */
  spilled: 'Spilled',
  /** Spilled events republished by the drainer, and how many per second in the last pass. */
  drained: 'Drained',
  drainRate: 'DrainRate',
  /** Failed produce requests (after retries for the publisher; failed probes for the drainer). */
  publishErrors: 'PublishErrors',
  /** The brokers' breaker opened. */
  breakerOpen: 'BreakerOpen',
  /** Events refused with 503 because the spillover was full. */
  backpressure: 'Backpressure',
  eventsAccepted: 'EventsAccepted',
  idempotentReplays: 'IdempotentReplays',
  /** Requests published without the `Idempotency-Key` guard because Redis was unavailable. */
  idempotencyStoreBypassed: 'IdempotencyStoreBypassed',
  requestsRejected: 'RequestsRejected',
  publishFailures: 'PublishFailures',
} as const;

export const CONSUMER_METRIC_NAMES = {
  eventsApplied: 'EventsApplied',
  eventsStale: 'EventsStale',
  eventsDuplicate: 'EventsDuplicate',
  eventsPoison: 'EventsPoison',
  eventsConflicting: 'EventsConflicting',
  eventsRejected: 'EventsRejected',
  /** Events whose shard write failed: reported in the partial batch response and redelivered. */
  eventsFailed: 'EventsFailed',
  /** Events of a shard whose breaker is open, parked on the retry topic. */
  eventsParked: 'EventsParked',
  /** Events the idempotency store could not decide: the database guard decided alone. */
  idempotencyStoreBypassed: 'IdempotencyStoreBypassed',
  /** One shard transaction, with the `shard` dimension. */
  shardTransactionLatency: 'ShardTransactionLatency',
  /** A breaker around one dependency opened, with the `dependency` dimension. */
  breakerOpened: 'BreakerOpened',
  indexUpdatesDeferred: 'IndexUpdatesDeferred',
  indexEntriesRebuilt: 'IndexEntriesRebuilt',
  indexEntriesRepaired: 'IndexEntriesRepaired',
} as const;

export const QUERY_METRIC_NAMES = {
  /** Index entries written by the rate-limited warm-up after Redis came back. */
  indexWarmupProgress: 'IndexWarmupProgress',
  indexLookups: 'IndexLookups',
  indexMisses: 'IndexMisses',
  fallbackLookups: 'FallbackLookups',
  fallbackCacheHits: 'FallbackCacheHits',
  fallbackRejected: 'FallbackRejected',
  /** 1 while global look-ups bypass the index (Redis down or its breaker open), 0 otherwise. */
  fallbackMode: 'FallbackMode',
  /** One shard query of a look-up, with the `shard` dimension. */
  shardQueryLatency: 'ShardQueryLatency',
  /** A breaker around one dependency opened, with the `dependency` dimension. */
  breakerOpened: 'BreakerOpened',
} as const;

export const REPLAY_METRIC_NAMES = {
  /** Events copied to the retry topic by a replay (time or offset range). */
  eventsReplayed: 'EventsReplayed',
  /** Failed records redriven from the consumer's on-failure queue. */
  eventsRedriven: 'EventsRedriven',
} as const;

export const SCALING_METRIC_NAMES = {
  consumerMinimumPollers: 'ConsumerMinimumPollers',
  pollerScalingChanges: 'PollerScalingChanges',
} as const;

export const BROKER_HEALTH_METRIC_NAMES = {
  healthy: 'ClusterHealthy',
  stateActive: 'ClusterStateActive',
  brokersExpected: 'BrokersExpected',
  brokersListed: 'BrokersListed',
} as const;

export const CACHE_HEALTH_METRIC_NAMES = {
  healthy: 'CacheHealthy',
  replicas: 'CacheReplicas',
  failoversRecent: 'CacheFailoversRecent',
} as const;

export const ETL_METRIC_NAMES = {
  batchesSucceeded: 'BatchesSucceeded',
  batchesFailed: 'BatchesFailed',
  rowsExtracted: 'RowsExtracted',
  rowsLoaded: 'RowsLoaded',
  abandonedBatches: 'AbandonedBatches',
  warehouseStalenessSeconds: 'WarehouseStalenessSeconds',
  failedBatches: 'FailedBatches',
  batchRerunsStarted: 'BatchRerunsStarted',
} as const;

export const RECONCILIATION_METRIC_NAMES = {
  eventsReplayed: 'EventsReplayed',
  indexMissing: 'IndexMissing',
  indexStale: 'IndexStale',
  indexExtra: 'IndexExtra',
  indexRepaired: 'IndexRepaired',
  eventGaps: 'EventGaps',
} as const;

/** Dimensions a metric carries besides `service`; a metric not listed has `service` alone. */
export const METRIC_EXTRA_DIMENSIONS: Readonly<Record<string, readonly string[]>> = {
  [CONSUMER_METRIC_NAMES.shardTransactionLatency]: [DIMENSIONS.shard],
  [CONSUMER_METRIC_NAMES.breakerOpened]: [DIMENSIONS.dependency],
  [QUERY_METRIC_NAMES.shardQueryLatency]: [DIMENSIONS.shard],
  [BROKER_HEALTH_METRIC_NAMES.healthy]: [DIMENSIONS.clusterName],
  [BROKER_HEALTH_METRIC_NAMES.stateActive]: [DIMENSIONS.clusterName],
  [BROKER_HEALTH_METRIC_NAMES.brokersExpected]: [DIMENSIONS.clusterName],
  [BROKER_HEALTH_METRIC_NAMES.brokersListed]: [DIMENSIONS.clusterName],
  [CACHE_HEALTH_METRIC_NAMES.healthy]: [DIMENSIONS.replicationGroupId],
  [CACHE_HEALTH_METRIC_NAMES.replicas]: [DIMENSIONS.replicationGroupId],
  [CACHE_HEALTH_METRIC_NAMES.failoversRecent]: [DIMENSIONS.replicationGroupId],
};

/** The `dependency` dimension value of a shard's breaker. */
export const shardDependency = (shardId: string): string => shardId;
/** The `dependency` dimension value of the breakers around Redis (idempotency store and index). */
export const REDIS_DEPENDENCY = 'redis';
