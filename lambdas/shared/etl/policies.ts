import {
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { isTransientAwsError } from '../aws/transientAwsError.js';
import { isRetriable } from '../resilience/policies.js';

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

export type EtlSettings = { -readonly [K in keyof typeof ETL_DEFAULTS]: number };

export const etlSettings = (overrides: Partial<EtlSettings> = {}): EtlSettings => ({
  ...ETL_DEFAULTS,
  ...overrides,
});

/** A SQL failure worth another attempt: a retriable error, or an attempt that timed out. */
const isSqlBlip = (error: unknown): boolean => error instanceof TaskCancelledError || isRetriable(error);

/**
 * Around every SQL call of the ETL (shards and warehouse): a timeout per attempt inside a jittered
 * exponential retry of retriable errors and timeouts. The next attempt takes another connection: the hung
 * one stays busy until the network gives it back. When the last attempt times out the caller gets
 * cockatiel's `TaskCancelledError`, which `asStepError` turns into `EtlTransientError`.
 */
export function etlSqlPolicy(settings: EtlSettings): IPolicy {
  const retrying = retry(handleWhen(isSqlBlip), {
    maxAttempts: settings.sqlRetries,
    backoff: new ExponentialBackoff({
      initialDelay: settings.sqlRetryInitialDelayMillis,
      maxDelay: settings.sqlRetryMaxDelayMillis,
    }),
  });
  return wrap(retrying, timeout(settings.sqlTimeoutMillis, TimeoutStrategy.Aggressive));
}

/** Around StartExecution: throttling, server faults and socket errors are retried with jittered backoff. */
export function startExecutionPolicy(settings: EtlSettings): IPolicy {
  return retry(handleWhen(isTransientAwsError), {
    maxAttempts: settings.startRetries,
    backoff: new ExponentialBackoff({
      initialDelay: settings.startRetryInitialDelayMillis,
      maxDelay: settings.startRetryMaxDelayMillis,
    }),
  });
}
