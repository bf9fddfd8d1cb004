import type { Logger } from '@aws-lambda-powertools/logger';
import type { MSKRecord } from 'aws-lambda';
import type { Counters } from './counters.js';
import { ShardUnavailableError } from './errors.js';

/** Names where a parked record came from: `<topic>/<partition>/<offset>`. */
export const PARKED_FROM_HEADER = 'cdp-parked-from';

/** A record as written to the retry topic: the original key, value and headers, plus its origin. */
export interface ParkedRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/**
 * Where the records of an unavailable shard wait so that the rest of their partition can move on: the
 * retry topic, read by the consumer's second event source mapping (which never parks). Safe because
 * the consumer is idempotent and its merge is order-independent (per-attribute last-writer-wins).
 */
export interface RecordParker {
  /**
   * Appends the records durably (acknowledged by the log) before resolving.
   * @throws when the retry topic cannot take them; the caller then keeps the records for a retry.
   */
  park(records: readonly ParkedRecord[]): Promise<void>;
}

export interface Parking {
  readonly parker: RecordParker;
  /** Records read from this topic are never parked again: they wait in place for their shard. */
  readonly retryTopic: string;
}

/** The record as it goes to the retry topic: unchanged, with a header naming its origin. */
export function parkedRecordOf(record: MSKRecord): ParkedRecord {
  const headers: Record<string, Buffer> = {};
  for (const header of record.headers ?? []) {
    for (const [name, bytes] of Object.entries(header)) headers[name] = Buffer.from(bytes);
  }
  headers[PARKED_FROM_HEADER] = Buffer.from(`${record.topic}/${record.partition}/${record.offset}`);
  return {
    key: record.key ? Buffer.from(record.key, 'base64') : null,
    value: record.value ? Buffer.from(record.value, 'base64') : null,
    headers,
  };
}

/** Only records of an unavailable shard, and never twice: the retry topic's records wait in place. */
export const mayPark = (parking: Parking | undefined, record: MSKRecord, reason: unknown): boolean =>
  parking !== undefined && record.topic !== parking.retryTopic && reason instanceof ShardUnavailableError;

/** Moves the records to the retry topic; those it cannot take join `failed`, redelivered in place. */
export async function parkRecords(
  records: readonly MSKRecord[],
  failed: MSKRecord[],
  counters: Counters,
  deps: { readonly parking: Parking | undefined; readonly logger: Logger },
): Promise<void> {
  const { parking, logger } = deps;
  if (records.length === 0 || parking === undefined) return;
  try {
    await parking.parker.park(records.map(parkedRecordOf));
    counters.parked += records.length;
    logger.warn('records of an unavailable shard parked on the retry topic', {
      records: records.length,
      retryTopic: parking.retryTopic,
    });
  } catch (error: unknown) {
    // Never drop a record: unparked, it is redelivered in place.
    logger.error('retry topic unavailable; records kept for redelivery', {
      records: records.length,
      error,
    });
    failed.push(...records);
    counters.failed += records.length;
  }
}
