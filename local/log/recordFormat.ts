import { CorruptLogError } from './errors.js';

/** One record as read back from the log. */
export interface LogRecord {
  readonly offset: number;
  /** Milliseconds since the epoch (Kafka's CREATE_TIME, set by the producer or at append). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/** A record about to be appended: everything but its offset, which the partition assigns. */
export type PendingRecord = Omit<LogRecord, 'offset'>;

/** One line of a partition file. Binary fields are base64 so a line never holds a raw newline. */
interface StoredRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>;
}

/** The separator that ends every complete record; JSON.stringify never emits it inside a record. */
export const RECORD_SEPARATOR = 0x0a;

/** Serializes a record as one newline-terminated JSON line. */
export function encodeRecord(offset: number, record: PendingRecord): string {
  const headers: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(record.headers)) headers[name] = bytes.toString('base64');
  const stored: StoredRecord = {
    offset,
    timestamp: record.timestamp,
    key: record.key === null ? null : record.key.toString('base64'),
    value: record.value === null ? null : record.value.toString('base64'),
    headers,
  };
  return `${JSON.stringify(stored)}\n`;
}

/**
 * Parses one complete line (without its newline).
 * @throws {CorruptLogError} when the line is not a record or carries another offset than its position.
 */
export function decodeRecord(line: string, expectedOffset: number, file: string): LogRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error: unknown) {
    throw new CorruptLogError(`Record at offset ${expectedOffset} is not valid JSON`, file, { cause: error });
  }
  if (!isStoredRecord(parsed)) {
    throw new CorruptLogError(`Record at offset ${expectedOffset} has an unexpected shape`, file);
  }
  if (parsed.offset !== expectedOffset) {
    throw new CorruptLogError(`Expected offset ${expectedOffset} but found ${parsed.offset}`, file);
  }
  const headers: Record<string, Buffer> = {};
  for (const [name, encoded] of Object.entries(parsed.headers))
    headers[name] = Buffer.from(encoded, 'base64');
  return {
    offset: parsed.offset,
    timestamp: parsed.timestamp,
    key: parsed.key === null ? null : Buffer.from(parsed.key, 'base64'),
    value: parsed.value === null ? null : Buffer.from(parsed.value, 'base64'),
    headers,
  };
}

const isRecordObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isNullableString = (value: unknown): value is string | null =>
  value === null || typeof value === 'string';

function isStoredRecord(value: unknown): value is StoredRecord {
  if (!isRecordObject(value)) return false;
  const { offset, timestamp, key, headers } = value;
  return (
    Number.isSafeInteger(offset) &&
    typeof timestamp === 'number' &&
    Number.isFinite(timestamp) &&
    isNullableString(key) &&
    isNullableString(value.value) &&
    isRecordObject(headers) &&
    Object.values(headers).every((h) => typeof h === 'string')
  );
}
