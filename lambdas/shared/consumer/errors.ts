import { PlatformError } from '../errors.js';

/** Base of the consumer's own errors. */
export class ConsumerError extends PlatformError {
  public override readonly name: string = 'ConsumerError';
}

/**
 * A shard's breaker is open: its writes fail fast without touching the database. Its records can wait
 * on the retry topic instead of holding their partitions.
 */
export class ShardUnavailableError extends ConsumerError {
  public override readonly name = 'ShardUnavailableError';
  public override readonly retriable = true;

  public constructor(
    public readonly shard: string,
    options?: { cause?: unknown },
  ) {
    super(`${shard} is unavailable (its circuit breaker is open)`, { cause: options?.cause });
  }
}

/** The dead-letter destination refused some letters of a batch; none of the batch counts as sent. */
export class DeadLettersRefusedError extends ConsumerError {
  public override readonly name = 'DeadLettersRefusedError';

  public constructor(public readonly codes: readonly string[]) {
    super(`SQS refused ${codes.length} dead letters: ${codes.join(', ')}`, { context: { codes } });
  }
}

/**
 * Thrown inside the idempotency guard for an event the consumer refused (a conflict, a database
 * rejection), so that the store forgets its in-progress record instead of remembering the event as done:
 * the record is dead-lettered, and a later delivery is decided again.
 */
export class EventRefusedError extends ConsumerError {
  public override readonly name = 'EventRefusedError';

  public constructor(public readonly eventId: string) {
    super(`event ${eventId} was refused and is not remembered as done`);
  }
}
