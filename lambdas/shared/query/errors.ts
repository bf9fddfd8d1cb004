import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../errors.js';

/** Context attached to query errors, logged as structured fields (never sent to API callers). */
export type QueryErrorContext = ErrorContext;

export type QueryErrorOptions = Omit<PlatformErrorOptions, 'retriable'>;

/**
 * Base of the errors of the query path. `retriable` tells whether the same look-up may succeed when
 * repeated later; `retryAfterSeconds` (when set) is how long a caller should wait first.
 */
export class QueryError extends PlatformError {
  public override readonly name: string = 'QueryError';
  public readonly retryAfterSeconds: number | undefined;

  public constructor(
    message: string,
    retriable: boolean,
    retryAfterSeconds: number | undefined,
    options: QueryErrorOptions = {},
  ) {
    super(message, { cause: options.cause, context: options.context, retriable });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The fallback path is full: every slot of the scatter-gather bulkhead is taken and its queue too. Shedding
 * the look-up protects the shards while the index is away; the caller tries again after a pause.
 */
export class OverloadedError extends QueryError {
  public override readonly name = 'OverloadedError';
  declare public readonly retryAfterSeconds: number;

  public constructor(message: string, retryAfterSeconds: number, options: QueryErrorOptions = {}) {
    super(message, true, retryAfterSeconds, options);
  }
}

/** Why a shard could not answer. */
export type ShardUnavailableReason = 'circuit-open' | 'timeout' | 'saturated' | 'unreachable';

/**
 * A shard needed by the look-up could not be asked: its breaker is open, it timed out, its bulkhead is
 * full, or it failed after retries. Raised instead of "not found" whenever the answer might be on that
 * shard, so a caller never mistakes an outage for an absent customer.
 */
export class ShardUnavailableError extends QueryError {
  public override readonly name = 'ShardUnavailableError';
  declare public readonly retryAfterSeconds: number;
  /** Every shard that could not be asked (one for a look-up by id, possibly several for a scan). */
  public readonly shardIds: readonly string[];
  public readonly reason: ShardUnavailableReason;

  public constructor(
    shardIds: readonly string[],
    reason: ShardUnavailableReason,
    retryAfterSeconds: number,
    options: QueryErrorOptions = {},
  ) {
    super(`shard ${shardIds.join(', ')} unavailable (${reason})`, true, retryAfterSeconds, {
      ...options,
      context: { shardIds, reason, ...options.context },
    });
    this.shardIds = shardIds;
    this.reason = reason;
  }

  /** The first shard that could not be asked. */
  public get shardId(): string {
    return this.shardIds[0] ?? 'unknown';
  }

  /** One error for a scan that several shards failed; waits as long as the longest of them asks. */
  public static combine(errors: readonly ShardUnavailableError[]): ShardUnavailableError {
    const first = errors[0];
    if (first === undefined) throw new RangeError('combine needs at least one error');
    if (errors.length === 1) return first;
    return new ShardUnavailableError(
      errors.flatMap((e) => e.shardIds),
      first.reason,
      Math.max(...errors.map((e) => e.retryAfterSeconds)),
      { cause: new AggregateError(errors, 'several shards unavailable') },
    );
  }
}

/** The index warm-up gave up after repeated failed steps; running it again resumes where it stopped. */
export class IndexWarmupError extends QueryError {
  public override readonly name = 'IndexWarmupError';

  public constructor(message: string, options: QueryErrorOptions = {}) {
    super(message, true, undefined, options);
  }
}

export const isQueryError = (error: unknown): error is QueryError => error instanceof QueryError;
