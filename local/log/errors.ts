import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../../lambdas/shared/errors.js';

/** Context attached to every local log error, logged as structured fields. */
export type LocalLogErrorContext = ErrorContext;

export type LocalLogErrorOptions = PlatformErrorOptions;

/**
 * Base of the errors raised by the local Kafka log. `retriable` tells callers whether repeating the same
 * call may succeed (for instance once another process has finished writing).
 */
export class LocalLogError extends PlatformError {
  public override readonly name: string = 'LocalLogError';
}

/** The topic has not been created in this log directory. */
export class UnknownTopicError extends LocalLogError {
  public override readonly name = 'UnknownTopicError';

  public constructor(public readonly topic: string) {
    super(`Topic "${topic}" does not exist in the local log; create it first`, { context: { topic } });
  }
}

/** A request the log can never satisfy: bad names, partitions out of range, negative offsets. */
export class InvalidLogRequestError extends LocalLogError {
  public override readonly name = 'InvalidLogRequestError';

  public constructor(message: string, context: LocalLogErrorContext = {}) {
    super(message, { context });
  }
}

/**
 * `createTopic` asked for fewer partitions than the topic has. As on a real cluster, partitions only grow:
 * removing one would lose its records and move keys to other partitions.
 */
export class PartitionShrinkRefusedError extends LocalLogError {
  public override readonly name = 'PartitionShrinkRefusedError';

  public constructor(
    public readonly topic: string,
    public readonly current: number,
    public readonly requested: number,
  ) {
    super(
      `Topic "${topic}" has ${current} partitions; refusing to shrink it to ${requested} ` +
        '(partitions can only grow, as on a Kafka cluster)',
      { context: { topic, current, requested } },
    );
  }
}

/** A complete record on disk cannot be decoded, or the file lost committed bytes. */
export class CorruptLogError extends LocalLogError {
  public override readonly name = 'CorruptLogError';

  public constructor(
    message: string,
    public readonly file: string,
    options: { readonly cause?: unknown; readonly context?: LocalLogErrorContext } = {},
  ) {
    super(`${message} (${file})`, { cause: options.cause, context: { file, ...options.context } });
  }
}

/**
 * Another live process is appending to the same partition. The log supports one appending process per
 * partition; readers in any number of processes. Retriable: the other process may finish and exit.
 */
export class ConcurrentAppendError extends LocalLogError {
  public override readonly name = 'ConcurrentAppendError';

  public constructor(
    public readonly file: string,
    public readonly ownerPid: number,
  ) {
    super(
      `Process ${ownerPid} is appending to ${file}; appends from two processes to one partition are not supported`,
      { context: { file, ownerPid }, retriable: true },
    );
  }
}
