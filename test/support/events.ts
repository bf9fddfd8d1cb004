import { randomUUID } from 'node:crypto';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { type CustomerEvent, decodeEvent, type Envelope } from '../../lambdas/shared/events/index.js';

/** Builds a valid envelope; `at` is minutes after a fixed epoch so tests control ordering. */
export function envelope(
  type: string,
  customerId: string,
  at: number,
  payload: Record<string, unknown>,
  eventId: string = randomUUID(),
): Envelope {
  return {
    eventId,
    type,
    version: 1,
    customerId,
    occurredAt: new Date(Date.UTC(2026, 0, 1) + at * 60_000).toISOString(),
    payload,
  };
}

export const registered = (customerId: string, at: number, email = `${customerId}@example.com`) =>
  envelope('customer.registered', customerId, at, { email, givenName: 'Given', familyName: customerId });

export const toEvent = (e: Envelope): CustomerEvent =>
  decodeEvent(Buffer.from(JSON.stringify(e)).toString('base64'));

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** An MSK record exactly as Lambda delivers it. */
export function mskRecord(
  topic: string,
  partition: number,
  offset: number,
  value: Envelope | string,
): MSKRecord {
  const json = typeof value === 'string' ? value : JSON.stringify(value);
  return {
    topic,
    partition,
    offset,
    timestamp: Date.UTC(2026, 0, 1),
    timestampType: 'CREATE_TIME',
    key: typeof value === 'string' ? '' : b64(value.customerId),
    value: typeof value === 'string' ? value : b64(json),
    headers: [],
  };
}

export function mskEvent(records: MSKRecord[]): MSKEvent {
  const grouped: Record<string, MSKRecord[]> = {};
  for (const r of records) {
    const key = `${r.topic}-${r.partition}`;
    grouped[key] = [...(grouped[key] ?? []), r];
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn:
      'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-local/00000000-0000-0000-0000-000000000000-1',
    bootstrapServers: 'localhost:9098',
    records: grouped,
  };
}
