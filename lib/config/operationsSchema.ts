import { z } from 'zod';
import { logRetentionDays } from './logRetention.js';

export const deploymentSchema = z.strictObject({
  /** CodeDeploy Lambda traffic-shifting preset; `allAtOnce` is only acceptable where nobody depends on the stage. */
  strategy: z.enum([
    'allAtOnce',
    'canary10Percent5Minutes',
    'canary10Percent10Minutes',
    'canary10Percent15Minutes',
    'linear10PercentEvery1Minute',
    'linear10PercentEvery3Minutes',
    'linear10PercentEvery10Minutes',
  ]),
});

export const alarmsSchema = z.strictObject({
  /** Sum of MSK OffsetLag for the consumer group above which the consumer is considered behind. */
  consumerOffsetLag: z.number().int().positive(),
  /** Function errors per minute that fail a deployment. */
  functionErrors: z.number().int().positive(),
  durationP99Millis: z.number().int().positive(),
  dlqDepth: z.number().int().min(0),
});

/** Thresholds of the alarms named after the failure scenarios (see `scenarioAlarmName`). */
export const scenarioAlarmsSchema = z.strictObject({
  /** §1: offline partitions (maximum) above which the cluster is losing availability. */
  offlinePartitions: z.number().int().min(0),
  /** §1: under-replicated partitions on any broker (maximum) above which a broker is away. */
  underReplicatedPartitions: z.number().int().min(0),
  /** §3: events whose shard write failed, per minute, for three minutes. */
  shardWriteFailures: z.number().int().min(0),
  /** §3: Aurora replica lag (maximum, ms) of a shard: a failover would lose or wait for this much. */
  auroraReplicaLagMillis: z.number().int().positive(),
  /** §4: events or requests the idempotency store could not guard, per minute, for three minutes. */
  idempotencyBypassed: z.number().int().min(0),
  /** §4: Redis memory use (percent of maxmemory) on any node. */
  redisMemoryPercent: z.number().int().min(1).max(100),
  /** §4: keys evicted per five minutes across the nodes (the index must not lose entries). */
  redisEvictions: z.number().int().min(0),
  /** §5: breaker openings per five minutes around any one dependency. */
  breakerOpenings: z.number().int().min(0),
  /** §6: records behind on the events topic (MSK SumOffsetLag) for five minutes. */
  volumeSpikeLag: z.number().int().positive(),
  /** §8: records waiting on the retry topic (MSK MaxOffsetLag) for fifteen minutes. */
  retryTopicLag: z.number().int().positive(),
});

/**
 * Stage-wide throttling of the platform's HTTP API, query and ingest routes together. API Gateway's account
 * quota in a region (10,000 requests per second, burst 5,000) caps every stage, so a stage limit above it
 * would never apply.
 */
export const apiSchema = z.strictObject({
  /** Steady-state requests per second the stage accepts before answering 429. */
  throttleRatePerSecond: z
    .number()
    .positive('must be positive')
    .max(10_000, 'must be at most 10000 (the account quota)'),
  /** The most requests the stage admits at once (the size of its token bucket). */
  throttleBurst: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(5_000, 'must be at most 5000 (the account quota)'),
});

/** The ingest API's durable spillover (an SQS FIFO queue) for events the brokers cannot take. */
export const ingestSchema = z.strictObject({
  /**
   * Most spilled events the ingest function lets the queue hold; past it requests get 503 with Retry-After.
   * Draining 500 events per produce request, 100,000 take a few minutes once the brokers are back.
   */
  spilloverMaxDepth: z.number().int().min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000'),
  /** Spilled events waiting to be drained above which operators are notified, well before the bound. */
  spillDepthAlarm: z.number().int().min(0, 'must be at least 0'),
  /** How the ingest function and the spillover drainer write to the brokers. */
  producer: z.strictObject({
    /** GZIP (the only codec kafkajs ships) sends about a third of the bytes for JSON events. */
    compression: z.enum(['gzip', 'none']),
    /**
     * Most records in one produce request; a larger publish goes as consecutive requests. Bounded so a
     * batch of the largest accepted events stays under the brokers' 1 MB `message.max.bytes`.
     */
    maxRecordsPerRequest: z.number().int().min(1, 'must be at least 1').max(5_000, 'must be at most 5000'),
  }),
});

/**
 * AWS Fault Injection Service game days (docs/game-days.md): the `cdp-<env>-resilience` stack with its
 * experiment templates, and the FIS Lambda extension on the consumer and query functions. On in dev and uat,
 * off in prod.
 */
export const resilienceSchema = z.strictObject({
  enabled: z.boolean(),
});

/**
 * What outlives a teardown of the environment, or a mistake in one, and how long its logs are kept. The data
 * itself (shard clusters, cache) is governed by `data.aurora`; the topics' contents by `streaming.topics`.
 */
export const retentionSchema = z.strictObject({
  /**
   * What deleting a stack does to the log groups and their keys, the MSK cluster and its key, the HTTP API's
   * access log and the game-day reports: `retain` leaves them in the account, `destroy` deletes them.
   */
  removalPolicy: z.enum(['retain', 'destroy']),
  /**
   * Retention of the functions' log groups and the HTTP API's access log, in days. The workflows' logs have
   * `workflows.logRetentionDays`, the brokers' `streaming.logRetentionDays`.
   */
  logRetentionDays: logRetentionDays,
  /** CloudFormation termination protection of the stateful stacks: streaming, data and warehouse. */
  terminationProtection: z.boolean(),
});
