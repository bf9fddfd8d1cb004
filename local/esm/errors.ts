import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../../lambdas/shared/errors.js';
import { isRebalance } from './kafkaFailures.js';

/** Context attached to every event source error, logged as structured fields. */
export type EventSourceErrorContext = ErrorContext;

export type EventSourceErrorOptions = PlatformErrorOptions;

/** Base of the errors raised by the local event source mapping emulator. */
export class EventSourceError extends PlatformError {
  public override readonly name: string = 'EventSourceError';
}

/** The emulator was configured with a value Lambda would reject for an event source mapping. */
export class InvalidEventSourceOptionsError extends EventSourceError {
  public override readonly name = 'InvalidEventSourceOptionsError';

  public constructor(option: string, message: string) {
    super(`Invalid event source option "${option}": ${message}`, { context: { option } });
  }
}

/** The handler did not settle within the function timeout; Lambda reports it as a function error. */
export class FunctionTimeoutError extends EventSourceError {
  public override readonly name = 'FunctionTimeoutError';

  public constructor(
    public readonly requestId: string,
    public readonly timeoutMillis: number,
  ) {
    super(`${requestId} Task timed out after ${(timeoutMillis / 1000).toFixed(2)} seconds`, {
      context: { requestId, timeoutMillis },
      retriable: true,
    });
  }
}

/**
 * The handler's partial batch response names a partition or offset that is not in the batch, or is not
 * shaped like one; Lambda then treats the whole invocation as failed.
 */
export class InvalidBatchResponseError extends EventSourceError {
  public override readonly name = 'InvalidBatchResponseError';

  public constructor(reason: string, response: unknown) {
    super(`Invalid partial batch response: ${reason}`, { context: { response }, retriable: true });
  }
}

/** `drain` gave up: the topic still had unprocessed records when its time ran out. */
export class DrainTimeoutError extends EventSourceError {
  public override readonly name = 'DrainTimeoutError';

  public constructor(
    public readonly timeoutMillis: number,
    public readonly lag: Readonly<Record<number, number>>,
  ) {
    super(`Records still unprocessed after ${timeoutMillis} ms: lag ${JSON.stringify(lag)}`, {
      context: { timeoutMillis, lag },
      retriable: true,
    });
  }
}

/**
 * The on-failure destination did not take a failed batch. The records stay uncommitted and the write is
 * retried; repeating a programming error (`TypeError`, `RangeError`) cannot help, so those are not retriable.
 */
export class DestinationWriteError extends EventSourceError {
  public override readonly name = 'DestinationWriteError';

  public constructor(destination: string, options: { readonly cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`Could not write to the on-failure destination ${destination}: ${reason}`, {
      cause: options.cause,
      context: { destination },
      retriable: !(options.cause instanceof TypeError || options.cause instanceof RangeError),
    });
  }
}

/** The group refused or could not take a commit: this member leaves the batch to be fetched again. */
export class CommitFailedError extends EventSourceError {
  public override readonly name = 'CommitFailedError';

  public constructor(topic: string, partition: number, offset: number, cause: unknown) {
    super(`Could not commit ${topic}-${partition} at offset ${offset}`, {
      cause,
      context: { topic, partition, offset, rebalance: isRebalance(cause) },
      retriable: true,
    });
  }
}
