import { PlatformError } from '../errors.js';

/** Why a record can never be processed, however often it is retried. */
export type PoisonReason =
  | 'missing-value'
  | 'bad-base64'
  | 'oversized'
  | 'bad-utf8'
  | 'bad-json'
  | 'schema-violation'
  | 'unknown-type'
  | 'key-mismatch';

/** Base of event-model errors. */
export class EventError extends PlatformError {
  public override readonly name: string = 'EventError';
}

/**
 * A record that is permanently invalid. It goes to the on-failure destination with its `reason` and
 * `details`, and never blocks its neighbours.
 */
export class PoisonRecordError extends EventError {
  public override readonly name = 'PoisonRecordError';

  public constructor(
    public readonly reason: PoisonReason,
    public readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${reason}: ${details}`, { cause: options?.cause });
  }
}
