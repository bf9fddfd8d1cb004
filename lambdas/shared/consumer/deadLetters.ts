import type { MSKRecord } from 'aws-lambda';

/** A record that will never be processed, with why, sent to the on-failure destination. */
export interface DeadLetter {
  readonly reason: string;
  readonly details: string;
  readonly failedAt: string;
  readonly record: Pick<MSKRecord, 'topic' | 'partition' | 'offset' | 'timestamp' | 'key' | 'value'>;
}

/** The on-failure destination: an encrypted SQS queue in AWS, the local log's DLQ topic locally. */
export interface DeadLetterSink {
  /**
   * Stores the letters durably before resolving.
   * @throws when the destination cannot take them; the caller then keeps the records for a retry.
   */
  send(letters: readonly DeadLetter[]): Promise<void>;
}
