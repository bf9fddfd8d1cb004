import { ErrorReply } from '@redis/client';
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
import { isRetriable } from '../resilience/policies.js';
import {
  IndexUnavailableError,
  type ReconciliationError,
  type ReconciliationErrorContext,
  ReconciliationStepError,
  ShardUnavailableError,
} from './errors.js';

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

export type ReconciliationSettings = { -readonly [K in keyof typeof RECONCILIATION_DEFAULTS]: number };

export const reconciliationSettings = (
  overrides: Partial<ReconciliationSettings> = {},
): ReconciliationSettings => ({ ...RECONCILIATION_DEFAULTS, ...overrides });

/**
 * Error replies Redis gives while a node is failing over, loading its data or resharding (ElastiCache
 * failover: the old primary answers READONLY until clients follow the new one): the same command
 * succeeds a moment later.
 */
export const TRANSIENT_REDIS_REPLIES = [
  'READONLY',
  'LOADING',
  'TRYAGAIN',
  'MASTERDOWN',
  'CLUSTERDOWN',
] as const;

const isTransientReply = (error: ErrorReply): boolean =>
  TRANSIENT_REDIS_REPLIES.some((code) => error.message === code || error.message.startsWith(`${code} `));

/**
 * Redis failures worth repeating: connection failures and timeouts, and the error replies of a failover
 * ({@link TRANSIENT_REDIS_REPLIES}). Other replies (a command Redis rejected) and programming errors are not.
 */
export const isTransientRedisError = (error: unknown): boolean => {
  if (!(error instanceof Error) || error instanceof TypeError || error instanceof RangeError) return false;
  return error instanceof ErrorReply ? isTransientReply(error) : true;
};

/** A named policy: runs one call, and turns what finally fails into the step error the workflow matches. */
export interface StepPolicy {
  execute<T>(work: () => Promise<T>, context?: ReconciliationErrorContext): Promise<T>;
}

function stepPolicy(
  settings: ReconciliationSettings,
  isTransient: (error: unknown) => boolean,
  unavailable: new (
    message: string,
    options: { cause: unknown; context?: ReconciliationErrorContext },
  ) => ReconciliationError,
  what: string,
): StepPolicy {
  const policy: IPolicy = wrap(
    retry(
      handleWhen((error) => error instanceof TaskCancelledError || isTransient(error)),
      {
        maxAttempts: settings.retries,
        backoff: new ExponentialBackoff({
          initialDelay: settings.retryInitialDelayMillis,
          maxDelay: settings.retryMaxDelayMillis,
        }),
      },
    ),
    timeout(settings.attemptTimeoutMillis, TimeoutStrategy.Aggressive),
  );
  return {
    async execute<T>(work: () => Promise<T>, context: ReconciliationErrorContext = {}): Promise<T> {
      try {
        return await policy.execute(() => work());
      } catch (error: unknown) {
        const message = `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
        if (error instanceof TaskCancelledError || isTransient(error)) {
          throw new unavailable(message, { cause: error, context });
        }
        throw new ReconciliationStepError(message, { cause: error, context });
      }
    },
  };
}

/** Reads of a shard (`SqlError`s classified retriable by the adapters are transient). */
export const shardReadPolicy = (settings: ReconciliationSettings): StepPolicy =>
  stepPolicy(settings, isRetriable, ShardUnavailableError, 'shard read');

/** Reads and repairs of the Redis index. */
export const indexPolicy = (settings: ReconciliationSettings): StepPolicy =>
  stepPolicy(settings, isTransientRedisError, IndexUnavailableError, 'index call');
