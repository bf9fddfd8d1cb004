import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeEvent, MAX_EVENT_BYTES, PoisonRecordError } from '../../../lambdas/shared/events/index.js';

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

const registered = (overrides: Record<string, unknown> = {}) => ({
  eventId: randomUUID(),
  type: 'customer.registered',
  version: 1,
  customerId: 'c-42',
  occurredAt: '2026-11-01T10:00:00.000Z',
  payload: { email: 'Ada@Example.com', givenName: 'Ada', familyName: 'Lovelace', phone: '+447700900123' },
  ...overrides,
});

const reasonOf = (value: string | undefined, key?: string) => {
  try {
    decodeEvent(value, key);
  } catch (error: unknown) {
    if (error instanceof PoisonRecordError) return error.reason;
    throw error;
  }
  return 'valid';
};

describe('decodeEvent', () => {
  it('decodes a valid registration, normalising the email and parsing the time', () => {
    const envelope = registered();

    const event = decodeEvent(b64(envelope), b64('c-42'));

    expect(event.type).toBe('customer.registered');
    expect(event.occurredAt).toBe(Date.parse('2026-11-01T10:00:00.000Z'));
    if (event.type !== 'customer.registered') throw new Error('unreachable');
    expect(event.payload.email).toBe('ada@example.com');
  });

  it.each([
    ['missing-value', undefined],
    ['bad-base64', '%%%not-base64%%%'],
    ['bad-json', b64('{"eventId": ')],
    ['schema-violation', b64(registered({ eventId: 'not-a-uuid' }))],
    ['schema-violation', b64(registered({ extra: true }))],
    ['schema-violation', b64(registered({ payload: { email: 'nope', givenName: 'A', familyName: 'B' } }))],
    ['unknown-type', b64(registered({ type: 'customer.teleported' }))],
    ['unknown-type', b64(registered({ version: 9 }))],
    ['oversized', b64(registered({ source: 'x'.repeat(MAX_EVENT_BYTES) }))],
  ])('classifies a %s record as poison', (reason, value) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('rejects a record whose key is not the customer id, since ordering relies on the key', () => {
    expect(reasonOf(b64(registered()), b64('someone-else'))).toBe('key-mismatch');
  });

  it('names the offending field of a payload', () => {
    const value = b64(registered({ type: 'customer.phone-changed', payload: { phone: '0770' } }));

    expect(() => decodeEvent(value)).toThrow(/payload\.phone: must be an E\.164 number/);
  });
});
