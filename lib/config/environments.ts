import { consumerGroupName, TOPICS } from '../../lambdas/shared/contracts/index.js';
import type { EnvironmentConfig, EnvironmentName } from './schema.js';

/**
 * The topics every environment carries. Partition counts may only grow (Kafka cannot shrink a topic);
 * the topic manager refuses a decrease.
 */
const topics = (scale: number): EnvironmentConfig['streaming']['topics'] => [
  { name: TOPICS.events, partitions: 12 * scale, retentionHours: 24 * 7 },
  // Parked records of an unavailable shard and replays, read by the consumer's second mapping.
  { name: TOPICS.retry, partitions: 12 * scale, retentionHours: 24 * 7 },
  { name: TOPICS.deadLetters, partitions: 3, retentionHours: 24 * 14 },
];

/**
 * Account ids are placeholders; override them per deployment with `-c account=... -c region=...`.
 * Nothing here is secret.
 */
export const environments: Readonly<Record<EnvironmentName, EnvironmentConfig>> = {
  dev: {
    name: 'dev',
    account: '111111111111',
    region: 'eu-west-1',
    availabilityZoneCount: 3,
    network: { cidr: '10.10.0.0/16', flowLogRetentionDays: 14 },
    streaming: {
      kafkaVersion: '4.1.x.kraft',
      brokerCount: 3,
      brokerInstanceType: 'kafka.t3.small',
      brokerStorageGiB: 100,
      logRetentionDays: 14,
      topics: topics(1),
    },
    data: {
      shardCount: 2,
      aurora: {
        engineVersion: '16.6',
        minCapacityAcu: 0.5,
        maxCapacityAcu: 4,
        readersPerShard: 1,
        backupRetentionDays: 1,
        deletionProtection: false,
        retainOnDelete: false,
        secretRotationDays: 30,
        port: 5433,
      },
      cache: {
        engineVersion: '7.1',
        nodeType: 'cache.t4g.small',
        replicasPerNodeGroup: 1,
        snapshotRetentionDays: 1,
        port: 6380,
      },
    },
    deployment: { strategy: 'allAtOnce' },
    alarms: { consumerOffsetLag: 50_000, functionErrors: 10, durationP99Millis: 10_000, dlqDepth: 100 },
    consumer: {
      topic: TOPICS.events,
      retryTopic: TOPICS.retry,
      consumerGroup: consumerGroupName('cdp-dev'),
      batchSize: 100,
      maxBatchingWindowSeconds: 1,
      minimumPollers: 1,
      maximumPollers: 3,
      retryAttempts: 3,
      maxRecordAgeSeconds: 3_600,
      memoryMiB: 512,
      timeoutSeconds: 60,
      throughputMBps: { steady: 0.5, peak: 5 },
      scaling: { ceiling: 3, step: 1, cooldownSeconds: 120, highLag: 5_000, lowLag: 500, lowLagMinutes: 10 },
    },
    api: { throttleRatePerSecond: 50, throttleBurst: 100 },
    ingest: { spilloverMaxDepth: 10_000, spillDepthAlarm: 1_000 },
    workflows: {
      // Hourly: dev analytics tolerate a day-old view; a run costs little either way.
      etl: {
        intervalMinutes: 60,
        settleSeconds: 120,
        recoveryIntervalMinutes: 15,
        maxRetries: 2,
        stalenessAlarmSeconds: 3 * 3_600,
      },
      reconciliation: { intervalMinutes: 360 },
      warehouse: { minCapacityAcu: 0.5, maxCapacityAcu: 4, readers: 1 },
      logRetentionDays: 14,
    },
  },
  uat: {
    name: 'uat',
    account: '222222222222',
    region: 'eu-west-1',
    availabilityZoneCount: 3,
    network: { cidr: '10.20.0.0/16', flowLogRetentionDays: 30 },
    streaming: {
      kafkaVersion: '4.1.x.kraft',
      brokerCount: 3,
      brokerInstanceType: 'kafka.m7g.large',
      brokerStorageGiB: 250,
      logRetentionDays: 30,
      topics: topics(1),
    },
    data: {
      shardCount: 4,
      aurora: {
        engineVersion: '16.6',
        minCapacityAcu: 0.5,
        maxCapacityAcu: 8,
        readersPerShard: 1,
        backupRetentionDays: 7,
        deletionProtection: true,
        retainOnDelete: false,
        secretRotationDays: 30,
        port: 5433,
      },
      cache: {
        engineVersion: '7.1',
        nodeType: 'cache.m7g.large',
        replicasPerNodeGroup: 1,
        snapshotRetentionDays: 7,
        port: 6380,
      },
    },
    deployment: { strategy: 'canary10Percent5Minutes' },
    alarms: { consumerOffsetLag: 20_000, functionErrors: 5, durationP99Millis: 8_000, dlqDepth: 10 },
    consumer: {
      topic: TOPICS.events,
      retryTopic: TOPICS.retry,
      consumerGroup: consumerGroupName('cdp-uat'),
      batchSize: 500,
      maxBatchingWindowSeconds: 1,
      minimumPollers: 1,
      maximumPollers: 12,
      retryAttempts: 5,
      maxRecordAgeSeconds: 21_600,
      memoryMiB: 1_024,
      timeoutSeconds: 120,
      reservedConcurrency: 50,
      throughputMBps: { steady: 2, peak: 25 },
      scaling: {
        ceiling: 12,
        step: 2,
        cooldownSeconds: 180,
        highLag: 10_000,
        lowLag: 1_000,
        lowLagMinutes: 10,
      },
    },
    api: { throttleRatePerSecond: 200, throttleBurst: 400 },
    ingest: { spilloverMaxDepth: 50_000, spillDepthAlarm: 5_000 },
    workflows: {
      etl: {
        intervalMinutes: 30,
        settleSeconds: 120,
        recoveryIntervalMinutes: 10,
        maxRetries: 3,
        stalenessAlarmSeconds: 2 * 3_600,
      },
      reconciliation: { intervalMinutes: 120 },
      warehouse: { minCapacityAcu: 0.5, maxCapacityAcu: 8, readers: 1 },
      logRetentionDays: 30,
    },
  },
  prod: {
    name: 'prod',
    account: '333333333333',
    region: 'eu-west-1',
    availabilityZoneCount: 3,
    network: { cidr: '10.30.0.0/16', flowLogRetentionDays: 365 },
    streaming: {
      kafkaVersion: '4.1.x.kraft',
      brokerCount: 6,
      brokerInstanceType: 'kafka.m7g.xlarge',
      brokerStorageGiB: 1000,
      logRetentionDays: 365,
      topics: topics(2),
    },
    data: {
      shardCount: 4,
      aurora: {
        engineVersion: '16.6',
        minCapacityAcu: 2,
        maxCapacityAcu: 64,
        readersPerShard: 2,
        backupRetentionDays: 35,
        deletionProtection: true,
        retainOnDelete: true,
        secretRotationDays: 30,
        port: 5433,
      },
      cache: {
        engineVersion: '7.1',
        nodeType: 'cache.r7g.large',
        replicasPerNodeGroup: 2,
        snapshotRetentionDays: 35,
        port: 6380,
      },
    },
    deployment: { strategy: 'canary10Percent10Minutes' },
    alarms: { consumerOffsetLag: 10_000, functionErrors: 1, durationP99Millis: 5_000, dlqDepth: 1 },
    consumer: {
      topic: TOPICS.events,
      retryTopic: TOPICS.retry,
      consumerGroup: consumerGroupName('cdp-prod'),
      batchSize: 500,
      maxBatchingWindowSeconds: 1,
      // One poller per partition at peak (24 partitions); four stay warm so a burst does not wait for scaling.
      minimumPollers: 4,
      maximumPollers: 24,
      retryAttempts: 10,
      maxRecordAgeSeconds: 86_400,
      // 1769 MiB is one full vCPU.
      memoryMiB: 1_769,
      timeoutSeconds: 120,
      reservedConcurrency: 100,
      throughputMBps: { steady: 15, peak: 100 },
      scaling: { ceiling: 24, step: 4, cooldownSeconds: 180, highLag: 5_000, lowLag: 500, lowLagMinutes: 15 },
    },
    api: { throttleRatePerSecond: 1_000, throttleBurst: 2_000 },
    ingest: { spilloverMaxDepth: 100_000, spillDepthAlarm: 10_000 },
    workflows: {
      // Every 15 minutes; an hour behind (three missed runs plus the settle time) pages operators.
      etl: {
        intervalMinutes: 15,
        settleSeconds: 120,
        recoveryIntervalMinutes: 5,
        maxRetries: 3,
        stalenessAlarmSeconds: 3_600,
      },
      reconciliation: { intervalMinutes: 60 },
      warehouse: { minCapacityAcu: 2, maxCapacityAcu: 32, readers: 1 },
      logRetentionDays: 365,
    },
  },
};
