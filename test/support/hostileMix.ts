import type { DeadLetterReason } from '../../lambdas/shared/consumer/deadLetters.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import type { AppendMessage } from '../../local/log/index.js';

/*
 * Hostile traffic for drills: valid events interleaved with what attackers and buggy producers send,
 * each record with the fate it must meet.
 */

/** What must become of a record: applied (or recognised as a duplicate), or dead-lettered for a reason. */
export type Fate = 'applied' | DeadLetterReason;

export interface MixedRecord {
  readonly message: AppendMessage;
  readonly fate: Fate;
  /** The kind of hostility, for reports. */
  readonly kind: string;
  /** The valid event, for records that carry one to apply. */
  readonly envelope?: Envelope;
}

const json = (value: unknown) => JSON.stringify(value);

/** Bytes that are not UTF-8 in the middle of a given name. */
function invalidUtf8(envelope: Envelope): Buffer {
  const [before, after] = json({ ...envelope, payload: { givenName: 'MARK' } }).split('MARK') as [
    string,
    string,
  ];
  return Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(after)]);
}

const profile = (base: Envelope, givenName: unknown): Envelope =>
  ({ ...base, type: 'customer.profile-changed', payload: { givenName } }) as Envelope;

/**
 * One hostile record made from `base` (a valid event already placed earlier in the stream, whose id and
 * customer it may reuse), chosen by `n`.
 */
export function hostileRecord(base: Envelope, n: number): MixedRecord {
  const key = base.customerId;
  const kinds: Array<() => MixedRecord> = [
    () => ({ kind: 'bad json', fate: 'bad-json', message: { key, value: `{"eventId":"${base.eventId}",` } }),
    () => ({
      kind: 'wrong types',
      fate: 'schema-violation',
      message: { key, value: json({ ...base, version: '1' }) },
    }),
    () => ({
      kind: 'unknown type',
      fate: 'unknown-type',
      message: { key, value: json({ ...base, type: 'customer.teleported' }) },
    }),
    () => ({
      kind: 'oversized',
      fate: 'oversized',
      message: { key, value: json({ ...base, traceId: 'x'.repeat(70_000) }) },
    }),
    () => ({ kind: 'tombstone', fate: 'missing-value', message: { key, value: null } }),
    () => ({
      kind: 'deep nesting',
      fate: 'schema-violation',
      message: {
        key,
        value: json(base).replace(
          /"payload":\{/,
          `"payload":{"deep":${'['.repeat(5_000)}${']'.repeat(5_000)},`,
        ),
      },
    }),
    () => ({
      kind: 'NUL character',
      fate: 'schema-violation',
      message: { key, value: json(profile(base, 'Nul\u0000Byte')) },
    }),
    () => ({
      kind: 'lone surrogate',
      fate: 'schema-violation',
      message: { key, value: json(profile(base, 'a\ud800b')) },
    }),
    () => ({
      kind: 'year 0',
      fate: 'schema-violation',
      message: {
        key,
        value: json({
          ...base,
          occurredAt: n % 2 === 0 ? '0000-06-30T12:00:00Z' : '0001-01-01T00:00:00+01:00',
        }),
      },
    }),
    () => ({ kind: 'not UTF-8', fate: 'bad-utf8', message: { key, value: invalidUtf8(base) } }),
    () => ({
      kind: 'key mismatch',
      fate: 'key-mismatch',
      message: { key: `${key}-other`, value: json(base) },
    }),
    () => ({
      kind: 'id reused with another body',
      fate: 'conflict',
      message: { key, value: json(profile({ ...base, occurredAt: base.occurredAt }, `Reused${n}`)) },
    }),
    () => ({
      kind: 'missing payload field',
      fate: 'schema-violation',
      message: { key, value: json({ ...base, payload: {} }) },
    }),
    () => ({
      kind: 'redelivery with an upper-case id',
      fate: 'applied',
      message: { key, value: json({ ...base, eventId: base.eventId.toUpperCase() }) },
    }),
  ];
  const make = kinds[n % kinds.length] ?? (kinds[0] as () => MixedRecord);
  return make();
}

/** A new valid event whose id arrives in mixed case: applied once, under its lower-case id. */
export function mixedCaseEvent(n: number): MixedRecord {
  const eventId = `C0FFEE00-0000-4${String(n % 1000).padStart(3, '0')}-8ABC-${String(n).padStart(12, '0')}`;
  const envelope: Envelope = {
    eventId,
    type: 'customer.registered',
    version: 1,
    customerId: `mixcase-${n}`,
    occurredAt: '2026-03-01T09:30:00+01:00',
    payload: { email: `Mixcase-${n}@Example.com`, givenName: 'Zoë 👩‍💻', familyName: `Case${n}` },
  };
  return {
    kind: 'mixed-case id',
    fate: 'applied',
    envelope,
    message: { key: envelope.customerId, value: json(envelope) },
  };
}
