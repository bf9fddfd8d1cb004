/** Context attached to reconciliation errors, logged as structured fields. */
export type ReconciliationErrorContext = Readonly<Record<string, unknown>>;

export interface ReconciliationErrorOptions {
  readonly cause?: unknown;
  readonly context?: ReconciliationErrorContext;
}

/**
 * Base of the errors of the reconciliation and replay steps. The workflow's Retry and Catch match on
 * `name`; `retriable` says whether running the same step again may succeed.
 */
export class ReconciliationError extends Error {
  public override readonly name: string = 'ReconciliationError';
  public readonly retriable: boolean = false;
  public readonly context: ReconciliationErrorContext;

  public constructor(message: string, options: ReconciliationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.context = options.context ?? {};
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

/** A dependency failed in a way that repeating will not fix (a rejected statement, a refused request). */
export class ReconciliationStepError extends ReconciliationError {
  public override readonly name = 'ReconciliationStepError';
}
