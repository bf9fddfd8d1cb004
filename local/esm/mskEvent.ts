import type { MSKEvent, MSKRecord, MSKRecordHeader } from 'aws-lambda';
import type { LogRecord } from '../log/index.js';

/** Where the records come from, as the event names it. */
export interface MskEventSource {
  readonly eventSourceArn: string;
  /** Comma-separated `host:port` list, as Lambda reports the cluster's bootstrap brokers. */
  readonly bootstrapServers: string;
}

/** The stand-in cluster of local runs and tests. */
export const LOCAL_EVENT_SOURCE: MskEventSource = {
  eventSourceArn:
    'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-local/00000000-0000-0000-0000-000000000000-1',
  bootstrapServers: 'localhost:9098',
};

/** `<topic>-<partition>`: how Lambda keys the records of an event and names a partition in responses. */
export const partitionKey = (topic: string, partition: number): string => `${topic}-${partition}`;

/**
 * One record as Lambda delivers it: key and value base64, headers as one single-entry object per header
 * whose value is the array of its bytes.
 *
 * A null key or value (a keyless message, a tombstone) is omitted from the record rather than sent as an
 * empty string, which is what Lambda does. `@types/aws-lambda` declares both as always present, hence the
 * one cast below: handlers must cope with their absence.
 */
export function toMskRecord(topic: string, partition: number, record: LogRecord): MSKRecord {
  const headers: MSKRecordHeader[] = Object.entries(record.headers).map(([name, bytes]) => ({
    [name]: [...bytes],
  }));
  const delivered = {
    topic,
    partition,
    offset: record.offset,
    timestamp: record.timestamp,
    timestampType: 'CREATE_TIME' as const,
    ...(record.key === null ? {} : { key: record.key.toString('base64') }),
    ...(record.value === null ? {} : { value: record.value.toString('base64') }),
    headers,
  };
  return delivered as MSKRecord;
}

/** The event Lambda sends for a batch of consecutive records of one partition. */
export function buildMskEvent(
  source: MskEventSource,
  topic: string,
  partition: number,
  records: readonly LogRecord[],
): MSKEvent {
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: source.eventSourceArn,
    bootstrapServers: source.bootstrapServers,
    records: { [partitionKey(topic, partition)]: records.map((r) => toMskRecord(topic, partition, r)) },
  };
}

/** Fixed JSON overhead of one record in an event (field names, topic, numbers), generously rounded up. */
const RECORD_OVERHEAD_BYTES = 256;

/**
 * An upper estimate of a record's share of the event's JSON size, to keep a batch under Lambda's 6 MB
 * synchronous payload limit: base64 grows bytes by 4/3; a header byte becomes up to 4 characters (`255,`).
 */
export function estimatedEventBytes(topic: string, record: LogRecord): number {
  const base64 = (bytes: Buffer | null) => (bytes === null ? 0 : Math.ceil(bytes.length / 3) * 4);
  let headers = 0;
  for (const [name, bytes] of Object.entries(record.headers)) headers += name.length + 8 + bytes.length * 4;
  return RECORD_OVERHEAD_BYTES + topic.length + base64(record.key) + base64(record.value) + headers;
}
