import { TaskCancelledError } from 'cockatiel';
import { PlatformError } from '../errors.js';
import { isSqlError } from '../sql/index.js';

/** Context attached to an ETL error, logged as structured fields. */
export type EtlErrorContext = Readonly<Record<string, unknown>>;

export interface EtlErrorOptions {
  readonly cause?: unknown;
  readonly context?: EtlErrorContext;
}

/**
 * Base of the errors of the warehouse ETL. The `name` of each subclass is the error name the state
 * machine's `Retry` and `Catch` match, so it is part of the contract with `step-functions/etl.asl.json`.
 */
export class EtlError extends PlatformError {
  public override readonly name: string = 'EtlError';

  public constructor(message: string, options: EtlErrorOptions = {}) {
    super(message, { cause: options.cause, context: options.context });
  }
}

/**
 * A shard or the warehouse failed in a way that passes with time (connection refused or lost, failover,
 * a resuming cluster, a serialization failure). The state machine retries it with backoff.
 */
export class EtlTransientError extends EtlError {
  public override readonly name = 'EtlTransientError';
  public override readonly retriable = true;
}

/** Source and warehouse disagree for a shard and window: retrying the same step cannot help. */
export class EtlValidationError extends EtlError {
  public override readonly name = 'EtlValidationError';
}

/** A re-run names a batch the audit log does not hold. */
export class EtlBatchNotFoundError extends EtlError {
  public override readonly name = 'EtlBatchNotFoundError';
}

/** The step was given input it cannot work with (unknown shard, malformed window): a bug or a bad request. */
export class EtlInputError extends EtlError {
  public override readonly name = 'EtlInputError';
}

/** A setting is missing or invalid. */
export class EtlConfigError extends EtlError {
  public override readonly name = 'EtlConfigError';
}

/** Starting an execution of the ETL state machine failed. */
export class EtlStartError extends EtlError {
  public override readonly name = 'EtlStartError';
  public override readonly retriable: boolean;

  public constructor(message: string, options: EtlErrorOptions & { readonly retriable: boolean }) {
    super(message, options);
    this.retriable = options.retriable;
  }
}

/**
 * Maps what a step's SQL raised onto the error names the state machine knows: retriable SQL failures and
 * SQL calls that timed out (cockatiel's `TaskCancelledError` from `etlSqlPolicy`) become
 * {@link EtlTransientError}; ETL errors, programming errors and permanent SQL failures pass unchanged.
 */
export function asStepError(error: unknown, where: string): unknown {
  if (error instanceof TaskCancelledError) {
    return new EtlTransientError(`${where}: SQL call timed out: ${error.message}`, {
      cause: error,
      context: { timedOut: true },
    });
  }
  if (isSqlError(error) && error.retriable) {
    return new EtlTransientError(`${where}: ${error.message}`, {
      cause: error,
      context: { client: error.context.client, code: error.context.code },
    });
  }
  return error;
}
