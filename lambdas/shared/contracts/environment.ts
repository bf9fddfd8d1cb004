/**
 * The environment variables the CDK app sets on the functions and the functions read, by name. Each
 * function validates its own set at cold start (see its `environment.ts`).
 */
export const ENV = {
  topic: 'TOPIC',
  retryTopic: 'RETRY_TOPIC',
  clusterArn: 'CLUSTER_ARN',
  shardMap: 'SHARD_MAP',
  redisHost: 'REDIS_HOST',
  redisPort: 'REDIS_PORT',
  redisAuthSecretArn: 'REDIS_AUTH_SECRET_ARN',
  dlqQueueUrl: 'DLQ_QUEUE_URL',
  failureQueueUrl: 'FAILURE_QUEUE_URL',
  spilloverQueueUrl: 'SPILLOVER_QUEUE_URL',
  spilloverMaxDepth: 'SPILLOVER_MAX_DEPTH',
  producerCompression: 'PRODUCER_COMPRESSION',
  producerMaxRecordsPerRequest: 'PRODUCER_MAX_RECORDS_PER_REQUEST',
  probedApi: 'PROBED_API',
  targetVersionArn: 'TARGET_VERSION_ARN',
  expectedBrokers: 'EXPECTED_BROKERS',
  replicationGroupId: 'REPLICATION_GROUP_ID',
  eventLookbackMinutes: 'EVENT_LOOKBACK_MINUTES',
  etlStateMachineArn: 'ETL_STATE_MACHINE_ARN',
  etlMaxRetries: 'ETL_MAX_RETRIES',
  etlSettleSeconds: 'ETL_SETTLE_SECONDS',
  etlAbandonAfterSeconds: 'ETL_ABANDON_AFTER_SECONDS',
  mappingUuid: 'MAPPING_UUID',
  highLagAlarms: 'HIGH_LAG_ALARMS',
  lowLagAlarm: 'LOW_LAG_ALARM',
  scalingFloor: 'SCALING_FLOOR',
  scalingCeiling: 'SCALING_CEILING',
  scalingStep: 'SCALING_STEP',
  scalingCooldownSeconds: 'SCALING_COOLDOWN_SECONDS',
  warehouseClusterArn: 'WAREHOUSE_CLUSTER_ARN',
  warehouseSecretArn: 'WAREHOUSE_SECRET_ARN',
  warehouseDatabase: 'WAREHOUSE_DATABASE',
  powertoolsServiceName: 'POWERTOOLS_SERVICE_NAME',
  powertoolsMetricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
