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
    [
      'schema-violation',
      b64(registered({ payload: { ...registered().payload, givenName: 'Nul\u0000Byte' } })),
    ],
    ['schema-violation', b64(registered({ payload: { ...registered().payload, familyName: 'a\ud800b' } }))],
    ['schema-violation', b64(registered({ traceId: '\udc00' }))],
    ['schema-violation', b64(registered({ occurredAt: '0000-06-30T12:00:00Z' }))],
    ['schema-violation', b64(registered({ occurredAt: '0001-01-01T00:00:00+01:00' }))],
    ['schema-violation', b64(registered({ occurredAt: '9999-12-31T23:30:00-01:00' }))],
    ['schema-violation', b64(registered({ payload: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) }))],
    [
      'bad-utf8',
      Buffer.concat([Buffer.from('{"eventId":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]).toString(
        'base64',
      ),
    ],
  ])('classifies a %s record as poison', (reason, value) => {
    expect(reasonOf(value)).toBe(reason);
  });

  it('rejects a record whose key is not the customer id, since ordering relies on the key', () => {
    expect(reasonOf(b64(registered()), b64('someone-else'))).toBe('key-mismatch');
  });

  it('accepts the first and last instants every store takes', () => {
    expect(reasonOf(b64(registered({ occurredAt: '0001-01-01T00:00:00Z' })))).toBe('valid');
    expect(reasonOf(b64(registered({ occurredAt: '9999-12-31T23:59:59.999Z' })))).toBe('valid');
  });

  it('keeps names with characters outside the Basic Multilingual Plane whole', () => {
    const event = decodeEvent(
      b64(registered({ payload: { ...registered().payload, givenName: 'Ada 👩‍💻' } })),
    );

    expect(event.type === 'customer.registered' && event.payload.givenName).toBe('Ada 👩‍💻');
  });

  it('canonicalises the event id to lower case, so every comparison agrees with PostgreSQL', () => {
    const event = decodeEvent(b64(registered({ eventId: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' })));

    expect(event.eventId).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  });

  it('refuses a record key that is not UTF-8 instead of comparing its replacement characters', () => {
    const key = Buffer.from([0x63, 0x2d, 0xff]).toString('base64');

    expect(reasonOf(b64(registered()), key)).toBe('bad-utf8');
  });

  it('names the offending field of a payload', () => {
    const value = b64(registered({ type: 'customer.phone-changed', payload: { phone: '0770' } }));

    expect(() => decodeEvent(value)).toThrow(/payload\.phone: must be an E\.164 number/);
  });
});
