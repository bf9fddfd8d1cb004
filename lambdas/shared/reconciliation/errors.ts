import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../errors.js';

/** Context attached to reconciliation errors, logged as structured fields. */
export type ReconciliationErrorContext = ErrorContext;

export type ReconciliationErrorOptions = Omit<PlatformErrorOptions, 'retriable'>;

/**
 * Base of the errors of the reconciliation and replay steps. The workflow's Retry and Catch match on
 * `name`; `retriable` says whether running the same step again may succeed.
 */
export class ReconciliationError extends PlatformError {
  public override readonly name: string = 'ReconciliationError';

  public constructor(message: string, options: ReconciliationErrorOptions = {}) {
    super(message, { cause: options.cause, context: options.context });
  }
}

/** A shard did not answer (connection lost, failover, timeout): the step is retried by the workflow. */
export class ShardUnavailableError extends ReconciliationError {
  public override readonly name = 'ShardUnavailableError';
  public override readonly retriable = true;
}

/** Redis did not answer: the step is retried by the workflow. */
export class IndexUnavailableError extends ReconciliationError {
  public override readonly name = 'IndexUnavailableError';
  public override readonly retriable = true;
}

/** A step input that can never be processed (unknown shard, malformed range); repeating cannot help. */
export class InvalidReconciliationInputError extends ReconciliationError {
  public override readonly name = 'InvalidReconciliationInputError';
}

/**
 * Ends a read of the event log from inside because the shard failed while the read was under way; the
 * shard's own error is what the search reports.
 */
export class GapSearchStoppedError extends ReconciliationError {
  public override readonly name = 'GapSearchStoppedError';
}

/** A dependency failed in a way that repeating will not fix (a rejected statement, a refused request). */
export class ReconciliationStepError extends ReconciliationError {
  public override readonly name = 'ReconciliationStepError';
}
