import { createHash } from 'node:crypto';
import type { CustomerEvent } from './schemas.js';

const digests = new WeakMap<CustomerEvent, string>();

/** Plain objects with their keys sorted, so that key order never changes the text. */
const sortedKeys = (_key: string, value: unknown): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : value;

/**
 * The SHA-256 (base64url) of the fact an event states: its type, version, customer, time (as epoch
 * milliseconds) and normalized payload, in canonical JSON. Two deliveries of one fact share a digest
 * whatever their key order, time zone offset, `source` or `traceId`; an event id reused for another fact
 * does not. Computed once per decoded event.
 */
export function eventDigest(event: CustomerEvent): string {
  let digest = digests.get(event);
  if (digest === undefined) {
    const { type, version, customerId, occurredAt, payload } = event;
    const canonical = JSON.stringify({ type, version, customerId, occurredAt, payload }, sortedKeys);
    digest = createHash('sha256').update(canonical).digest('base64url');
    digests.set(event, digest);
  }
  return digest;
}
