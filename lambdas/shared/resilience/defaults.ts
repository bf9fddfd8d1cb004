/**
 * The numbers of every outbound dependency's resilience policy, one table per dependency, reviewed in one
 * place. The named policies (`named.ts`) are built from them; tests pass smaller numbers through each
 * table's settings function (`etlSettings({ sqlTimeoutMillis: 50 })`).
 */

/** A table's numbers, writable so that a test can build its own. */
export type Settings<Defaults> = { -readonly [K in keyof Defaults]: number };

/** The settings function of a table: its defaults, with what a caller overrides. */
const overridable =
  <Defaults extends Readonly<Record<string, number>>>(defaults: Defaults) =>
  (overrides: Partial<Settings<Defaults>> = {}): Settings<Defaults> => ({ ...defaults, ...overrides });

// ---- Consumers: shard writes and Redis

/**
 * The consumers' shard writes and Redis (idempotency store, index). Every shard and Redis get their own
 * policy, so one slow or failing dependency cannot exhaust the others.
 */
export const RESILIENCE_DEFAULTS = {
  /** Shard writes: retried inside the invocation to ride out a failover or a resume. */
  shardRetryAttempts: 3,
  shardRetryInitialDelayMillis: 50,
  shardRetryMaxDelayMillis: 1_000,
  /** Consecutive failed transactions before a shard's breaker opens, and how long it stays open. */
  shardBreakerThreshold: 5,
  shardBreakerHalfOpenAfterMillis: 5_000,
  /** Redis (idempotency store, index): consecutive failures before it is bypassed, and for how long. */
  redisBreakerThreshold: 3,
  redisBreakerHalfOpenAfterMillis: 2_000,
} as const;

export type ResilienceSettings = Settings<typeof RESILIENCE_DEFAULTS>;

export const resilienceSettings = overridable(RESILIENCE_DEFAULTS);

// ---- ETL steps: SQL calls and StartExecution

/**
 * The numbers of the ETL, in one place; tests pass smaller ones.
 *
 * Retries are layered on purpose: the step code rides out a blip (a dropped connection, a failover of a
 * few hundred milliseconds) inside one invocation, and the state machine's `Retry` (seconds apart, with
 * jitter) rides out a longer outage. No circuit breaker: each invocation touches one shard once.
 */
export const ETL_DEFAULTS = {
  /** Repetitions of one SQL call inside an invocation, after the first attempt. */
  sqlRetries: 2,
  sqlRetryInitialDelayMillis: 100,
  sqlRetryMaxDelayMillis: 1_000,
  /**
   * One SQL call (a statement, or an audit transaction) that has not answered by then is abandoned as
   * transient. Above the pg adapter's 15 s statement timeout, so a slow statement is cancelled by the
   * server first; and every attempt of a call together, `(sqlRetries + 1) * sqlTimeoutMillis` plus the
   * backoff, stays well below the step Lambdas' 5-minute timeout, so a hung call fails as
   * `EtlTransientError` (which the state machine retries) instead of timing the invocation out.
   */
  sqlTimeoutMillis: 30_000,
  /** Rows per extraction page and per load statement (well under the Data API's 1 MiB response). */
  pageSize: 1_000,
  /** Window ends lag `now()` by this much, so transactions that commit late are not missed. */
  settleSeconds: 30,
  /** Re-runs of one FAILED batch the recovery job starts before it leaves the batch to an operator. */
  maxRetries: 3,
  /**
   * A batch still RUNNING this long after its run started was abandoned: its execution timed out or was
   * stopped before it could close the batch. The recovery job marks it FAILED and re-runs it. Set above
   * the state machine's timeout.
   */
  abandonAfterSeconds: 3_600,
  /** Repetitions of one StartExecution call, after the first attempt. */
  startRetries: 2,
  startRetryInitialDelayMillis: 200,
  startRetryMaxDelayMillis: 2_000,
} as const;

export type EtlSettings = Settings<typeof ETL_DEFAULTS>;

export const etlSettings = overridable(ETL_DEFAULTS);

// ---- Health checks: AWS control-plane reads

/**
 * The numbers of the control-plane reads of the health checks, in one place. Tests pass smaller ones.
 *
 * The handlers build their SDK clients with `maxAttempts: 1`, so this policy is the only retry layer and
 * `checkBudgetMillis` really bounds a check: 3 attempts of at most 3 s plus backoff per call, and every
 * call of one check shares the budget. The function timeout must exceed the budget, so that a check whose
 * control plane hangs still reports itself unhealthy instead of dying silently.
 */
export const HEALTH_CHECK_DEFAULTS = {
  /** One attempt of one read; the request is aborted when it is reached. */
  attemptTimeoutMillis: 3_000,
  /** Repetitions after the first attempt, for throttling, server faults, socket errors and timeouts. */
  retries: 2,
  /** Jittered exponential backoff between attempts. */
  retryInitialDelayMillis: 200,
  retryMaxDelayMillis: 1_000,
  /** All reads of one check together; past it, the check reports the control plane unreachable. */
  checkBudgetMillis: 20_000,
} as const;

export type HealthCheckSettings = Settings<typeof HEALTH_CHECK_DEFAULTS>;

export const healthCheckSettings = overridable(HEALTH_CHECK_DEFAULTS);

// ---- Kafka control plane: bootstrap brokers and topic reconciliation

export interface KafkaPolicyOptions {
  /** Upper bound of one attempt; the attempt is abandoned (and its signal aborted) when it is reached. */
  readonly attemptTimeoutMs: number;
  /** Repetitions after the first attempt, only for retriable errors and timeouts. */
  readonly retries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * GetBootstrapBrokers: the SDK already retries throttling and 5xx inside one attempt, so this only
 * bounds a hung connection to the Kafka API endpoint and gives it one more chance.
 */
export const BOOTSTRAP_POLICY: Readonly<KafkaPolicyOptions> = {
  attemptTimeoutMs: 15_000,
  retries: 1,
  initialDelayMs: 1_000,
  maxDelayMs: 5_000,
};

/**
 * One reconciliation of topics (describe, plan, apply). It is idempotent, since each attempt plans from
 * what the cluster has at that moment, so a timed-out attempt is safe to repeat. Three attempts of at
 * most 90 s plus backoff stay within the topic manager's function timeout.
 */
export const TOPIC_RECONCILE_POLICY: Readonly<KafkaPolicyOptions> = {
  attemptTimeoutMs: 90_000,
  retries: 2,
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
};

// ---- Read path: shard reads, Redis index, scatter-gather fallback, index warm-up

/**
 * The numbers of the read path, in one place. Every shard and Redis get their own policy set built from
 * them, so one slow dependency cannot take the others' capacity. Tests pass smaller numbers.
 *
 * Budget of one look-up by id: 3 attempts of at most 1 s plus at most 2 × 250 ms of backoff, well inside
 * the 30 s of an API Gateway integration. A scan of all shards runs them in parallel, so it costs the same.
 */
export const QUERY_DEFAULTS = {
  /** One attempt of one shard read; the caller stops waiting then (PostgreSQL's statement timeout ends it). */
  shardQueryTimeoutMillis: 1_000,
  /** Repetitions of a read that failed retriably (connection lost, failover). Timeouts are not repeated. */
  shardRetries: 2,
  shardRetryInitialDelayMillis: 25,
  shardRetryMaxDelayMillis: 250,
  /** Consecutive failed or timed-out reads before a shard is skipped, and for how long. */
  shardBreakerThreshold: 5,
  shardBreakerHalfOpenAfterMillis: 5_000,
  /** Reads in flight per shard (the `pg` pool's size by default) and reads waiting for a slot. */
  shardMaxConcurrent: 8,
  shardMaxQueued: 32,
  /** One Redis command of a look-up; Redis answers in well under a millisecond when healthy. */
  redisTimeoutMillis: 250,
  /** Consecutive Redis failures before the index is bypassed, and for how long. */
  redisBreakerThreshold: 3,
  redisBreakerHalfOpenAfterMillis: 2_000,
  /** Scatter-gather look-ups (one query per shard each) in flight, and waiting, while the index is away. */
  fallbackMaxConcurrent: 8,
  fallbackMaxQueued: 16,
  /** What a shed look-up tells its caller to wait. */
  overloadRetryAfterSeconds: 1,
  /** How long a scatter-gather answer is reused; "nobody has it" is kept shorter, as it goes stale sooner. */
  fallbackCacheTtlMillis: 30_000,
  fallbackCacheNegativeTtlMillis: 5_000,
  fallbackCacheMaxEntries: 10_000,
  /** Index entries found while Redis was away, written back per batch once it is healthy. */
  writeThroughBatchSize: 100,
  /** Target length of one warm-up step: the page size is derived from it and the rate. */
  warmupStepMillis: 100,
  /** One warm-up step (a page of each shard into Redis), repeated with backoff when it fails. */
  warmupStepTimeoutMillis: 10_000,
  warmupRetries: 10,
  warmupRetryInitialDelayMillis: 100,
  warmupRetryMaxDelayMillis: 2_000,
  /** How often the warmer checks whether Redis is connected again. */
  warmupReadyPollMillis: 50,
} as const;

export type QuerySettings = Settings<typeof QUERY_DEFAULTS>;

export const querySettings = overridable(QUERY_DEFAULTS);

// ---- Reconciliation: shard reads, Redis index and log reads of a step

/**
 * The numbers of the reconciliation's outbound calls. A step retries briefly inside its invocation (a
 * connection reset, a leader move); a longer outage fails the step with a retriable error, which the
 * workflow retries with its own, longer backoff. Tests pass smaller numbers.
 */
export const RECONCILIATION_DEFAULTS = {
  /** One SQL statement, Redis round trip or log read; abandoned after this long. */
  attemptTimeoutMillis: 10_000,
  /** Repetitions after the first attempt, only for transient failures. */
  retries: 2,
  retryInitialDelayMillis: 200,
  retryMaxDelayMillis: 2_000,
  /** Customers read per keyset page of a shard (index check) and event ids per `applied_events` look-up. */
  pageSize: 500,
  /** Keys a SCAN step asks Redis for (a hint), and most keys one sweep invocation examines. */
  scanCount: 500,
  sweepKeysPerStep: 20_000,
  /** Log records read per request while looking for gaps. */
  logChunk: 1_000,
  /** Most offset ranges one shard reports (Step Functions payloads are limited to 256 KiB). */
  maxRangesPerShard: 50,
  /** The gap search looks this far back by default, and leaves the newest records (in flight) alone. */
  lookbackSeconds: 24 * 3_600,
  settleSeconds: 300,
} as const;

export type ReconciliationSettings = Settings<typeof RECONCILIATION_DEFAULTS>;

export const reconciliationSettings = overridable(RECONCILIATION_DEFAULTS);

// ---- Replay: calls to the event log

/**
 * The numbers of the replay's calls to the event log. One attempt covers a whole request (a look-up of
 * offsets, or the read and copy of one range); a retried range is copied again, which is safe because
 * the consumers are idempotent. Tests pass smaller numbers.
 */
export const REPLAY_DEFAULTS = {
  attemptTimeoutMillis: 120_000,
  retries: 2,
  retryInitialDelayMillis: 500,
  retryMaxDelayMillis: 5_000,
} as const;

export type ReplaySettings = Settings<typeof REPLAY_DEFAULTS>;

export const replaySettings = overridable(REPLAY_DEFAULTS);

// ---- Consumer scaler: Lambda and CloudWatch control-plane calls

/** The numbers of the scaler's control-plane calls; tests pass smaller ones. */
export const SCALER_CALL_DEFAULTS = {
  attemptTimeoutMillis: 3_000,
  retries: 2,
  retryInitialDelayMillis: 200,
  retryMaxDelayMillis: 1_000,
} as const;

export type ScalerCallSettings = Settings<typeof SCALER_CALL_DEFAULTS>;
