import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../errors.js';

/** Context attached to replay errors, logged as structured fields. */
export type ReplayErrorContext = ErrorContext;

export type ReplayErrorOptions = Omit<PlatformErrorOptions, 'retriable'>;

/**
 * Base of the errors of reading and re-delivering events. `retriable` says whether the same request may
 * succeed if repeated; the workflows match on `name`.
 */
export class ReplayError extends PlatformError {
  public override readonly name: string = 'ReplayError';

  public constructor(message: string, options: ReplayErrorOptions = {}) {
    super(message, { cause: options.cause, context: options.context });
  }
}

/** The request names no valid range (bad times, offsets, partition); the message says what is wrong. */
export class InvalidReplayRequestError extends ReplayError {
  public override readonly name = 'InvalidReplayRequestError';
}

/** The event log (MSK, or the local log) did not answer in time or lost its connection: retry later. */
export class EventLogUnavailableError extends ReplayError {
  public override readonly name = 'EventLogUnavailableError';
  public override readonly retriable = true;
}

/** The event log refused a request in a way repeating will not fix (unknown topic, authorization). */
export class EventLogRequestError extends ReplayError {
  public override readonly name = 'EventLogRequestError';
}

/** The on-failure destination did not remove messages the redrive copied: the next run copies them again. */
export class RedriveAcknowledgeError extends ReplayError {
  public override readonly name = 'RedriveAcknowledgeError';
  public override readonly retriable = true;
}
