import { z } from 'zod';

export const ENVIRONMENT_NAMES = ['dev', 'uat', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

const topicSchema = z.strictObject({
  name: z.string().regex(TOPIC_NAME, 'must be a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)'),
  partitions: z.number().int().min(1).max(1000),
  retentionHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 365),
});

const deploymentSchema = z.strictObject({
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

const alarmsSchema = z.strictObject({
  /** Sum of MSK OffsetLag for the consumer group above which the consumer is considered behind. */
  consumerOffsetLag: z.number().int().positive(),
  /** Function errors per minute that fail a deployment. */
  functionErrors: z.number().int().positive(),
  durationP99Millis: z.number().int().positive(),
  dlqDepth: z.number().int().min(0),
});

/** Thresholds of the alarms named after the failure scenarios (see `scenarioAlarmName`). */
const scenarioAlarmsSchema = z.strictObject({
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
const apiSchema = z.strictObject({
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
const ingestSchema = z.strictObject({
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

/** Lambda's limits for a Kafka event source mapping in provisioned mode, and for a function. */
const consumerSchema = z.strictObject({
  /** The topic the consumer reads; one of `streaming.topics`. */
  topic: z.string().regex(TOPIC_NAME, 'must be a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)'),
  /**
   * The topic of the consumer's second mapping, one of `streaming.topics`: records of a shard whose breaker
   * is open are parked there (so the other shards' records keep flowing) and replays are written there.
   */
  retryTopic: z.string().regex(TOPIC_NAME, 'must be a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)'),
  /** Kafka consumer group of the event source mapping; fixed once the mapping exists. */
  consumerGroup: z
    .string()
    .regex(/^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/, 'must be 1-200 characters of [a-zA-Z0-9-/*:_+=.@]'),
  batchSize: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'),
  maxBatchingWindowSeconds: z.number().int().min(0).max(300, 'must be at most 300 (5 minutes)'),
  minimumPollers: z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200'),
  maximumPollers: z.number().int().min(1, 'must be at least 1').max(2000, 'must be at most 2000'),
  /** Retries of a failed batch before its records go to the on-failure queue. */
  retryAttempts: z.number().int().min(0, 'must be at least 0').max(10_000, 'must be at most 10000'),
  /** Records older than this go to the on-failure queue unprocessed. */
  maxRecordAgeSeconds: z
    .number()
    .int()
    .min(60, 'must be at least 60')
    .max(604_800, 'must be at most 604800 (7 days)'),
  memoryMiB: z.number().int().min(128, 'must be at least 128').max(10_240, 'must be at most 10240'),
  timeoutSeconds: z.number().int().min(1, 'must be at least 1').max(900, 'must be at most 900 (15 minutes)'),
  /** Caps the consumer's concurrency so a backlog cannot starve the account's other functions. */
  reservedConcurrency: z.number().int().min(1, 'must be at least 1').optional(),
  /**
   * Expected throughput of the events topic in MB/s, steady and at peak: the pollers are sized by the rule
   * AWS documents (a provisioned poller handles about 5 MB/s; Lambda caps the pollers at the partitions).
   */
  throughputMBps: z.strictObject({
    steady: z.number().positive('must be positive'),
    peak: z.number().positive('must be positive'),
  }),
  /** The lag scaler: steps the events mapping's minimum pollers between minimumPollers and `ceiling`. */
  scaling: z.strictObject({
    ceiling: z.number().int().min(1, 'must be at least 1'),
    step: z.number().int().min(1, 'must be at least 1'),
    /** Least time between two changes: a change must take effect before the next is decided. */
    cooldownSeconds: z.number().int().min(60, 'must be at least 60 (one alarm period)'),
    /** Scale out while the lag of the events topic is at or above this (records, maximum over a minute). */
    highLag: z.number().int().min(1, 'must be at least 1'),
    /** Scale in once the lag has stayed at or below this for `lowLagMinutes`. */
    lowLag: z.number().int().min(0, 'must be at least 0'),
    lowLagMinutes: z.number().int().min(1, 'must be at least 1').max(60, 'must be at most 60'),
  }),
});

/** The pollers and the scaler against the throughput and the topic: what AWS documents for provisioned mode. */
function checkPollerSizing(
  cfg: {
    consumer: z.infer<typeof consumerSchema>;
    streaming: { topics: ReadonlyArray<{ name: string; partitions: number }> };
  },
  ctx: z.RefinementCtx,
): void {
  const { consumer } = cfg;
  const issue = (path: string[], message: string) =>
    ctx.addIssue({ code: 'custom', path: ['consumer', ...path], message });
  const steady = Math.ceil(consumer.throughputMBps.steady / POLLER_MB_PER_SECOND);
  const peak = Math.ceil(consumer.throughputMBps.peak / POLLER_MB_PER_SECOND);
  if (consumer.minimumPollers < steady) {
    issue(
      ['minimumPollers'],
      `must be >= ${steady}: ${consumer.throughputMBps.steady} MB/s steady at ~${POLLER_MB_PER_SECOND} MB/s per poller`,
    );
  }
  if (consumer.maximumPollers < peak) {
    issue(
      ['maximumPollers'],
      `must be >= ${peak}: ${consumer.throughputMBps.peak} MB/s at peak at ~${POLLER_MB_PER_SECOND} MB/s per poller`,
    );
  }
  const partitions = cfg.streaming.topics.find((t) => t.name === consumer.topic)?.partitions;
  if (partitions !== undefined && consumer.maximumPollers > partitions) {
    issue(
      ['maximumPollers'],
      `must be <= ${partitions}, the partitions of ${consumer.topic}: Lambda runs at most one poller per partition`,
    );
  }
  if (
    consumer.scaling.ceiling < consumer.minimumPollers ||
    consumer.scaling.ceiling > consumer.maximumPollers
  ) {
    issue(
      ['scaling', 'ceiling'],
      `must lie between minimumPollers (${consumer.minimumPollers}) and maximumPollers (${consumer.maximumPollers})`,
    );
  }
  if (consumer.scaling.lowLag >= consumer.scaling.highLag) {
    issue(
      ['scaling', 'lowLag'],
      `must be below highLag (${consumer.scaling.highLag}), or scaling would flap`,
    );
  }
}

/** Megabytes per second one provisioned Kafka poller handles (AWS documentation). */
export const POLLER_MB_PER_SECOND = 5;

/** The retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Cron and rate expressions are not accepted: every schedule here is a rate in minutes, so validation can
 * compare the intervals with each other and with the alarm thresholds.
 */
const intervalMinutes = z
  .number()
  .int()
  .min(1, 'must be at least 1 (minute)')
  .max(1_440, 'must be at most 1440 (one day)');

/** The workflows of failure scenarios 8 and 9 (docs/workflows.md) and the analytics warehouse. */
const workflowsSchema = z.strictObject({
  etl: z.strictObject({
    /** Minutes between ETL runs; each run opens a batch for the window since the previous one. */
    intervalMinutes,
    /**
     * Seconds a window's end lags behind the run (`ETL_SETTLE_SECONDS`), so events still in flight to the
     * shards when the run starts land in the next window rather than being missed.
     */
    settleSeconds: z.number().int().min(0, 'must be at least 0').max(3_600, 'must be at most 3600 (1 hour)'),
    /** Minutes between runs of the recovery job (staleness metrics, re-runs of failed batches). */
    recoveryIntervalMinutes: intervalMinutes,
    /** Re-runs of one failed batch before it is left to operators (`ETL_MAX_RETRIES`). */
    maxRetries: z.number().int().min(0, 'must be at least 0').max(10, 'must be at most 10'),
    /**
     * `WarehouseStalenessSeconds` above which operators are notified. A healthy warehouse is up to one
     * interval plus the settle time behind, so the threshold must exceed both.
     */
    stalenessAlarmSeconds: z.number().int().positive('must be positive'),
  }),
  reconciliation: z.strictObject({
    /** Minutes between scheduled reconciliations (it also runs whenever an alarm returns to OK). */
    intervalMinutes,
  }),
  /** The analytics Aurora PostgreSQL cluster the ETL loads; engine, backups and protection as the shards'. */
  warehouse: z.strictObject({
    minCapacityAcu: z.number().min(0, 'must be at least 0').max(256, 'must be at most 256'),
    maxCapacityAcu: z.number().min(1, 'must be at least 1').max(256, 'must be at most 256'),
    /** Replicas to fail over to; the Data API runs on the writer only, so readers add no capacity. */
    readers: z.number().int().min(1, 'the warehouse needs at least one replica to fail over to').max(15),
  }),
  /** Retention of the state machines' execution logs and the workflow functions' logs, in days. */
  logRetentionDays: z
    .number()
    .int()
    .refine((days) => LOG_RETENTION_DAYS.includes(days), {
      message: `must be a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(', ')})`,
    }),
});

/**
 * AWS Fault Injection Service game days (docs/game-days.md): the `cdp-<env>-resilience` stack with its
 * experiment templates, and the FIS Lambda extension on the consumer and query functions. On in dev and uat,
 * off in prod.
 */
const resilienceSchema = z.strictObject({
  enabled: z.boolean(),
});

/**
 * What outlives a teardown of the environment, or a mistake in one, and how long its logs are kept. The data
 * itself (shard clusters, cache) is governed by `data.aurora`; the topics' contents by `streaming.topics`.
 */
const retentionSchema = z.strictObject({
  /**
   * What deleting a stack does to the log groups and their keys, the MSK cluster and its key, the HTTP API's
   * access log and the game-day reports: `retain` leaves them in the account, `destroy` deletes them.
   */
  removalPolicy: z.enum(['retain', 'destroy']),
  /**
   * Retention of the functions' log groups and the HTTP API's access log, in days. The workflows' logs have
   * `workflows.logRetentionDays`, the brokers' `streaming.logRetentionDays`.
   */
  logRetentionDays: z
    .number()
    .int()
    .refine((days) => LOG_RETENTION_DAYS.includes(days), {
      message: `must be a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(', ')})`,
    }),
  /** CloudFormation termination protection of the stateful stacks: streaming, data and warehouse. */
  terminationProtection: z.boolean(),
});

export const environmentConfigSchema = z
  .strictObject({
    name: z.enum(ENVIRONMENT_NAMES),
    /**
     * The environment serves customers: validation holds it to the production rules (at least 4 shards and
     * 2 readers per shard, deletion protection, retained data and logs, termination protection, canary or
     * linear deployments).
     */
    production: z.boolean(),
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1'),
    availabilityZoneCount: z.number().int().min(2).max(6),
    network: z.strictObject({
      cidr: z
        .string()
        .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, 'must be an IPv4 CIDR between /16 and /24'),
      flowLogRetentionDays: z.number().int().positive(),
    }),
    streaming: z.strictObject({
      kafkaVersion: z
        .string()
        .regex(/^\d+\.\d+\.(\d+|x)(\.kraft)?$/, 'must be an MSK Kafka version such as 3.8.x'),
      brokerCount: z.number().int().min(3, 'replication factor 3 needs at least 3 brokers'),
      brokerInstanceType: z.string().regex(/^kafka\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an MSK instance type'),
      brokerStorageGiB: z.number().int().min(1).max(16384),
      logRetentionDays: z.number().int().positive(),
      topics: z.array(topicSchema).min(1),
    }),
    data: z.strictObject({
      shardCount: z.number().int().min(1, 'must be at least 1').max(32),
      aurora: z.strictObject({
        engineVersion: z.string().regex(/^1[5-7]\.\d+$/, 'must be an Aurora PostgreSQL version such as 16.6'),
        minCapacityAcu: z.number().min(0).max(256),
        maxCapacityAcu: z.number().min(1).max(256),
        readersPerShard: z
          .number()
          .int()
          .min(1, 'each shard needs at least one replica to fail over to')
          .max(15),
        backupRetentionDays: z.number().int().min(1).max(35),
        deletionProtection: z.boolean(),
        retainOnDelete: z.boolean(),
        secretRotationDays: z.number().int().min(1).max(365),
        port: z.number().int().min(1150).max(65535),
      }),
      cache: z.strictObject({
        engineVersion: z.string().regex(/^\d+\.\d+$/),
        nodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an ElastiCache node type'),
        replicasPerNodeGroup: z.number().int().min(1, 'automatic failover needs at least one replica').max(5),
        snapshotRetentionDays: z.number().int().min(1).max(35),
        port: z.number().int().min(1024).max(65535),
      }),
    }),
    deployment: deploymentSchema,
    alarms: alarmsSchema,
    scenarioAlarms: scenarioAlarmsSchema,
    consumer: consumerSchema,
    api: apiSchema,
    ingest: ingestSchema,
    workflows: workflowsSchema,
    retention: retentionSchema,
    resilience: resilienceSchema,
  })
  .superRefine((cfg, ctx) => {
    if (cfg.streaming.brokerCount % cfg.availabilityZoneCount !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['streaming', 'brokerCount'],
        message: `must be a multiple of availabilityZoneCount (${cfg.availabilityZoneCount}), got ${cfg.streaming.brokerCount}`,
      });
    }
    if (cfg.data.aurora.maxCapacityAcu < cfg.data.aurora.minCapacityAcu) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'aurora', 'maxCapacityAcu'],
        message: `must be >= minCapacityAcu (${cfg.data.aurora.minCapacityAcu})`,
      });
    }
    if (cfg.data.aurora.readersPerShard + 1 > cfg.availabilityZoneCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'aurora', 'readersPerShard'],
        message: `writer plus ${cfg.data.aurora.readersPerShard} readers cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
      });
    }
    if (cfg.data.cache.replicasPerNodeGroup + 1 > cfg.availabilityZoneCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'cache', 'replicasPerNodeGroup'],
        message: `primary plus ${cfg.data.cache.replicasPerNodeGroup} replicas cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
      });
    }
    const names = cfg.streaming.topics.map((t) => t.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) {
        ctx.addIssue({
          code: 'custom',
          path: ['streaming', 'topics', i, 'name'],
          message: `duplicate topic ${name}`,
        });
      }
    });
    if (!names.includes(cfg.consumer.topic)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'topic'],
        message: `must be one of streaming.topics (${names.join(', ')}), got ${cfg.consumer.topic}`,
      });
    }
    if (!names.includes(cfg.consumer.retryTopic)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'retryTopic'],
        message: `must be one of streaming.topics (${names.join(', ')}), got ${cfg.consumer.retryTopic}`,
      });
    } else if (cfg.consumer.retryTopic === cfg.consumer.topic) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'retryTopic'],
        message: 'must differ from consumer.topic: parked records would be parked again forever',
      });
    }
    if (cfg.ingest.spillDepthAlarm >= cfg.ingest.spilloverMaxDepth) {
      ctx.addIssue({
        code: 'custom',
        path: ['ingest', 'spillDepthAlarm'],
        message: `must be below spilloverMaxDepth (${cfg.ingest.spilloverMaxDepth}), so operators hear before requests are refused`,
      });
    }
    if (cfg.consumer.maximumPollers < cfg.consumer.minimumPollers) {
      ctx.addIssue({
        code: 'custom',
        path: ['consumer', 'maximumPollers'],
        message: `must be >= minimumPollers (${cfg.consumer.minimumPollers})`,
      });
    }
    checkPollerSizing(cfg, ctx);
    const { etl, warehouse } = cfg.workflows;
    const healthyLagSeconds = etl.intervalMinutes * 60 + etl.settleSeconds;
    if (etl.stalenessAlarmSeconds <= healthyLagSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['workflows', 'etl', 'stalenessAlarmSeconds'],
        message:
          `must exceed the ETL interval plus the settle time (${healthyLagSeconds} s): a healthy ` +
          'warehouse is that far behind just before each run',
      });
    }
    if (etl.recoveryIntervalMinutes * 60 >= etl.stalenessAlarmSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['workflows', 'etl', 'recoveryIntervalMinutes'],
        message: `must be shorter than stalenessAlarmSeconds (${etl.stalenessAlarmSeconds} s): the recovery job publishes the staleness`,
      });
    }
    const failedBatchWindowMinutes = (etl.maxRetries + 1) * etl.recoveryIntervalMinutes;
    if (failedBatchWindowMinutes > 1_440) {
      ctx.addIssue({
        code: 'custom',
        path: ['workflows', 'etl', 'maxRetries'],
        message:
          `(maxRetries + 1) recovery intervals make ${failedBatchWindowMinutes} minutes: the failed-batch ` +
          'alarm watches that long, and CloudWatch evaluates at most one day',
      });
    }
    if (warehouse.maxCapacityAcu < warehouse.minCapacityAcu) {
      ctx.addIssue({
        code: 'custom',
        path: ['workflows', 'warehouse', 'maxCapacityAcu'],
        message: `must be >= minCapacityAcu (${warehouse.minCapacityAcu})`,
      });
    }
    if (warehouse.readers + 1 > cfg.availabilityZoneCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['workflows', 'warehouse', 'readers'],
        message: `writer plus ${warehouse.readers} readers cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
      });
    }
    if (cfg.production) {
      const prodRules: Array<[boolean, (string | number)[], string]> = [
        [cfg.data.shardCount >= 4, ['data', 'shardCount'], 'prod needs at least 4 shards'],
        [
          cfg.data.aurora.readersPerShard >= 2,
          ['data', 'aurora', 'readersPerShard'],
          'prod needs at least 2 readers per shard',
        ],
        [
          cfg.data.aurora.deletionProtection,
          ['data', 'aurora', 'deletionProtection'],
          'must be true in prod',
        ],
        [cfg.data.aurora.retainOnDelete, ['data', 'aurora', 'retainOnDelete'], 'must be true in prod'],
        [
          cfg.deployment.strategy !== 'allAtOnce',
          ['deployment', 'strategy'],
          'prod deploys by canary or linear shifting',
        ],
        [cfg.retention.removalPolicy === 'retain', ['retention', 'removalPolicy'], 'must be retain in prod'],
        [cfg.retention.terminationProtection, ['retention', 'terminationProtection'], 'must be true in prod'],
      ];
      for (const [ok, path, message] of prodRules) {
        if (!ok) ctx.addIssue({ code: 'custom', path, message });
      }
    }
  });

export type EnvironmentConfig = Readonly<z.infer<typeof environmentConfigSchema>>;
export type TopicConfig = Readonly<z.infer<typeof topicSchema>>;
export type WorkflowsConfig = EnvironmentConfig['workflows'];
export type DeploymentStrategy = EnvironmentConfig['deployment']['strategy'];
export type RetentionConfig = EnvironmentConfig['retention'];

/** Whether the environment runs FIS game days. */
export const resilienceEnabled = (config: EnvironmentConfig): boolean => config.resilience.enabled;
