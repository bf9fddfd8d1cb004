import type { Logger } from '@aws-lambda-powertools/logger';
import type { MSKRecord } from 'aws-lambda';
import { type CustomerEvent, eventDigest, type PoisonReason } from '../events/index.js';
import { partitionKeyOf } from './batchResponse.js';
import type { Counters } from './counters.js';
import { type EventOutcome, isRejectedByDatabase } from './outcomes.js';

/**
 * Why a record goes to the dead-letter destination: it can never be decoded or validated (a
 * `PoisonReason`), its event id is recorded with another body (`conflict`), or the database refused its
 * data (`rejected-by-database`).
 */
export type DeadLetterReason = PoisonReason | 'conflict' | 'rejected-by-database';

/** A record that will never be processed, with why, sent to the on-failure destination. */
export interface DeadLetter {
  readonly reason: DeadLetterReason;
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

/** A record and the letter that sends it to the destination. */
export interface PendingLetter {
  readonly record: MSKRecord;
  readonly letter: DeadLetter;
}

export function pendingLetter(record: MSKRecord, reason: DeadLetterReason, details: string): PendingLetter {
  const { topic, partition, offset, timestamp, key, value } = record;
  return {
    record,
    letter: {
      reason,
      details,
      failedAt: new Date().toISOString(),
      record: { topic, partition, offset, timestamp, key, value },
    },
  };
}

/**
 * Splits the letters of an invocation into those decided for good and those to decide again. The event
 * source resumes each partition at its lowest failed offset, so every record from there on is delivered
 * again, dead or alive: a letter written now for one of them would be written once more per retry. Such
 * letters wait for the delivery that commits their offset; the others are final now.
 */
export function finalLetters(
  letters: readonly PendingLetter[],
  failed: Iterable<Pick<MSKRecord, 'topic' | 'partition' | 'offset'>>,
): { readonly now: PendingLetter[]; readonly redelivered: PendingLetter[] } {
  const resumeAt = new Map<string, number>();
  for (const record of failed) {
    const key = partitionKeyOf(record);
    resumeAt.set(key, Math.min(resumeAt.get(key) ?? Number.POSITIVE_INFINITY, record.offset));
  }
  const now: PendingLetter[] = [];
  const redelivered: PendingLetter[] = [];
  for (const pending of letters) {
    const resume = resumeAt.get(partitionKeyOf(pending.record)) ?? Number.POSITIVE_INFINITY;
    (pending.record.offset < resume ? now : redelivered).push(pending);
  }
  return { now, redelivered };
}

/** The letter of an event the shards refused, or undefined for an event they recorded or recognised. */
export function refusalLetter(
  record: MSKRecord,
  event: CustomerEvent,
  outcome: EventOutcome,
): PendingLetter | undefined {
  if (outcome === 'conflict') {
    const details = `event id ${event.eventId} is recorded with another body; this body (digest ${eventDigest(event)}) is not applied`;
    return pendingLetter(record, 'conflict', details);
  }
  if (isRejectedByDatabase(outcome)) {
    const { rejectedBy } = outcome;
    return pendingLetter(
      record,
      'rejected-by-database',
      `SQLSTATE ${rejectedBy.context.code ?? 'unknown'}: ${rejectedBy.message}`,
    );
  }
  return undefined;
}

/**
 * Writes the letters decided for good in this invocation (see `finalLetters`) and counts them by reason;
 * the others are written by the delivery that commits their records. When the destination is down, the
 * records join `failed`, are redelivered and decided again then: never dropped.
 */
export async function sendFinalLetters(
  letters: readonly PendingLetter[],
  failed: MSKRecord[],
  counters: Counters,
  deps: { readonly sink: DeadLetterSink; readonly logger: Logger },
): Promise<void> {
  const { now, redelivered } = finalLetters(letters, failed);
  if (redelivered.length > 0) {
    deps.logger.info('dead letters left to the redelivery of their partition', {
      records: redelivered.length,
    });
  }
  if (now.length === 0) return;
  try {
    await deps.sink.send(now.map((l) => l.letter));
  } catch (error: unknown) {
    deps.logger.error('dead-letter destination unavailable', { error });
    failed.push(...now.map((l) => l.record));
    counters.failed += now.length;
    return;
  }
  for (const { letter } of now) {
    if (letter.reason === 'conflict') counters.conflicts += 1;
    else if (letter.reason === 'rejected-by-database') counters.rejected += 1;
    else counters.poison += 1;
    deps.logger.warn('record sent to the dead-letter destination', {
      reason: letter.reason,
      details: letter.details,
      topic: letter.record.topic,
      partition: letter.record.partition,
      offset: letter.record.offset,
    });
  }
}
